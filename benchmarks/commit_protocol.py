"""Cost of the commit protocol (resources/lineage/commit.py) against the old write order, per partition write and read.

Old: ``Lake.write_asset`` (data renamed into place) then ``LineageWriter.write_materialization``; read with
``Lake.read_table``. Protocol: ``publish_partition`` (clean-up listings, staged data, lineage rows, commit, publish);
read with ``read_committed`` (roll-forward listing, commit lookup). Each rep overwrites the same partition with new
content (so the partition's lineage history grows as in real use), old and protocol alternating, each in its own
lake; medians over the reps. Writes the table to benchmarks/results/commit_protocol.md.

    .venv/bin/python benchmarks/commit_protocol.py [--rows 1000 100000] [--reps 15]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from resources.lake import Lake
from resources.lineage.commit import publish_partition, read_committed
from resources.lineage.ids import record_id
from resources.lineage.writer import LineageWriter, table_data_version


def make_table(n: int, rep: int) -> pa.Table:
    return pa.table(
        {
            "record_id": [record_id("qseed", rep, i) for i in range(n)],
            "parent_ids": [[record_id("src", i)] for i in range(n)],
            "text": [f"question {i} of rep {rep}: " + "x" * 200 for i in range(n)],
        }
    )


def old_write(lake: Lake, w: LineageWriter, t: pa.Table, run: str) -> None:
    path = lake.write_asset("a", "p", t)
    w.write_materialization(
        asset="a",
        partition="p",
        run_id=run,
        data_version=table_data_version(t),
        code_version="",
        table=t,
        data_path=path,
    )


def new_write(lake: Lake, w: LineageWriter, t: pa.Table, run: str) -> None:
    publish_partition(lake, w, asset="a", partition="p", table=t, run_id=run, run_is_dead=lambda r: True)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 100000])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    lines = [
        "# Commit protocol: cost per partition write and read",
        "",
        f"`benchmarks/commit_protocol.py --rows {' '.join(map(str, args.rows))} --reps {args.reps}`; "
        f"{platform.processor() or platform.machine()}, local lake (tmpfs or disk as `tempfile` gives), shared "
        "machine. Medians over the reps; each rep overwrites the partition with new content.",
        "",
        "| rows | write old (ms) | write protocol (ms) | ratio | read old (ms) | read protocol (ms) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in args.rows:
        tables = [make_table(n, r) for r in range(args.reps)]
        for t in tables:
            table_data_version(t)  # cached: both sides pay the same hash, outside the timed region
        res: dict[str, list[float]] = {"wo": [], "wn": [], "ro": [], "rn": []}
        with tempfile.TemporaryDirectory() as tmp:
            old, new = Lake(f"{tmp}/old"), Lake(f"{tmp}/new")
            wo, wn = LineageWriter(old.lineage_root), LineageWriter(new.lineage_root)
            for r, t in enumerate(tables):
                res["wo"].append(timed(old_write, old, wo, t, f"run{r}"))
                res["wn"].append(timed(new_write, new, wn, t, f"run{r}"))
                res["ro"].append(timed(old.read_table, "a", "p"))
                res["rn"].append(timed(read_committed, new, "a", "p", wn))
        m = {k: statistics.median(v) * 1000 for k, v in res.items()}
        lines.append(
            f"| {n} | {m['wo']:.1f} | {m['wn']:.1f} | {m['wn'] / m['wo']:.2f} | {m['ro']:.1f} | {m['rn']:.1f} "
            f"| {m['rn'] / m['ro']:.2f} |"
        )
        print(lines[-1], flush=True)
    out = Path(__file__).resolve().parent / "results" / "commit_protocol.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
