import multiprocessing as mp
import queue

import duckdb

import lineage_workers as LW
from resources.lineage import LineageStore

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
