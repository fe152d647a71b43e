"""Drill 5: disk full and a read-only lake.

Disk full (a subprocess; ``drill_runner.py`` mode ``fsize``): question_seeds of a 3,000-question seed file is
materialized under ``RLIMIT_FSIZE`` with SIGXFSZ ignored, so a write past the limit fails with EFBIG like a
full disk: once with a limit below the data file (the data write fails) and once with a limit between the
data file and its (larger, uncompressed) lineage file (the data write succeeds, the lineage write after it
fails). Read-only (in this process): the local filesystem is patched to raise EROFS for every write under
the lake, once on an empty lake and once on a lake holding an earlier good materialization.

Each failure must give a clear step error naming the file it was writing and the OS error; leave no data
file, no lineage commit and no temp file (an earlier good data file stays byte-identical); record no
materialization event; and the lake must work again once the limit is lifted.
"""

import errno
import json
import os
import subprocess
import sys

import fsspec.implementations.local as fsspec_local

from tests.drills import drill_support as S

QUESTIONS = 3000


def big_seed_file() -> bytes:
    """Very repetitive questions (small zstd data file) with random ids (large uncompressed lineage file)."""
    q = json.loads(S.SEEDS.read_text().splitlines()[0])
    return "".join(json.dumps(dict(q, question=f"{q['question']} Case {i}.")) + "\n" for i in range(QUESTIONS)).encode()


def assert_clean_failure(files: list[str], errors: dict, what: str, os_error: str) -> str:
    """The step error names ``what`` and the OS error; ``files`` (the lake right after the failure) hold no
    question_seeds data file, lineage file or commit, and no temp file."""
    assert set(errors) == {"question_seeds"}, errors
    err = errors["question_seeds"]
    assert what in err and os_error in err, err
    assert not [f for f in files if f.startswith("question_seeds/") or "/question_seeds/" in f], files
    assert not [f for f in files if os.path.basename(f).startswith(".")], files  # temp files
    return next(ln.strip() for ln in err.splitlines() if what in ln)


def test_disk_full_leaves_no_file_that_looks_complete(tmp_path):
    seeds = {"medqa_demo.jsonl": big_seed_file()}
    envs = {k: S.make_env(tmp_path, k, seed_files=seeds) for k in ("probe", "data_env", "lineage_env")}
    runner = ["-m", "tests.drills.drill_runner"]  # from the repo root (cwd=S.REPO)
    proc = subprocess.run(
        [sys.executable, *runner, json.dumps({"mode": "fsize", **envs})],
        cwd=S.REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert res["data_size"] < res["lineage_size"], res  # the drill needs a lineage file larger than the data

    # the data write hits the limit
    d = res["data_write"]
    assert not d["success"] and d["materializations"] == 0
    data_path = str(S.data_file(envs["data_env"]["lake"], "question_seeds"))
    data_msg = assert_clean_failure(d["files"], d["errors"], data_path, "File too large")

    # the data write fits, the lineage write after it does not: the data file is taken back
    lw = res["lineage_write"]
    lake = envs["lineage_env"]["lake"]
    assert not lw["success"] and lw["materializations"] == 0
    lineage_dir = os.path.join(lake, "_lineage", "record_lineage", "question_seeds", S.PARTITION)
    lineage_msg = assert_clean_failure(lw["files"], lw["errors"], lineage_dir, "File too large")
    # ... and once the limit is lifted the same lake materializes normally
    assert res["after_lift"] == {"success": True, "materializations": 1}
    assert S.data_file(lake, "question_seeds").exists() and len(S.lineage_commits(lake, "question_seeds")) == 1

    print(
        f"\nDRILL disk-full: data {res['data_size']} B, lineage {res['lineage_size']} B; "
        f"limit {d['limit']} B -> data write failed; limit {lw['limit']} B -> lineage write failed, data file "
        "removed; both: no data file, no lineage commit, no temp file, no materialization event; "
        "re-run after lifting the limit succeeded"
    )
    print(f"  error: {data_msg[:200]}")
    print(f"  error: {lineage_msg[:200]}")


def test_read_only_lake_fails_clearly_and_keeps_earlier_data(tmp_path, monkeypatch):
    clean = {"medqa_demo.jsonl": "".join(S.SEEDS.read_text().splitlines(keepends=True)[:5]).encode()}
    empty = S.make_env(tmp_path, "ro_empty", seed_files=clean)  # good lines only: the data write is what fails
    earlier = S.make_env(tmp_path, "ro_earlier", seed_files=clean)
    S.materialize(earlier, ["question_seeds"])  # a good materialization before the lake turns read-only
    good = S.data_file(earlier["lake"], "question_seeds").read_bytes()
    files_before = S.lake_files(earlier["lake"])
    roots = tuple(os.path.realpath(e["lake"]) for e in (empty, earlier))

    def read_only(path) -> None:
        path = os.path.realpath(str(path).removeprefix("file://"))
        if path.startswith(roots):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    real_open, real_makedirs = fsspec_local.LocalFileOpener.__init__, fsspec_local.LocalFileSystem.makedirs

    def opener(self, path, mode, *a, **kw):
        if any(c in mode for c in "wax+"):
            read_only(path)
        return real_open(self, path, mode, *a, **kw)

    def makedirs(self, path, exist_ok=False):
        if not os.path.isdir(str(path)):
            read_only(path)
        return real_makedirs(self, path, exist_ok=exist_ok)

    monkeypatch.setattr(fsspec_local.LocalFileOpener, "__init__", opener)
    monkeypatch.setattr(fsspec_local.LocalFileSystem, "makedirs", makedirs)
    msgs = []
    for env in (empty, earlier):
        result, instance = S.materialize(env, ["question_seeds"], raise_on_error=False)
        assert not result.success and S.materialization_count(instance, "question_seeds") == 0
        path = str(S.data_file(env["lake"], "question_seeds"))
        err = S.step_errors(result)["question_seeds"]
        assert path in err and "Read-only file system" in err, err
        msgs.append(next(ln.strip() for ln in err.splitlines() if path in ln))
        assert S.temp_leftovers(env["lake"]) == []
    assert not os.path.exists(empty["lake"]) or S.lake_files(empty["lake"]) == []
    assert S.lake_files(earlier["lake"]) == files_before  # no new file, no new lineage commit
    assert S.data_file(earlier["lake"], "question_seeds").read_bytes() == good
    print(
        f"\nDRILL read-only: 2 runs failed (empty lake; lake with an earlier good version), 0 files written, "
        f"earlier data file byte-identical ({len(good)} B), 0 materialization events"
    )
    print(f"  error: {msgs[0][:200]}")
