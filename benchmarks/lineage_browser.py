"""Page latency of the lineage browser (``citrus lineage serve``) on the lineage store benchmark's graph (run by hand).

    .venv/bin/python -m benchmarks.lineage_browser [--edges 10000000] [--partitions 100] [--workdir DIR] [--reuse]

Builds the graph of ``benchmarks/lineage_store.py`` (source lines -> question_seeds -> answers ->
reasoning_traces -> sft_examples, LLM ``gen_*`` columns on answers and traces, two checkpoints trained on
sft partitions) through :class:`LineageWriter`, syncs the DuckDB index (``--reuse``: keep a store already
in ``--workdir``), then requests every kind of page through starlette's TestClient over one
:class:`LineageStore` (as ``citrus lineage serve`` keeps one) and reports the wall-clock time per request
(server work + rendering + the in-process HTTP round trip; each kind repeated, first request of a kind
included). The benchmark's data paths name no real file, so record pages do not read lake rows here (a
missing file costs one failed open). Writes ``benchmarks/results/lineage_browser.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

from starlette.testclient import TestClient  # noqa: E402

from benchmarks.lineage_store import build_partition  # noqa: E402
from resources.lineage import LineageStore, LineageWriter, table_data_version  # noqa: E402
from resources.lineage.browser import create_app  # noqa: E402
from resources.lineage.settings import browser_link  # noqa: E402


def build(root: Path, edges: int, partitions: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Write the graph; returns (sample sft leaves, sample source unit ids)."""
    per = max(partitions, edges // 10) // partitions
    writer = LineageWriter(str(root))
    leaves, srcs, sft_dvs = [], [], {}
    for p in range(partitions):
        tables = build_partition(p, per, rng)
        part = f"medqa|shard-{p:03d}"
        for asset, tbl in tables.items():
            dv = table_data_version(tbl)
            writer.write_materialization(
                asset=asset,
                partition=part,
                run_id=f"run-{p // 10:02d}",
                data_version=dv,
                code_version="v1",
                table=tbl,
                data_path=f"lake/{asset}/medqa__shard-{p:03d}/data.parquet",
            )
            if asset == "sft_examples":
                sft_dvs[part] = dv
        leaves.extend(rng.choice(tables["sft_examples"].column("record_id").to_pylist(), 2).tolist())
        srcs.append(tables["question_seeds"].column("parent_ids")[0].as_py()[0])
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
    return leaves, srcs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse", action="store_true", help="use the store already in --workdir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "lineage_browser.md"))
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lineage-browser-bench-"))
    root, db = work / "lake" / "_lineage", work / "lake" / "_lineage" / "lineage.duckdb"
    rng = np.random.default_rng(1234)
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    store = LineageStore(str(root), str(db))
    if args.reuse and db.exists():
        leaves = [
            r[0]
            for r in store.query(
                "SELECT record_id FROM records WHERE mid IN (SELECT mid FROM materializations WHERE asset = 'sft_examples')"
                " USING SAMPLE 40 ROWS"
            )
        ]
        srcs = [r[0] for r in store.query("SELECT source_id FROM sources USING SAMPLE 20 ROWS")]
        t_build = t_sync = 0.0
    else:
        leaves, srcs = build(root, args.edges, args.partitions, rng)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.sync()
        t_sync = time.perf_counter() - t0
    st = store.stats(sync=False)
    print(
        f"store: {st['edges']:,} edges, {st['records']:,} records; build {t_build:.1f}s, sync {t_sync:.1f}s", flush=True
    )

    client = TestClient(create_app(store, str(work / "lake")))
    n = args.repeat
    pick = lambda xs: [xs[i] for i in rng.choice(len(xs), min(n, len(xs)), replace=False)]  # noqa: E731
    parts = [f"medqa|shard-{p:03d}" for p in rng.choice(args.partitions, n, replace=False)]
    pages = {
        "record (trace of an sft leaf, SVG graph)": [browser_link("record", base="", id=r) for r in pick(leaves)],
        "source unit (line)": [browser_link("source", base="", id=s) for s in pick(srcs)],
        "partition (sft_examples)": [
            browser_link("partition", base="", asset="sft_examples", partition=p) for p in parts
        ],
        "partition (question_seeds)": [
            browser_link("partition", base="", asset="question_seeds", partition=p) for p in parts
        ],
        "impact of a partition (question_seeds, 10k roots)": [
            browser_link("impact", base="", asset="question_seeds", partition=p) for p in parts
        ],
        "impact of a source file": [
            browser_link("impact", base="", source=f"shard-{p.split('-')[-1]}.jsonl") for p in parts
        ],
        "impact of a record (an answer's seed)": [browser_link("impact", base="", record=s) for s in pick(srcs)],
        "checkpoint (100 inputs)": [browser_link("checkpoint", base="", asset="sft_checkpoint")] * n,
        "search: record id": [f"/search?q={r}" for r in pick(leaves)],
        "search: source file name": [f"/search?q=shard-{p.split('-')[-1]}.jsonl" for p in parts],
        "search: asset:partition": [f"/search?q=answers:{p}" for p in parts],
        "start page (400 partitions)": ["/"] * n,
    }
    rows = []
    for name, urls in pages.items():
        lat = []
        for url in urls:
            t0 = time.perf_counter()
            r = client.get(url)
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
        rows.append((name, len(lat), statistics.median(lat), max(lat)))
        print(f"{name}: median {statistics.median(lat) * 1e3:.0f} ms, max {max(lat) * 1e3:.0f} ms", flush=True)
    store.close()
    load_end = os.getloadavg()[0]

    import duckdb
    import starlette

    lines = [
        "# Lineage browser page latency",
        "",
        f"`benchmarks/lineage_browser.py --edges {args.edges} --partitions {args.partitions}`; machine: "
        f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, DuckDB "
        f"{duckdb.__version__}, Starlette {starlette.__version__}; 1-min load average {load_start:.1f} at the start, "
        f"{load_end:.1f} at the end (the machine is shared, timings carry noise).",
        "",
        f"Store: {st['edges']:,} edges, {st['records']:,} records, {st['sources']:,} source units, "
        f"{st['materializations']} materializations, {st['checkpoints']} checkpoints"
        + (f"; built in {t_build:.0f} s, synced in {t_sync:.0f} s." if t_build else " (reused)."),
        "",
        "Wall-clock per request through starlette's TestClient over one kept LineageStore (as `citrus lineage "
        "serve` runs), rendering included; every request first checks the lineage root for new commits. "
        "Goal: every page under 1 s.",
        "",
        "| page | requests | median | max | under 1 s |",
        "|---|---|---|---|---|",
    ]
    for name, k, med, mx in rows:
        lines.append(f"| {name} | {k} | {med * 1e3:.0f} ms | {mx * 1e3:.0f} ms | {'yes' if mx < 1 else 'NO'} |")
    lines += [
        "",
        "The benchmark's data paths name no real Parquet file, so the record pages here do not read "
        "the LLM steps' lake rows (rendered prompt, raw response); on a real lake that is one filtered "
        "Parquet read per LLM step of the trace.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
