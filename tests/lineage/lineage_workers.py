"""Process entry points for the concurrency test (importable by ``multiprocessing`` spawn children)."""

from __future__ import annotations

import random
import time
import traceback

import pyarrow as pa

from resources.lineage import LineageStore, LineageWriter, UnknownRecord, table_data_version

N_MATERIALIZATIONS = 20
N_RECORDS = 50


def rid(w: int, m: int, i: int) -> str:
    return f"rec-{w:04x}{m:04x}{i:012x}"


def src(w: int, m: int, i: int, j: int) -> str:
    return f"src-{w:04x}{m:04x}{i:010x}{j:02x}"


def materialization(w: int, m: int) -> pa.Table:
    return pa.table(
        {
            "record_id": [rid(w, m, i) for i in range(N_RECORDS)],
            "parent_ids": [[src(w, m, i, 0), src(w, m, i, 1)] for i in range(N_RECORDS)],
            "source_uri": [f"file:///raw/w{w}/m{m}.jsonl"] * N_RECORDS,
            "source_locator": [f"line {i}" for i in range(N_RECORDS)],
        }
    )


def writer(root: str, w: int, start, errors) -> None:
    try:
        lw = LineageWriter(root)
        rng = random.Random(w)
        start.wait(120)
        for m in range(N_MATERIALIZATIONS):
            time.sleep(rng.uniform(0, 0.15))  # spread the writes over the readers' loops
            t = materialization(w, m)
            lw.write_materialization(
                asset=f"asset{w}",
                partition=f"part|{m}",
                run_id=f"run-{w}-{m}",
                data_version=table_data_version(t),
                code_version="1",
                table=t,
                data_path="x",
            )
    except BaseException:
        errors.put(f"writer {w}: {traceback.format_exc()}")


def reader(root: str, db: str, n_writers: int, start, stop, errors, results, seed: int) -> None:
    rng = random.Random(seed)
    ok = unknown = loops = 0
    try:
        store = LineageStore(root, db, lock_timeout=120)
        store.sync()
        start.wait(120)
        while not stop.is_set() or loops < 5:
            loops += 1
            if loops % 3 == 0:
                store.sync()
            w, m, i = rng.randrange(n_writers), rng.randrange(N_MATERIALIZATIONS), rng.randrange(N_RECORDS)
            try:
                d = store.trace(rid(w, m, i))
                assert {n["record_id"] for n in d["nodes"]} == {rid(w, m, i), src(w, m, i, 0), src(w, m, i, 1)}, d
                ok += 1
            except UnknownRecord:
                unknown += 1  # not committed yet
        results.put((seed, loops, ok, unknown))
    except BaseException:
        errors.put(f"reader {seed}: {traceback.format_exc()}")
