"""A suite validated batch by batch gives exactly the whole-table result (quality/batched.py; issue 17 goal 3)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from quality import RowRule, answer_letters_in_options, id_suite, not_null, validate_table, values_in_set
from quality.batched import is_mergeable, table_batches, validate_batches
from quality.suites import between, row_count_between, value_lengths_between

N = 23


def _table(bad: bool) -> pa.Table:
    ids = [f"r{i:03d}" for i in range(N)]
    text = [f"question {i}?" for i in range(N)]
    rounds = list(range(N))
    status = ["ok"] * N
    if bad:  # failures spread over several batches, more than max_examples of some kinds
        ids[17] = ids[3]  # a duplicate id across batches (only the whole column can see it)
        for i in (1, 8, 9, 15, 20, 22):
            text[i] = None
        text[4] = ""
        text[10] = "a question much too long"
        rounds[2] = rounds[11] = None
        rounds[5], rounds[19] = -1, -3
        status[6] = status[21] = "weird"
    return pa.table(
        {
            "record_id": pa.array(ids, pa.string()),
            "parent_ids": pa.array([[f"seed-{i}"] for i in range(N)], pa.list_(pa.string())),
            "text": pa.array(text, pa.string()),
            "rounds": pa.array(rounds, pa.int64()),
            "status": pa.array(status, pa.string()),
            "options": pa.array([[("A", "x"), ("B", "y")]] * N, pa.map_(pa.string(), pa.string())),
            "answer_letters": pa.array(
                [["C"] if bad and i % 7 == 3 else ["A"] for i in range(N)], pa.list_(pa.string())
            ),
        }
    )


def _suite() -> list:
    return [
        *id_suite(),
        *not_null(["text", "rounds"]),
        *not_null("text", mostly=0.5),
        *value_lengths_between("text", 1, None),
        *between("rounds", 0, None),
        *values_in_set("status", ["ok", "review"]),
        *row_count_between(1, None),
        answer_letters_in_options(),
        RowRule("short_text", lambda df: [t is None or len(t) < 20 for t in df["text"]], "short", ("text",)),
    ]


def _dicts(result):
    return result.to_dict()


@pytest.mark.parametrize("bad", [False, True], ids=["passing", "failing"])
@pytest.mark.parametrize("batch_rows", [1, 4, 7, N, 1000])
@pytest.mark.parametrize("id_col", ["record_id", None])
def test_batches_give_the_whole_table_result(bad, batch_rows, id_col):
    table = _table(bad)
    whole = validate_table(table, _suite(), "s", id_col=id_col)
    batched = validate_batches(table_batches(table, batch_rows), table.schema, _suite(), "s", id_col=id_col)
    assert _dicts(batched) == _dicts(whole)
    assert whole.success is (not bad)
    if bad:  # the fixture fails the way it was built to, in both runs
        failed = {r.label for r in batched.failed}
        assert {
            "column_values_to_be_unique(record_id)",
            "column_values_to_not_be_null(text)",
            "column_values_to_not_be_null(rounds)",
            "column_values_to_be_between(rounds)",
            "column_values_to_be_in_set(status)",
            "rule:answer_letter_in_options",
        } <= failed
        assert "column_values_to_not_be_null(text)" in failed
        null_text = batched.results[2]
        assert null_text.unexpected_count == 6 and null_text.observed["unexpected_percent"] == 6 / 23 * 100
        assert batched.results[4].success  # mostly=0.5: 6 of 23 missing passes
        assert batched.result("column_values_to_be_between(rounds)").unexpected_values == ["-1.0", "-3.0"]


def test_uniqueness_and_table_level_stay_whole_column():
    suite = _suite()
    whole = [x for x in suite if not is_mergeable(x)]
    assert [x.configuration.type for x in whole] == [
        "expect_column_values_to_be_unique",
        "expect_table_row_count_to_be_between",
    ]


def test_empty_table_gives_the_empty_result():
    table = _table(False).slice(0, 0)
    whole = validate_table(table, _suite(), "s")
    assert _dicts(validate_batches(table_batches(table, 5), table.schema, _suite(), "s")) == _dicts(whole)


def test_broken_rule_is_reported_the_same():
    table = _table(True)
    boom = RowRule("boom", lambda df: [1 / 0 for _ in df["text"]], "raises", ("text",))
    whole = validate_table(table, [boom], "s")
    batched = validate_batches(table_batches(table, 5), table.schema, [boom], "s")
    assert _dicts(batched) == _dicts(whole) and not batched.success


# ---------------------------------------------------------------- through the lake IO manager (Dagster)


def _run_check(tmp_path, table, *, streamed: bool, partitioned: bool):
    import dagster as dg

    from quality import gx_asset_check
    from resources.lake_io import LakeIOManager

    parts = dg.StaticPartitionsDefinition(["p1"]) if partitioned else None

    @dg.asset(name="things", partitions_def=parts)
    def things():
        return table

    check = gx_asset_check(asset=things, name="things_valid", suite=_suite, blocking=False, streamed=streamed)
    res = dg.materialize(
        [things, check],
        resources={"io_manager": LakeIOManager(root=str(tmp_path / ("s" if streamed else "w")))},
        partition_key="p1" if partitioned else None,
    )
    (evaluation,) = res.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize("partitioned", [False, True], ids=["unpartitioned", "partitioned"])
@pytest.mark.parametrize("bad", [False, True], ids=["passing", "failing"])
def test_streamed_check_equals_the_whole_table_check(tmp_path, monkeypatch, bad, partitioned):
    import resources.lake_io as lake_io

    seen = []
    real = lake_io.committed_batches

    def spy(*a, **kw):
        seen.append(kw["batch_rows"])
        return real(*a, **kw)

    monkeypatch.setattr(lake_io, "INPUT_BATCH_ROWS", 4)  # 23 rows: 6 record batches
    monkeypatch.setattr(lake_io, "committed_batches", spy)
    table = _table(bad)
    streamed = _run_check(tmp_path, table, streamed=True, partitioned=partitioned)
    assert seen == [4]  # the check read the partition in record batches, not as a table
    whole = _run_check(tmp_path, table, streamed=False, partitioned=partitioned)
    assert len(seen) == 1  # the whole-table check loaded a table
    assert streamed.passed is whole.passed is (not bad)
    assert streamed.description == whole.description
    assert {k: v.value for k, v in streamed.metadata.items()} == {k: v.value for k, v in whole.metadata.items()}
    if bad:
        assert streamed.metadata["n_failed"].value >= 6


@pytest.mark.parametrize("every_bytes, most_frames", [(1, 1), (1 << 40, 6)])
def test_batch_frames_are_freed_as_the_batches_go(monkeypatch, every_bytes, most_frames):
    """GX keeps each batch's pandas frame in a reference cycle. The streamed check runs the cyclic collector every
    ``GC_EVERY_BYTES`` of batches, so the frames of earlier batches do not pile up until a full collection (a
    traces check on 75K rows peaked at 0.99 GiB instead of 0.69 GiB). With the collector off between batches
    (a huge threshold, the second case), the frames stay: the test can fail."""
    import gc

    import pandas as pd

    import quality.batched as QB

    monkeypatch.setattr(QB, "GC_EVERY_BYTES", every_bytes)
    table = pa.table({"record_id": [f"r{i}" for i in range(600)], "text": ["x" * 2000] * 600})
    gc.collect()
    gc.disable()  # only the collections the check runs itself
    try:
        res = validate_batches(table_batches(table, 100), table.schema, not_null(["text"]), "s")
        alive = sum(1 for o in gc.get_objects() if isinstance(o, pd.DataFrame))
    finally:
        gc.enable()
    assert res.success and res.n_rows == 600
    if every_bytes == 1:
        assert alive <= most_frames  # at most the last batch's frame
    else:
        assert alive >= most_frames  # every batch's frame still held: what the collector frees
