"""gx_asset_check inside Dagster runs: pass/fail, blocking semantics, partitions, multi-check helper."""

# No `from __future__ import annotations`: Dagster validates the `context` annotation object.
import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.errors import DagsterAssetCheckFailedError  # not exported by `dagster` in 1.13.27

from quality import (
    answer_letters_in_options,
    gx_asset_check,
    gx_check_result,
    gx_check_spec,
    id_suite,
    not_null,
    values_in_set,
)

MCQ_CHECK = "mcq_suite"


def mcq_suite() -> list:
    return id_suite() + not_null("question") + values_in_set("status", ["ok", "review"])


def _evals(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _make_asset(table: pa.Table, name: str = "mcq"):
    @dg.asset(name=name)
    def _asset() -> pa.Table:
        return table

    return _asset


@pytest.mark.parametrize("which", ["good", "bad"])
def test_check_passes_and_fails(which, good_table, bad_table, io_manager):
    asset = _make_asset(good_table if which == "good" else bad_table)
    check = gx_asset_check(asset=asset, name=MCQ_CHECK, suite=mcq_suite, rules=[answer_letters_in_options()])
    assert isinstance(check, dg.AssetChecksDefinition)
    assert check.check_keys == {dg.AssetCheckKey(dg.AssetKey("mcq"), MCQ_CHECK)}

    result = dg.materialize([asset, check], resources={"io_manager": io_manager})
    assert result.success  # a non-blocking (WARN) failure never fails the run
    ev = _evals(result)[MCQ_CHECK]
    assert ev.severity == dg.AssetCheckSeverity.WARN
    md = ev.metadata
    if which == "good":
        assert ev.passed
        assert md["n_rows"].value == 3 and md["n_failed"].value == 0
    else:
        assert not ev.passed
        assert md["n_rows"].value == 5
        assert md["unexpected_counts"].value["column_values_to_be_unique(record_id)"] == 2
        ids = md["failing_record_ids"].value
        assert ids["rule:answer_letter_in_options"] == ["r2", "r4", "r5"]
        assert ids["column_values_to_not_be_null(question)"] == ["r2"]
        assert "rule:answer_letter_in_options [3]" in ev.description


def _chain(table: pa.Table, blocking: bool):
    up = _make_asset(table, "up")
    ran: list[str] = []

    @dg.asset(deps=[up])
    def down() -> pa.Table:
        ran.append("down")
        return pa.table({"record_id": ["d1"]})

    check = gx_asset_check(asset=up, name="up_suite", suite=mcq_suite, blocking=blocking)
    return up, down, check, ran


def test_blocking_failure_stops_downstream(bad_table, io_manager):
    up, down, check, ran = _chain(bad_table, blocking=True)
    result = dg.materialize([up, down, check], resources={"io_manager": io_manager}, raise_on_error=False)
    # Dagster 1.13.27: the check step fails (DagsterAssetCheckFailedError), the evaluation is still
    # recorded with severity ERROR, `down` never executes and the run fails.
    assert not result.success
    ev = _evals(result)["up_suite"]
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR and ev.blocking
    assert ran == []
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey("up")}
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["up_up_suite"]
    assert "DagsterAssetCheckFailedError" in failures[0].event_specific_data.error.cls_name

    # With raise_on_error (the default) materialize raises it.
    with pytest.raises(DagsterAssetCheckFailedError):
        dg.materialize([up, down, check], resources={"io_manager": io_manager})


def test_blocking_pass_and_nonblocking_failure_let_downstream_run(good_table, bad_table, io_manager):
    for table, blocking in ((good_table, True), (bad_table, False)):
        up, down, check, ran = _chain(table, blocking=blocking)
        result = dg.materialize([up, down, check], resources={"io_manager": io_manager})
        assert result.success and ran == ["down"]
        assert _evals(result)["up_suite"].passed is (table is good_table)


def test_partitioned_asset_check_loads_its_partition(make_mcq_table, io_manager):
    parts = dg.StaticPartitionsDefinition(["good", "bad"])
    seen: list[tuple[str, int]] = []

    @dg.asset(partitions_def=parts)
    def mcq_parts(context: dg.AssetExecutionContext) -> pa.Table:
        rows = make_mcq_table.GOOD if context.partition_key == "good" else make_mcq_table.BAD
        return make_mcq_table(rows)

    def suite():
        seen.append("called")
        return mcq_suite()

    check = gx_asset_check(asset=mcq_parts, name=MCQ_CHECK, suite=suite, rules=[answer_letters_in_options()])
    spec = next(iter(check.check_specs))
    assert spec.partitions_def == parts  # inherited from the asset

    good = dg.materialize([mcq_parts, check], partition_key="good", resources={"io_manager": io_manager})
    bad = dg.materialize([mcq_parts, check], partition_key="bad", resources={"io_manager": io_manager})
    ev_good, ev_bad = _evals(good)[MCQ_CHECK], _evals(bad)[MCQ_CHECK]
    assert (ev_good.passed, ev_good.partition, ev_good.metadata["n_rows"].value) == (True, "good", 3)
    assert (ev_bad.passed, ev_bad.partition, ev_bad.metadata["n_rows"].value) == (False, "bad", 5)
    assert len(seen) == 2

    # Unpartitioned check on the partitioned asset: its input maps to ALL partitions.
    check_all = gx_asset_check(asset=mcq_parts, name="all_partitions", suite=id_suite, partitions_def=None)
    res = dg.materialize(
        [mcq_parts, check_all],
        selection=dg.AssetSelection.checks(check_all),
        resources={"io_manager": io_manager},
    )
    ev = _evals(res)["all_partitions"]
    assert ev.partition is None
    assert ev.metadata["n_rows"].value == 8  # both partitions, concatenated by as_table
    assert not ev.passed  # r1/r2 appear in both partitions


def test_multi_partition_key_check(make_mcq_table, io_manager):
    parts = dg.MultiPartitionsDefinition(
        {"src": dg.StaticPartitionsDefinition(["a"]), "day": dg.StaticPartitionsDefinition(["d1", "d2"])}
    )

    @dg.asset(partitions_def=parts)
    def mp(context: dg.AssetExecutionContext) -> pa.Table:
        return make_mcq_table(make_mcq_table.GOOD)

    check = gx_asset_check(asset=mp, name=MCQ_CHECK, suite=mcq_suite)
    key = dg.MultiPartitionKey({"src": "a", "day": "d2"})
    res = dg.materialize([mp, check], partition_key=key, resources={"io_manager": io_manager})
    ev = _evals(res)[MCQ_CHECK]
    assert ev.passed and ev.partition == key


def test_asset_with_check_specs_uses_gx_check_result(bad_table, io_manager):
    @dg.asset(check_specs=[gx_check_spec("combo", "ids"), gx_check_spec("combo", "status")])
    def combo():
        yield dg.Output(bad_table)
        yield gx_check_result(bad_table, suite=id_suite, asset_key="combo", check_name="ids")
        yield gx_check_result(bad_table, suite=mcq_suite, asset_key="combo", check_name="status")

    result = dg.materialize([combo], resources={"io_manager": io_manager})
    ev = _evals(result)
    assert not ev["ids"].passed and ev["ids"].metadata["failing_record_ids"].value == {
        "column_values_to_be_unique(record_id)": ["r2", "r2"]
    }
    assert not ev["status"].passed


def test_definitions_load(good_table, io_manager):
    asset = _make_asset(good_table)
    check = gx_asset_check(asset=asset, name=MCQ_CHECK, suite=mcq_suite, blocking=True, description="MCQ shape")
    defs = dg.Definitions(assets=[asset], asset_checks=[check], resources={"io_manager": io_manager})
    job = defs.resolve_implicit_global_asset_job_def()
    assert job is not None
    spec = next(iter(check.check_specs))
    assert spec.blocking and spec.description == "MCQ shape"
