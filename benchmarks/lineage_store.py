"""Benchmark of the record-level lineage writer and store (run by hand).

    .venv/bin/python benchmarks/lineage_store.py [--edges 10000000] [--partitions 100] [--workdir DIR] [--keep]

Builds a lineage root of realistic shape with ``--edges`` edges, written as real materializations
through :class:`LineageWriter` (one per asset partition, multi-partition keys ``medqa|shard-007``)::

    source lines -> question_seeds (1 parent: its line) -> answers (2 per seed; parents: seed + a
    few-shot exemplar seed) -> reasoning_traces (3 per 4 answers; parents: answer + seed)
    -> sft_examples (2 per 3 traces; parents: trace + answer)

i.e. 10 edges and 5.5 records per seed, all within the partition; answers and traces carry ``gen_*``
columns; two checkpoints are trained on sft partitions. Then it syncs the DuckDB index from scratch and
reports sync time, ``trace`` latency (50 random sft leaves), ``impact`` latency (one partition of the
top-level asset, and its source file), an incremental sync, DB size, and the capture overhead of
``write_materialization`` (+ ``table_data_version``) against writing the asset's own Parquet data file
(100k-row answers table with realistic text). Prints a Markdown table and writes it to
``benchmarks/results/lineage_store.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent

from resources.lineage import LineageStore, LineageWriter, table_data_version  # noqa: E402

HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
MODEL = "Qwen/Qwen2.5-7B-Instruct"
REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"
SAMPLING = '{"max_tokens":2048,"n":2,"seed":0,"stop":null,"temperature":0.7,"top_p":0.95}'


def make_ids(kind: str, n: int, rng: np.random.Generator) -> pa.StringArray:
    """``n`` random ids ``<kind>-<20 hex>`` built straight into an Arrow buffer."""
    width = len(kind) + 1 + 20
    raw = rng.integers(0, 256, size=(n, 10), dtype=np.uint8)
    buf = np.empty((n, width), dtype=np.uint8)
    buf[:, : len(kind) + 1] = np.frombuffer(kind.encode() + b"-", dtype=np.uint8)
    hexpart = np.empty((n, 20), dtype=np.uint8)
    hexpart[:, 0::2] = HEX[raw >> 4]
    hexpart[:, 1::2] = HEX[raw & 15]
    buf[:, len(kind) + 1 :] = hexpart
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()))


def lists(*cols: pa.Array) -> pa.ListArray:
    """Row i = [cols[0][i], cols[1][i], ...]."""
    n = len(cols[0])
    k = len(cols)
    idx = np.arange(n * k) // k + (np.arange(n * k) % k) * n  # interleave
    flat = pa.concat_arrays(list(cols)).take(pa.array(idx))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), flat)


def gen_cols(n: int, template: str, rng: np.random.Generator) -> dict[str, pa.Array]:
    return {
        "gen_model_id": pa.array([MODEL] * n),
        "gen_model_revision": pa.array([REVISION] * n),
        "gen_prompt_template": pa.array([template] * n),
        "gen_prompt_hash": make_ids("ph", n, rng),
        "gen_sampling": pa.array([SAMPLING] * n),
        "gen_prompt_tokens": pa.array(rng.integers(200, 900, n)),
        "gen_completion_tokens": pa.array(rng.integers(300, 2000, n)),
    }


def build_partition(p: int, n_seeds: int, rng: np.random.Generator) -> dict[str, pa.Table]:
    uri = f"s3://citrus-raw/medqa/shard-{p:03d}.jsonl"
    src = make_ids("src", n_seeds, rng)
    seeds = make_ids("qseed", n_seeds, rng)
    t_seeds = pa.table(
        {
            "record_id": seeds,
            "parent_ids": lists(src),
            "source_uri": pa.array([uri] * n_seeds),
            "source_locator": pa.array([f"line {i + 1}" for i in range(n_seeds)]),
        }
    )
    n_ans = 2 * n_seeds
    ans = make_ids("ans", n_ans, rng)
    a_seed = seeds.take(pa.array(np.arange(n_ans) // 2))
    a_shot = seeds.take(pa.array((np.arange(n_ans) // 2 + rng.integers(1, max(2, n_seeds), n_ans)) % n_seeds))
    t_ans = pa.table({"record_id": ans, "parent_ids": lists(a_seed, a_shot), **gen_cols(n_ans, "answer_v2", rng)})
    n_tr = n_ans * 3 // 4
    pick = rng.choice(n_ans, n_tr, replace=False)
    tr = make_ids("trace", n_tr, rng)
    t_tr = pa.table(
        {
            "record_id": tr,
            "parent_ids": lists(ans.take(pa.array(pick)), a_seed.take(pa.array(pick))),
            **gen_cols(n_tr, "reasoning_trace_v1", rng),
        }
    )
    n_sft = n_tr * 2 // 3
    pick2 = rng.choice(n_tr, n_sft, replace=False)
    sft = make_ids("sft", n_sft, rng)
    t_sft = pa.table(
        {
            "record_id": sft,
            "parent_ids": lists(tr.take(pa.array(pick2)), ans.take(pa.array(pick)).take(pa.array(pick2))),
        }
    )
    return {"question_seeds": t_seeds, "answers": t_ans, "reasoning_traces": t_tr, "sft_examples": t_sft}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def answers_asset(n: int, rng: np.random.Generator) -> pa.Table:
    """A realistic 'answers' asset: ids, parents, question (~400 chars), reasoning answer (~2000 chars), gen_*."""
    vocab = np.array(
        (
            "the patient presents with acute chronic fever pain dose mg daily risk likely diagnosis "
            "therapy because therefore however first second step consider history exam lab result "
            "elevated reduced normal treatment option contraindicated recommended evidence trial "
            "cohort outcome mortality infection cardiac renal hepatic pulmonary neurologic"
        ).split()
    )
    vocab = np.array([w + s for w in vocab for s in ("", "s", "al", "ic", "ed", "ing", "ly", "ion")])

    def texts(count: int, chars: int) -> list[str]:
        words = vocab[rng.integers(0, len(vocab), count * chars // 7)]
        blob = " ".join(words.tolist())
        return [blob[i * chars : (i + 1) * chars] for i in range(count)]

    seeds = make_ids("qseed", n // 2, rng)
    a_seed = seeds.take(pa.array(np.arange(n) // 2))
    return pa.table(
        {
            "record_id": make_ids("ans", n, rng),
            "parent_ids": lists(a_seed, seeds.take(pa.array(rng.integers(0, n // 2, n)))),
            "question": pa.array(texts(n, 400)),
            "answer": pa.array(texts(n, 2000)),
            "final_answer": pa.array(rng.choice(list("ABCDE"), n)),
            **gen_cols(n, "answer_v2", rng),
        }
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--workdir", default=None, help="default: a temp dir (removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--traces", type=int, default=50)
    ap.add_argument("--overhead-rows", type=int, default=100_000)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "lineage_store.md"))
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="lineage-bench-"))
    root = work / "lake" / "_lineage"
    db = root / "lineage.duckdb"
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(1234)
    rows: list[tuple[str, str, str]] = []
    t_all = time.perf_counter()
    load_start = os.getloadavg()[0]

    # ---------------------------------------------------------------- build
    n_seeds_total = max(args.partitions, args.edges // 10)
    per = n_seeds_total // args.partitions
    writer = LineageWriter(str(root))
    t_gen = t_write = 0.0
    n_edges = n_records = n_mat = 0
    leaves: list[str] = []
    sft_dvs: dict[str, str] = {}
    for p in range(args.partitions):
        t0 = time.perf_counter()
        tables = build_partition(p, per, rng)
        t_gen += time.perf_counter() - t0
        part = f"medqa|shard-{p:03d}"
        t0 = time.perf_counter()
        for asset, tbl in tables.items():
            dv = table_data_version(tbl)
            res = writer.write_materialization(
                asset=asset,
                partition=part,
                run_id=f"run-{p // 10:02d}",
                data_version=dv,
                code_version="v1",
                table=tbl,
                data_path=f"lake/{asset}/medqa__shard-{p:03d}/data.parquet",
            )
            n_edges += res["edges"]
            n_records += res["records"]
            n_mat += 1
            if asset == "sft_examples":
                sft_dvs[part] = dv
        t_write += time.perf_counter() - t0
        leaves.extend(rng.choice(tables["sft_examples"].column("record_id").to_pylist(), 2).tolist())
    parts = sorted(sft_dvs)
    writer.write_checkpoint_inputs(
        checkpoint_asset="sft_checkpoint",
        checkpoint_partition=None,
        checkpoint_data_version="ckpt-all",
        run_id="train-1",
        inputs=[("sft_examples", p, sft_dvs[p]) for p in parts],
    )
    writer.write_checkpoint_inputs(
        checkpoint_asset="sft_checkpoint_small",
        checkpoint_partition=None,
        checkpoint_data_version="ckpt-10",
        run_id="train-2",
        inputs=[("sft_examples", p, sft_dvs[p]) for p in parts[:10]],
    )
    n_files = sum(len(fs) for _, _, fs in os.walk(root))
    lineage_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(
        f"built {n_edges:,} edges / {n_records:,} records in {n_mat} materializations ({n_files} files, "
        f"{lineage_bytes / 1e6:.0f} MB): generate {t_gen:.1f}s, write {t_write:.1f}s",
        flush=True,
    )

    # ---------------------------------------------------------------- sync
    store = LineageStore(str(root), str(db))
    t0 = time.perf_counter()
    n_commits = store.sync()
    t_sync = time.perf_counter() - t0
    st = store.stats(sync=False)
    print(f"sync: {n_commits} commits in {t_sync:.1f}s; {st}", flush=True)
    assert st["edges"] == n_edges and st["records"] == n_records, st

    # ---------------------------------------------------------------- trace
    sample = [leaves[i] for i in rng.choice(len(leaves), min(args.traces, len(leaves)), replace=False)]
    db_bytes_sync = os.path.getsize(db)
    store.close()  # nothing of this process may keep the file open while measuring cold calls
    cold = LineageStore(str(root), str(db), keep_open=0)  # every call: open, sync check, query, close
    cold.trace(sample[0])  # warm the OS page cache once
    lat_cold, nodes = [], []
    for rid in sample:
        t0 = time.perf_counter()
        d = cold.trace(rid)
        lat_cold.append(time.perf_counter() - t0)
        nodes.append(d["n_nodes"])
        assert d["max_depth"] >= 3 and any(n["kind"] == "source" for n in d["nodes"]), d
    lat = []  # default store: the read-only connection is kept between calls (keep_open=1 s)
    for rid in sample:
        t0 = time.perf_counter()
        store.trace(rid)
        lat.append(time.perf_counter() - t0)
    print(
        f"trace: kept connection median {statistics.median(lat) * 1e3:.1f} ms, p95 {pct(lat, 0.95) * 1e3:.1f} ms; "
        f"cold median {statistics.median(lat_cold) * 1e3:.1f} ms, p95 {pct(lat_cold, 0.95) * 1e3:.1f} ms; "
        f"nodes median {statistics.median(nodes)}",
        flush=True,
    )

    # ---------------------------------------------------------------- impact
    imp, imp_src = [], []
    target_parts = [f"medqa|shard-{p:03d}" for p in rng.choice(args.partitions, 5, replace=False)]
    for part in target_parts:
        t0 = time.perf_counter()
        d = store.impact("question_seeds", part)
        imp.append(time.perf_counter() - t0)
        assert d["n_roots"] == per and {c["checkpoint_asset"] for c in d["checkpoints"]} >= {"sft_checkpoint"}, d
        n_desc = d["n_descendants"]
        t0 = time.perf_counter()
        d2 = store.impact("source", f"shard-{part.split('-')[-1]}.jsonl")
        imp_src.append(time.perf_counter() - t0)
        assert d2["n_descendants"] == n_desc + per
    print(
        f"impact(question_seeds, partition): median {statistics.median(imp):.3f}s max {max(imp):.3f}s, "
        f"{n_desc:,} derived records; impact(source file): median {statistics.median(imp_src):.3f}s",
        flush=True,
    )

    # ---------------------------------------------------------------- incremental sync
    extra = build_partition(args.partitions, per, rng)["answers"]
    writer.write_materialization(
        asset="answers",
        partition="medqa|shard-extra",
        run_id="run-x",
        data_version=table_data_version(extra),
        code_version="v1",
        table=extra,
        data_path="x",
    )
    t0 = time.perf_counter()
    store.sync()
    t_inc = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.trace(extra.column("record_id")[0].as_py())
    t_after = time.perf_counter() - t0
    db_bytes = os.path.getsize(db)
    print(f"incremental sync of {extra.num_rows:,} records: {t_inc:.2f}s; DB {db_bytes / 1e9:.2f} GB", flush=True)

    # ---------------------------------------------------------------- capture overhead
    n = args.overhead_rows
    asset_tbl = answers_asset(n, rng)
    ow = LineageWriter(str(work / "overhead" / "_lineage"))
    data_dir = work / "overhead" / "answers"
    data_dir.mkdir(parents=True, exist_ok=True)
    t_data, t_lin, t_dv = [], [], []
    for i in range(9):
        t0 = time.perf_counter()
        tmp = data_dir / f".data-{i}.parquet.tmp"
        pq.write_table(asset_tbl, tmp)  # what the IO manager does for the asset itself (default snappy)
        os.replace(tmp, data_dir / "data.parquet")
        t_data.append(time.perf_counter() - t0)
        fresh = asset_tbl.select(asset_tbl.column_names)  # a new table object: table_data_version caches per object
        t0 = time.perf_counter()
        dv = table_data_version(fresh)
        t_dv.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ow.write_materialization(
            asset="answers",
            partition="p",
            run_id=f"r{i}",
            data_version=dv,
            code_version="v1",
            table=asset_tbl,
            data_path=str(data_dir / "data.parquet"),
        )
        t_lin.append(time.perf_counter() - t0)
    md_data, md_lin, md_dv = (statistics.median(x) for x in (t_data, t_lin, t_dv))
    data_mb = os.path.getsize(data_dir / "data.parquet") / 1e6
    ratio = md_lin / md_data
    ratio_mat = (md_lin + md_dv) / (md_data + md_lin + md_dv)
    print(
        f"overhead: data write {md_data:.3f}s ({data_mb:.0f} MB), lineage write {md_lin:.3f}s, "
        f"data version {md_dv:.3f}s -> {ratio:.1%} of the data write; lineage+version = {ratio_mat:.1%} "
        "of the materialization",
        flush=True,
    )

    # ---------------------------------------------------------------- report
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import duckdb

    rows = [
        (
            "graph",
            f"{n_edges:,} edges, {n_records:,} records + {st['sources']:,} source units, "
            f"{n_mat} materializations ({args.partitions} partitions x 4 assets), {n_files:,} files, "
            f"{lineage_bytes / 1e6:,.0f} MB Parquet",
            "",
        ),
        (f"write lineage files ({n_mat} materializations)", f"{t_write:.1f} s", ""),
        ("sync from scratch", f"{t_sync:.1f} s", ""),
        (
            "DuckDB file size after sync / after the incremental sync",
            f"{db_bytes_sync / 1e9:.2f} GB / {db_bytes / 1e9:.2f} GB",
            "",
        ),
        (
            f"trace, {len(sample)} random sft leaves, one store (read-only connection kept between calls)",
            f"median {statistics.median(lat) * 1e3:.0f} ms, p95 {pct(lat, 0.95) * 1e3:.0f} ms "
            f"({statistics.median(nodes):.0f} nodes)",
            "< 100 ms",
        ),
        (
            "trace, same ids, cold (keep_open=0: open + new-commit check + query + close per call)",
            f"median {statistics.median(lat_cold) * 1e3:.0f} ms, p95 {pct(lat_cold, 0.95) * 1e3:.0f} ms",
            "",
        ),
        (
            f"impact(question_seeds, one partition): {per:,} roots -> {n_desc:,} derived + checkpoints",
            f"median {statistics.median(imp) * 1e3:.0f} ms, max {max(imp) * 1e3:.0f} ms",
            "< 1 s",
        ),
        ("impact(source, one file)", f"median {statistics.median(imp_src) * 1e3:.0f} ms", ""),
        (
            f"incremental sync (+1 materialization, {extra.num_rows:,} records) / first trace after",
            f"{t_inc:.2f} s / {t_after * 1e3:.0f} ms",
            "",
        ),
        (f"asset data write ({n:,}-row answers table, {data_mb:.0f} MB Parquet)", f"{md_data * 1e3:.0f} ms", ""),
        ("write_materialization (lineage files)", f"{md_lin * 1e3:.0f} ms = {ratio:.1%} of the data write", ""),
        ("table_data_version", f"{md_dv * 1e3:.0f} ms", ""),
        (
            "lineage capture (write_materialization + table_data_version) / whole materialization, sequential",
            f"{ratio_mat:.1%}",
            "<= 5 %",
        ),
        ("total benchmark runtime", f"{time.perf_counter() - t_all:.0f} s", ""),
    ]
    md = [
        "# Lineage store benchmark",
        "",
        f"`benchmarks/lineage_store.py --edges {args.edges} --partitions {args.partitions}`; machine: "
        f"{os.cpu_count()} CPU cores ({cpu}), {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"local disk; Python {platform.python_version()}, DuckDB {duckdb.__version__}, pyarrow {pa.__version__}. "
        f"The machine was shared: 1-min load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} "
        "at the end (on 2 cores), so timings carry noise.",
        "",
        "| measure | result | goal |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "Graph: source lines -> question_seeds (1 parent) -> answers (2 per seed; seed + few-shot seed) -> "
        "reasoning_traces (3 per 4 answers; answer + seed) -> sft_examples (2 per 3 traces; trace + answer); "
        "answers and traces carry gen_* columns; two checkpoints trained on sft partitions. Latencies are "
        "wall-clock per API call; every call first checks the lineage root for new commits.",
        "",
    ]
    text = "\n".join(md)
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
