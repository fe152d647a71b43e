import multiprocessing as mp
import queue

import duckdb

from resources.lineage import LineageStore
from tests.lineage import lineage_workers as LW

N_WRITERS = 6


def test_parallel_writers_with_concurrent_sync_and_trace(tmp_path):
    root = str(tmp_path / "lake" / "_lineage")
    db = str(tmp_path / "lake" / "_lineage" / "lineage.duckdb")
    ctx = mp.get_context("spawn")
    start, stop = ctx.Barrier(N_WRITERS + 2), ctx.Event()
    errors, results = ctx.Queue(), ctx.Queue()
    writers = [ctx.Process(target=LW.writer, args=(root, w, start, errors)) for w in range(N_WRITERS)]
    readers = [
        ctx.Process(target=LW.reader, args=(root, db, N_WRITERS, start, stop, errors, results, seed))
        for seed in range(2)
    ]
    for p in writers + readers:
        p.start()
    for p in writers:
        p.join(240)
    stop.set()
    for p in readers:
        p.join(240)
    errs = []
    while True:
        try:
            errs.append(errors.get_nowait())
        except queue.Empty:
            break
    assert not errs, "\n".join(errs)
    assert all(p.exitcode == 0 for p in writers + readers)
    stats = [results.get(timeout=10) for _ in readers]
    assert all(loops > 0 for _, loops, _, _ in stats), stats
    print("reader (seed, loops, traced, not yet committed):", stats)

    store = LineageStore(root, db)
    store.sync()
    st = store.stats()
    n_mat = N_WRITERS * LW.N_MATERIALIZATIONS
    n_rec = n_mat * LW.N_RECORDS
    assert st["commits"] == n_mat and st["materializations"] == n_mat
    assert st["records"] == n_rec and st["record_rows"] == n_rec  # nothing lost, nothing twice
    assert st["edges"] == 2 * n_rec and st["edge_rows"] == 2 * n_rec
    assert st["sources"] == 2 * n_rec
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM edges").fetchone()[0] == 2 * n_rec
        assert con.execute("SELECT count(DISTINCT record_id) FROM records").fetchone()[0] == n_rec
    d = store.trace(LW.rid(N_WRITERS - 1, LW.N_MATERIALIZATIONS - 1, LW.N_RECORDS - 1))
    assert d["n_nodes"] == 3
    d = store.impact("source", "m3.jsonl", max_records=None)
    assert d["n_descendants"] == N_WRITERS * LW.N_RECORDS


def test_kept_read_connection_does_not_block_another_process_sync(tmp_path):
    """A store keeping its read-only connection between calls must not stall a sync elsewhere."""
    import subprocess
    import sys
    import textwrap
    import time
    from pathlib import Path

    import pyarrow as pa

    from resources.lineage import LineageWriter

    root = str(tmp_path / "_lineage")
    db = str(tmp_path / "_lineage" / "lineage.duckdb")
    w = LineageWriter(root)
    t = LW.materialization(0, 0)
    w.write_materialization(
        asset="a", partition="p0", run_id="r0", data_version="v0", code_version="1", table=t, data_path="x"
    )
    store = LineageStore(root, db, keep_open=30.0)  # much longer than the sync below may take
    assert store.trace(LW.rid(0, 0, 0))["n_nodes"] == 3
    assert store._cached is not None  # the connection is kept
    t2 = pa.table({"record_id": ["late-" + "0" * 20], "parent_ids": [[LW.rid(0, 0, 0)]]})
    w.write_materialization(
        asset="b", partition="p0", run_id="r1", data_version="v1", code_version="1", table=t2, data_path="x"
    )
    code = textwrap.dedent(f"""
        import time
        from resources.lineage import LineageStore
        t0 = time.time()
        n = LineageStore({root!r}, {db!r}).sync()
        print(n, round(time.time() - t0, 2))
    """)
    repo = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, text=True)
    # the other process now holds the sync lock and waits for our read-only connection; our next call
    # notices the lock, lets go, and then reads what it ingested
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        try:
            store.trace(LW.rid(0, 0, 1), sync=False)
        except Exception as exc:  # noqa: BLE001 - surface anything unexpected
            proc.kill()
            raise AssertionError(f"reader failed while another process synced: {exc!r}") from exc
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.split()[0] == "1" and float(out.split()[1]) < 20, out
    assert store.trace("late-" + "0" * 20)["n_nodes"] == 4  # late -> rec -> 2 source lines
    store.close()
    assert store._cached is None
