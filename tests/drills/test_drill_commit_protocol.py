"""Drill (issue 14 item 1): no data without lineage, at every step of a partition write.

The write of a partition follows one commit protocol (``resources/lineage/commit.py``): stage the data under a
hidden name, write the lineage rows, write the lineage commit (the single point that makes the new version
visible), publish ``data.parquet``. A child process materializes question_seeds (200 questions) with
``CITRUS_FAULT=<point>`` set, so it SIGKILLs itself exactly at that step (``resources/faults.py``; no timing). That
happens once on the partition's first write and once on an overwrite of a committed version. After each kill:

* untraceable records = 0: every record id a user's ``read_parquet('lake/question_seeds/*/*.parquet')`` (DuckDB's
  glob, hidden names included) or the IO manager can read is known to ``citrus lineage trace``;
* what is visible is the previous committed version (or nothing), or the killed write's own version once its
  commit exists (the IO manager rolls a committed but unpublished version forward);
* no temporary or staged file matches ``*.parquet``;
* a re-run succeeds and commits exactly once, and leaves no leftover (staged file, temporary, uncommitted lineage).

``test_old_write_order_is_caught`` is the regression test of the old order (data renamed into place before its
lineage commit): the same measurement, on the state that order left at its kill points, counts every record as
untraceable for a plain glob (200 of 200), and the IO manager's reader refuses that data file.
"""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from resources.faults import FAULT_ENV, POINTS
from resources.lake import Lake
from resources.lake_io import LakeIOManager
from resources.lineage import LineageStore, UnknownRecord
from resources.lineage.commit import UncommittedDataError, read_committed
from tests.drills import drill_support as S

ASSET = "question_seeds"
QUESTIONS = 200
RUNNER = ["-m", "tests.drills.drill_runner"]  # from the repo root (cwd=S.REPO)


def seed_file(version: str) -> bytes:
    """200 distinct valid questions (variants of the sample seed file); ``version`` changes every one of them."""
    base = []
    for line in S.SEEDS.read_text().splitlines():
        try:
            q = json.loads(line)
        except json.JSONDecodeError:  # the sample file holds deliberately bad lines
            continue
        if isinstance(q, dict) and q.get("answer_idx") in (q.get("options") or {}):
            base.append(q)
    out = []
    for i in range(QUESTIONS):
        q = dict(base[i % len(base)])
        q["question"] = f"{q['question']} (drill case {i}, {version})"
        out.append(json.dumps(q))
    return ("\n".join(out) + "\n").encode()


def glob_ids(lake: str) -> list[str]:
    """Record ids a user's ``read_parquet('lake/question_seeds/*/*.parquet')`` reads (DuckDB's glob)."""
    pattern = os.path.join(lake, ASSET, "*", "*.parquet")
    files = [f for (f,) in duckdb.sql(f"SELECT file FROM glob('{pattern}')").fetchall()]
    return [rid for f in files for rid in pq.read_table(f, columns=["record_id"]).column(0).to_pylist()]


def io_manager_ids(lake: str) -> list[str]:
    """Record ids the IO manager's ``load_input`` gives a downstream asset ([] when it has no committed data)."""
    ctx = dg.build_input_context(
        asset_key=dg.AssetKey(ASSET),
        partition_key=S.PARTITION,  # as a downstream step
        asset_partitions_def=dg.StaticPartitionsDefinition([S.PARTITION]),
    )
    try:
        return LakeIOManager(root=lake).load_input(ctx).column("record_id").to_pylist()
    except FileNotFoundError:
        return []


def untraceable(lake: str, ids: list[str], db: str) -> list[str]:
    """The ids ``citrus lineage trace`` does not know."""
    unknown = []
    with LineageStore(Lake(lake).lineage_root, db) as store:
        store.sync()
        for rid in ids:
            try:
                store.trace(rid, max_depth=1, sync=False)
            except UnknownRecord:
                unknown.append(rid)
    return unknown


def leftovers(lake: str) -> list[str]:
    """Temporaries, staged files and lineage rows without a commit (relative to the lake)."""
    files = S.lake_files(lake)
    out = [f for f in files if os.path.basename(f).startswith(".")]
    commits = {f.split("/", 2)[2] for f in files if f.startswith("_lineage/materializations/")}
    out += [f for f in files if f.startswith("_lineage/record_lineage/") and f.split("/", 2)[2] not in commits]
    return out


def commits_of(lake: str, run_id: str) -> list[str]:
    return [f for f in S.lineage_commits(lake, ASSET) if f.endswith(f"-{run_id}.parquet")]


def killed_write(env: dict, point: str) -> str:
    """Materialize question_seeds in a child process that SIGKILLs itself at ``point``; returns the killed run id."""
    child_env = {**os.environ, FAULT_ENV: f"{point}@{ASSET}"}
    args = {"mode": "slice", "env": env, "names": [ASSET]}
    proc = subprocess.run(
        [sys.executable, *RUNNER, json.dumps(args)],
        cwd=S.REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, f"no kill at {point}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    runs = set(re.findall(r"__ephemeral_asset_job__ - ([0-9a-f-]{36}) - ", proc.stderr))  # Dagster's event log
    assert len(runs) == 1, runs
    return runs.pop()


def version(seen: set[str], previous: set[str]) -> str:
    return "nothing" if not seen else "previous" if seen == previous else "new" if len(seen) == QUESTIONS else "mixed"


def check_after_kill(env: dict, point: str, previous: set[str], killed_run: str, db: str) -> dict:
    lake = env["lake"]
    killed_committed = bool(commits_of(lake, killed_run))
    left = leftovers(lake)  # before any reader: what the kill itself left
    parquet_like = [f for f in left if f.endswith(".parquet") and os.path.basename(f).startswith(".")]
    parquet_like += [
        f
        for f in S.lake_files(lake)
        if f.startswith(f"{ASSET}/") and not f.endswith("/data.parquet") and f.endswith(".parquet")
    ]
    globbed = glob_ids(lake)
    seen_glob = set(globbed)
    io_ids = io_manager_ids(lake)  # may roll a committed, unpublished version forward
    seen_io = set(io_ids)
    lost = untraceable(lake, sorted(seen_glob | seen_io), db)
    figure = {
        "point": point,
        "glob_records": len(globbed),
        "glob_version": version(seen_glob, previous),
        "io_records": len(io_ids),
        "io_version": version(seen_io, previous),
        "untraceable": len(lost),
        "killed_write_committed": killed_committed,
        "leftovers": len(left),
        "parquet_like": len(parquet_like),
    }
    assert lost == [], figure
    assert parquet_like == [], (figure, parquet_like)
    assert len(globbed) == len(seen_glob)  # one data file, no duplicate rows from a second visible file
    if not killed_committed:  # an uncommitted version is never visible
        assert seen_glob == previous and seen_io == previous, figure
    else:  # committed = visible to the IO manager (rolled forward when it was not published yet)
        assert figure["glob_version"] in ("previous", "nothing", "new"), figure
        assert figure["io_version"] == "new" and (not previous or seen_io.isdisjoint(previous)), figure
    return figure


def rerun(env: dict, db: str) -> dict:
    lake = env["lake"]
    result, _ = S.materialize(env, [ASSET])
    assert result.success
    ids = io_manager_ids(lake)
    figure = {
        "rerun_commits": len(commits_of(lake, result.run_id)),
        "rerun_records": len(ids),
        "rerun_untraceable": len(untraceable(lake, ids, db)),
        "rerun_leftovers": len(leftovers(lake)),
    }
    assert figure == {"rerun_commits": 1, "rerun_records": QUESTIONS, "rerun_untraceable": 0, "rerun_leftovers": 0}, (
        figure
    )
    assert sorted(glob_ids(lake)) == sorted(ids)
    return figure


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_every_step_of_the_write(tmp_path, point):
    env = S.make_env(tmp_path, "lake", seed_files={"medqa_demo.jsonl": seed_file("v1")})
    db = str(tmp_path / "index.duckdb")
    lines = []
    # 1. the partition's first write, killed: nothing (or its own committed version) is visible
    killed = killed_write(env, point)
    first = check_after_kill(env, point, set(), killed, db)
    first.update(rerun(env, db))
    lines.append(("first write", first))
    v1 = set(io_manager_ids(env["lake"]))
    # 2. an overwrite with new content, killed: the previous committed version (or the new committed one)
    Path(env["inbox"], "medqa_demo.jsonl").write_bytes(seed_file("v2"))
    killed = killed_write(env, point)
    second = check_after_kill(env, point, v1, killed, db)
    second.update(rerun(env, db))
    assert set(io_manager_ids(env["lake"])).isdisjoint(v1)  # the re-run published v2
    lines.append(("overwrite", second))
    for what, f in lines:
        print(
            f"\nDRILL commit protocol [{point}, {what}]: killed write committed: {f['killed_write_committed']}; "
            f"visible records: glob {f['glob_records']} ({f['glob_version']}), IO manager {f['io_records']} "
            f"({f['io_version']}); untraceable "
            f"{f['untraceable']}, leftovers {f['leftovers']} (matching *.parquet: {f['parquet_like']}); re-run: "
            f"{f['rerun_commits']} commit, {f['rerun_records']} records, untraceable {f['rerun_untraceable']}, "
            f"leftovers {f['rerun_leftovers']}"
        )


def test_old_write_order_is_caught(tmp_path):
    """The old order (data.parquet renamed into place, then killed before its lineage commit), as it left a lake at
    each of its kill points: the measurement sees 200 of 200 records untraceable through a plain glob (so the drill
    above would fail on that order), the IO manager refuses the file, and the next write removes and replaces it."""
    env = S.make_env(tmp_path, "lake", seed_files={"medqa_demo.jsonl": seed_file("v1")})
    db = str(tmp_path / "index.duckdb")
    S.materialize(env, [ASSET])
    lake = Lake(env["lake"])
    v1 = set(io_manager_ids(env["lake"]))
    other = S.make_env(tmp_path, "other", seed_files={"medqa_demo.jsonl": seed_file("v2")})
    S.materialize(other, [ASSET])
    v2 = read_committed(Lake(other["lake"]), ASSET, S.PARTITION)
    lake.write_asset(ASSET, S.PARTITION, v2)  # the old order's state: new data in place, no lineage commit
    globbed = glob_ids(env["lake"])
    lost = untraceable(env["lake"], globbed, db)
    assert len(globbed) == QUESTIONS and len(lost) == QUESTIONS  # what the old order left: 200 of 200 untraceable
    with pytest.raises(UncommittedDataError):
        read_committed(lake, ASSET, S.PARTITION)
    assert io_manager_ids(env["lake"]) == []  # ignored by the IO manager: no uncommitted data downstream
    Path(env["inbox"], "medqa_demo.jsonl").write_bytes(seed_file("v2"))
    result, _ = S.materialize(env, [ASSET])
    assert S.metadata(result, ASSET).get("interrupted_write_files_removed") == 1  # reported and removed
    after = io_manager_ids(env["lake"])
    assert set(after) == {r for r in v2.column("record_id").to_pylist()} and set(after).isdisjoint(v1)
    assert untraceable(env["lake"], glob_ids(env["lake"]), db) == []
    print(
        f"\nDRILL commit protocol, old order (data before commit): {len(lost)} of {len(globbed)} globbed records "
        f"untraceable; IO manager read 0 of them; the next write removed the file and committed {len(after)} records"
    )
