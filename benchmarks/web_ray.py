"""Benchmark: the web stage (web_documents -> web_corpus) with datatrove's local vs Ray executor.

    .venv/bin/python benchmarks/web_ray.py [--modes local,ray,ray2] [--reps 1]

Each mode materializes ``web_documents`` (partition ``web_demo``, ``sample/web/web_demo.jsonl``) and then
``web_corpus`` with ``dg.materialize`` on a fresh local lake, choosing the executor with the assets' run
config (``executor: ray``, ``workers``), in a fresh Python process (as a Dagster step process would be): so
the Ray times include starting a local Ray cluster (``ray.init`` at the first pipeline of the process).
Modes: ``local`` (LocalPipelineExecutor, the default), ``ray`` (RayPipelineExecutor, one task at a time),
``ray2`` (Ray, ``workers: 2``: the dedup's 14 MinHash bucket tasks two at a time). The kept / rejected /
duplicate counts must be equal across modes. Writes ``benchmarks/results/web_ray.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "web_ray.md"
MODES = {
    "local": {"executor": "local"},
    "ray": {"executor": "ray", "workers": 1},
    "ray2": {"executor": "ray", "workers": 2},
}

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import dagster as dg
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards
from resources.inbox import InboxResource
from resources.lake import Lake, LakeResource
from resources.lake_io import LakeIOManager
lake_root, web_dir, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
resources = {"io_manager": LakeIOManager(root=lake_root), "lake": LakeResource(root=lake_root),
             "inbox": InboxResource(web_dir=web_dir)}
instance = dg.DagsterInstance.ephemeral()
instance.add_dynamic_partitions(web_shards.name, ["web_demo"])
imported = time.perf_counter() - t0
out = {"import_s": round(imported, 1)}
for name, asset, key in (("web_documents", web_documents, "web_demo"), ("web_corpus", web_corpus, None)):
    t = time.perf_counter()
    res = dg.materialize([web_documents, web_corpus], selection=[asset], partition_key=key, resources=resources,
                         instance=instance, run_config={"ops": {name: {"config": cfg}}},
                         tags={"bench": "web_ray"})
    assert res.success
    out[name + "_s"] = round(time.perf_counter() - t, 1)
    md = {k: v.value for k, v in res.get_asset_materialization_events()[0].materialization.metadata.items()}
    out[name + "_rows"] = md["dagster/row_count"]
    if name == "web_documents":
        out["rejected"] = md["rejected"]
        out["quarantined"] = md["quarantined"]
    else:
        out["duplicates_removed"] = md["duplicates_removed"]
out["total_s"] = round(time.perf_counter() - t0, 1)
print("RESULT " + json.dumps(out))
"""


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run_mode(mode: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"citrus-webray-{mode}-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(Path(tmp) / "lake"),
                str(REPO / "sample" / "web"),
                json.dumps(MODES[mode]),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        return {"mode": mode, "error": f"exit {proc.returncode}", "tail": tail, "wall_s": round(wall, 1)}
    return {"mode": mode, "wall_s": round(wall, 1), **json.loads(line[len("RESULT ") :])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="local,ray,ray2")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    try:
        import ray

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    modes = [m for m in args.modes.split(",") if m]
    if ray_version is None:
        modes = [m for m in modes if not m.startswith("ray")]
    from importlib.metadata import version

    before = load()
    rows = []
    for rep in range(args.reps):
        for mode in modes:
            r = run_mode(mode)
            r["rep"] = rep + 1
            print(json.dumps({k: v for k, v in r.items() if k != "tail"}), flush=True)
            rows.append(r)
    after = load()
    lines = [
        "# Web stage: datatrove local vs Ray executor",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores shared with other engineers' work (load "
        f"average {before} before, {after} after), Python {platform.python_version()}, datatrove "
        f"{version('datatrove')}, ray {ray_version or 'not installed'}.",
        "Each mode: a fresh process materializes `web_documents` (partition `web_demo`: `sample/web/web_demo.jsonl`, "
        "5 documents + 1 broken line) then `web_corpus` (exact + MinHash dedup: 7 datatrove pipelines, one of "
        "14 tasks) on a fresh local lake, the executor chosen by the assets' run config. Ray times include "
        "starting a local Ray cluster in that process.",
        "",
        "| mode | run config | rep | process wall s | imports s | web_documents s | web_corpus s | kept / rejected / quarantined | after dedup (removed) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cfg = json.dumps(MODES[r["mode"]])
        if "error" in r:
            lines.append(f"| {r['mode']} | `{cfg}` | {r['rep']} | {r['wall_s']} | failed: {r['error']} | | | | |")
            continue
        lines.append(
            f"| {r['mode']} | `{cfg}` | {r['rep']} | {r['wall_s']} | {r['import_s']} | {r['web_documents_s']} | "
            f"{r['web_corpus_s']} | {r['web_documents_rows']} / {r['rejected']} / {r['quarantined']} | "
            f"{r['web_corpus_rows']} ({r['duplicates_removed']}) |"
        )
    ok = [r for r in rows if "error" not in r]
    same = (
        len(
            {
                (
                    r["web_documents_rows"],
                    r["rejected"],
                    r["quarantined"],
                    r["web_corpus_rows"],
                    r["duplicates_removed"],
                )
                for r in ok
            }
        )
        <= 1
    )
    lines += [
        "",
        f"Same documents kept, rejected, quarantined and deduplicated in every mode: {'yes' if same else 'NO'}.",
        "",
    ]
    for r in rows:
        if "error" in r:
            lines += [f"### {r['mode']} failed", "", "```", r["tail"], "```", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0 if ok and len(ok) == len(rows) and same else 1


if __name__ == "__main__":
    sys.exit(main())
