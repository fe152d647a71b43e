"""Measurement: the main job (``citrus demo``) on an ``s3://`` lake served by a local S3-compatible server.

    .venv/bin/python benchmarks/s3_lake.py [--bucket citrus] [--prefix lake] [--keep] [--s3-only]

Starts moto's ``ThreadedMotoServer`` on 127.0.0.1 (a free port) in this process, creates the bucket, and runs
``citrus demo --lake s3://<bucket>/<prefix>`` as a child process with dummy AWS credentials,
``AWS_ENDPOINT_URL`` pointing at the server (botocore, hence s3fs, reads it), ``CITRUS_LAKE`` set to the same
URL and a fresh ``DAGSTER_HOME``. Like the local figure in README.md, the lake and the LLM request cache are
empty and the built-in model is already converted: ``CITRUS_CACHE_DIR`` is a fresh folder whose ``models``
(and the indexed URL block lists) link to the ones in ``~/.cache/citrus-lake``. The child runs in a scratch
working directory with ``sample`` linked to the repo's, so the remote-lake defaults that live next to the
working directory (the DuckDB lineage index ``.citrus/lineage.duckdb`` and the checkpoints
``.citrus/checkpoints``) start empty and touch nothing in the checkout; ``CITRUS_DATA`` is set to what
``../shared/data`` is from the repo root (the evaluation benchmarks the decontamination reads), as for a run
from the repo root.

First the same run on a local lake folder (same fresh cache, DAGSTER_HOME and scratch working directory, no
server): the baseline the s3 figure is a ratio of (``--s3-only`` skips it and reports no ratio). Then lists
what the bucket holds (objects and bytes per top-level folder; data, quarantine and lineage files) and writes
``benchmarks/results/s3_lake.md`` with both wall times, the summary the s3 job printed (scratch paths shown as
``<scratch>``), and the tail of its output on failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "s3_lake.md"
USER_CACHE = Path(os.environ.get("CITRUS_CACHE_DIR") or "~/.cache/citrus-lake").expanduser()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_cache(work: Path) -> Path:
    """An empty request cache whose converted model and URL block lists are the user's (no re-conversion)."""
    cache = work / "cache"
    cache.mkdir()
    if USER_CACHE.is_dir():
        for p in USER_CACHE.iterdir():
            if p.name == "models" or p.name.startswith("url_filter"):
                (cache / p.name).symlink_to(p)
    return cache


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def bucket_inventory(fs, bucket: str, prefix: str) -> tuple[list[tuple[str, int, int]], dict]:
    """(top-level folder, objects, bytes) rows and a few counts of what the lake holds."""
    files = fs.find(f"{bucket}/{prefix}", detail=True)
    per: dict[str, list[int]] = {}
    kinds: Counter = Counter()
    for path, info in files.items():
        rel = path[len(f"{bucket}/{prefix}/") :]
        top = rel.split("/", 1)[0]
        row = per.setdefault(top, [0, 0])
        row[0] += 1
        row[1] += int(info.get("size") or 0)
        name = rel.rsplit("/", 1)[-1]
        if top == "_lineage":
            kinds["lineage files"] += 1
        elif top == "_quarantine":
            kinds["quarantine files"] += 1
        elif name == "data.parquet":
            kinds["asset data files"] += 1
        else:
            kinds["side files"] += 1
        if name.startswith("."):
            kinds["hidden (temporary) files left"] += 1
    rows = sorted(((k, v[0], v[1]) for k, v in per.items()), key=lambda r: r[0])
    return rows, dict(kinds)


def scratch() -> tuple[Path, Path, dict]:
    """A scratch folder, the child's working directory in it (``sample`` linked) and the child's base env."""
    work = Path(tempfile.mkdtemp(prefix="citrus-s3-bench-"))
    run_dir = work / "cwd"
    run_dir.mkdir()
    (run_dir / "sample").symlink_to(REPO / "sample")
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "CITRUS_LINEAGE_DB"):
        env.pop(k, None)
    env.update(DAGSTER_HOME=str(work / "dagster_home"), CITRUS_CACHE_DIR=str(fresh_cache(work)))
    shared = REPO.parent / "shared" / "data"  # what ../shared/data is from the repo root (decontamination)
    if not env.get("CITRUS_DATA") and shared.is_dir():
        env["CITRUS_DATA"] = str(shared)
    return work, run_dir, env


def run_demo(lake: str, run_dir: Path, env: dict, log_path: Path, timeout: float) -> tuple[int, float, str, str, str]:
    """(exit code, wall s, load before, load after, output) of ``citrus demo --lake <lake>``."""
    cmd = [str(Path(sys.executable).parent / "citrus"), "demo", "--lake", lake]
    print(f"[s3_lake] running {' '.join(cmd)} in {run_dir}", flush=True)
    before = load()
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(
            cmd, cwd=run_dir, env={**env, "CITRUS_LAKE": lake}, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
        )
    wall = time.perf_counter() - t0
    print(f"[s3_lake] exit {proc.returncode} after {wall:.1f} s", flush=True)
    return proc.returncode, wall, before, load(), log_path.read_text(encoding="utf-8", errors="replace")


def local_baseline(args) -> tuple[int, float, str, str, str]:
    """The same run on a local lake folder: (exit code, wall s, load before, load after, checks)."""
    work, run_dir, env = scratch()
    rc, wall, before, after, text = run_demo(str(work / "lake"), run_dir, env, work / "demo.log", args.timeout)
    checks = re.search(r"Checks: (\d+)/(\d+) passed", text)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return rc, wall, before, after, f"{checks.group(1)}/{checks.group(2)}" if checks else "n/a"


def minutes(s: float) -> str:
    return f"{int(s // 60)} min {s % 60:.0f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bucket", default="citrus")
    ap.add_argument("--prefix", default="lake")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (printed)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--s3-only", action="store_true", help="skip the local-lake baseline run (no ratio)")
    args = ap.parse_args()
    local = None if args.s3_only else local_baseline(args)

    work, run_dir, env = scratch()
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.update(
        {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")}
    )

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"] = endpoint
    url = f"s3://{args.bucket}/{args.prefix}"
    log_path = work / "demo.log"
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=args.bucket)
        print(f"[s3_lake] moto on {endpoint}", flush=True)
        returncode, wall, load_before, load_after, text = run_demo(url, run_dir, env, log_path, args.timeout)

        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
        rows, kinds = bucket_inventory(fs, args.bucket, args.prefix)
        local_state = (
            sorted(str(p.relative_to(run_dir)) for p in (run_dir / ".citrus").glob("*"))
            if (run_dir / ".citrus").is_dir()
            else []
        )
    finally:
        server.stop()

    summary_start = text.find("Main job finished")
    summary = (text[summary_start:] if summary_start >= 0 else "").replace(str(work), "<scratch>")
    checks = re.search(r"Checks: (\d+)/(\d+) passed", summary)
    job_s = re.search(r"Main job finished in ([\d.]+) s", summary)
    lines = [
        "# The main job on an s3:// lake (moto server on 127.0.0.1)",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores shared with other engineers' work "
        f"(load average {load_before} before, {load_after} after), Python {platform.python_version()}. "
        "Command: `CITRUS_LAKE=s3://citrus/lake DAGSTER_HOME=<fresh> citrus demo --lake s3://citrus/lake` with "
        "`AWS_ENDPOINT_URL` set to a moto `ThreadedMotoServer` (in-memory S3) started by "
        "`benchmarks/s3_lake.py`; an empty lake and LLM request cache, the built-in model already converted. "
        "Lineage index and checkpoints: `.citrus/` under a scratch working directory (the remote-lake "
        "defaults). The local row is the same run, just before, on a local lake folder (`--lake <scratch>/lake`)"
        + (f"; load {local[2]} before it, {local[3]} after." if local else "; not run (`--s3-only`)."),
        "",
        "| lake | exit | wall (process) | main job (its own clock) | checks | vs local |",
        "|---|---|---|---|---|---|",
        *([f"| local folder | {local[0]} | {minutes(local[1])} | | {local[4]} | 1.00x |"] if local else []),
        f"| s3://{args.bucket}/{args.prefix} (moto) | {returncode} | {minutes(wall)} | "
        f"{job_s.group(1) + ' s' if job_s else 'n/a'} | "
        f"{checks.group(1) + '/' + checks.group(2) if checks else 'n/a'} | "
        f"{f'{wall / local[1]:.2f}x' if local else 'n/a'} |",
        "",
        "## What the bucket holds afterwards",
        "",
        "| top-level folder | objects | bytes |",
        "|---|---|---|",
        *[f"| {name} | {n} | {size:,} |" for name, n, size in rows],
        "",
        "Counts: " + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) + ".",
        f"Local state (scratch working directory): {', '.join(local_state) or 'none'}.",
        "",
    ]
    if returncode == 0 and summary:
        lines += ["## Summary printed by `citrus demo`", "", "```", summary.rstrip(), "```", ""]
    else:
        tail = "\n".join(text.rstrip().splitlines()[-60:])
        lines += ["## Failure: last 60 lines of output", "", "```", tail, "```", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines[:12]))
    print(f"[s3_lake] wrote {OUT.relative_to(REPO)}; log {log_path}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
