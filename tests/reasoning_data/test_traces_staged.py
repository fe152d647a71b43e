"""``run_traces(..., staged=True)`` (what ``reasoning_traces`` returns since issue 17 goal 3): the chunk files as a
``StagedParquet`` and the quarantine streamed from them give exactly the rows of the in-memory path, and the lake
publishes the same file rows and lineage rows from either."""

from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from citrus_assets.reasoning_data.traces.trace_rows import run_traces
from resources.lake import Lake, StagedParquet
from resources.lineage import LineageWriter
from resources.lineage import commit as C
from tests.lineage.test_staged_output import _lineage_rows
from tests.reasoning_data.test_traces_continuous import make_client, open_table, questions


def test_staged_traces_equal_the_table_and_publish_the_same_lake(tmp_path):
    qs, cands = questions(18)
    table = open_table(qs)
    llm, _ = make_client(tmp_path, cands, name="a.sqlite")
    ref, ref_q, ref_stats = run_traces(table, llm, LoopConfig(), chunk_size=5, spill_dir=tmp_path / "ref")
    llm2, _ = make_client(tmp_path, cands, name="b.sqlite")
    spill = tmp_path / "spill"
    staged, failed, stats = run_traces(table, llm2, LoopConfig(), chunk_size=5, spill_dir=spill, staged=True)
    assert isinstance(staged, StagedParquet) and len(staged.paths) == 4 and staged.cleanup == str(spill)
    assert staged.read_all().to_pylist() == ref.to_pylist() and ref.num_rows > 0
    assert staged.data_version() == C.table_data_version(ref)
    lake_q = Lake(str(tmp_path / "q"))
    path, n = lake_q.write_quarantine("reasoning_traces", "p", failed)  # a generator over the chunk files
    assert n == len(ref_q) > 0 and path
    assert lake_q.read_quarantine("reasoning_traces", "p").column("raw").to_pylist() == [q.raw for q in ref_q]
    assert {k: v for k, v in stats.items() if k != "llm_batches"} == {
        k: v for k, v in ref_stats.items() if k != "llm_batches"
    }
    old, new = Lake(str(tmp_path / "old")), Lake(str(tmp_path / "new"))
    C.publish_partition(old, LineageWriter(old.lineage_root), asset="t", partition="p", table=ref, run_id="r")
    C.publish_partition(
        new,
        LineageWriter(new.lineage_root),
        asset="t",
        partition="p",
        table=staged,
        run_id="r",
        data_version=staged.data_version(),
    )
    assert C.read_committed(new, "t", "p").to_pylist() == C.read_committed(old, "t", "p").to_pylist()
    assert _lineage_rows(new) == _lineage_rows(old)
