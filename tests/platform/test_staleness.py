"""Stale inputs are visible: ``common/staleness.py`` on a toy graph shaped like ours (seed-set partitions ->
partitioned traces -> an unpartitioned mix -> a checkpoint), in an ephemeral instance."""

import dagster as dg

from citrus_assets.common.scheduling import staleness

parts = dg.DynamicPartitionsDefinition(name="toy_sets")
VALUES = {"s1": "a", "s2": "b"}


@dg.asset(partitions_def=parts, code_version="1")
def toy_seeds(context) -> dg.Output:
    v = VALUES[context.partition_key]
    return dg.Output(v, data_version=dg.DataVersion(v))


@dg.asset(partitions_def=parts, code_version="1")
def toy_traces(toy_seeds) -> dg.Output:
    return dg.Output(toy_seeds + "!", data_version=dg.DataVersion(toy_seeds + "!"))


@dg.asset(code_version="1", ins={"toy_traces": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())})
def toy_mix(toy_traces) -> dg.Output:
    v = ",".join(sorted(toy_traces.values()))
    return dg.Output(v, data_version=dg.DataVersion(v))


@dg.asset(code_version="1")
def toy_checkpoint(toy_mix) -> dg.Output:
    return dg.Output(toy_mix, data_version=dg.DataVersion(toy_mix))


def _defs():
    return dg.Definitions(
        assets=[toy_seeds, toy_traces, toy_mix, toy_checkpoint],
        asset_checks=[staleness.current_data_check("toy_checkpoint")],
        jobs=[dg.define_asset_job("toy_check_job", selection=dg.AssetSelection.checks_for_assets("toy_checkpoint"))],
        resources={"io_manager": dg.mem_io_manager},
    )


def test_stale_partition_upstream_of_a_checkpoint_is_reported(monkeypatch):
    defs = _defs()
    graph = defs.resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("toy_sets", ["s1", "s2"])
    job = defs.resolve_implicit_global_asset_job_def()
    io = {}  # one in-memory IO manager across runs, as the lake is for the real assets

    class Shared(dg.IOManager):
        def handle_output(self, context, obj):
            io[(context.asset_key.to_user_string(), context.partition_key if context.has_partition_key else None)] = obj

        def load_input(self, context):
            name = context.asset_key.to_user_string()
            if context.has_asset_partitions and context.has_partition_key:  # partition to partition
                return io[(name, context.asset_partition_key)]
            if context.has_asset_partitions:  # every partition into an unpartitioned asset
                return {k: io[(name, k)] for k in context.asset_partition_keys}
            return io[(name, None)]

    def run(keys, partition=None):
        sel = job.get_subset(asset_selection={dg.AssetKey(k) for k in keys})
        return sel.execute_in_process(instance=instance, partition_key=partition, resources={"io_manager": Shared()})

    for p in ("s1", "s2"):
        run(["toy_seeds", "toy_traces"], p)
    res = run(["toy_mix", "toy_checkpoint"])
    [ev] = res.get_asset_check_evaluations()
    assert ev.passed and ev.metadata["stale_partitions"].value == 0
    assert staleness.stale_upstream(instance, graph, dg.AssetKey("toy_checkpoint")) == []

    monkeypatch.setitem(VALUES, "s2", "changed")  # new seed data for one set; its traces not rebuilt
    run(["toy_seeds"], "s2")
    stale = staleness.stale_upstream(instance, graph, dg.AssetKey("toy_checkpoint"))
    assert [(s.asset, s.partition) for s in stale] == [
        ("toy_traces", "s2"),
        ("toy_checkpoint", None),
        ("toy_mix", None),
    ]
    assert "toy_seeds[s2]" in stale[0].causes[0]
    assert stale[1].causes == ("built on stale toy_traces[s2]",)
    out = staleness.check_result("toy_checkpoint", stale)
    assert not out["passed"] and out["severity"] == dg.AssetCheckSeverity.WARN
    assert "toy_traces | s2" in out["metadata"]["stale_list"].value
    assert "toy_checkpoint is stale and built on 2 stale upstream partition(s)" in out["description"]

    # the check itself, executed on demand, warns (non-blocking)
    res = defs.resolve_job_def("toy_check_job").execute_in_process(instance=instance)
    [ev] = res.get_asset_check_evaluations()
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.metadata["stale_by_asset"].value == {"toy_traces": 1, "toy_mix": 1, "toy_checkpoint": 1}

    run(["toy_traces"], "s2")  # rebuilt: now the mix (and through it the checkpoint) is what is stale
    stale = staleness.stale_upstream(instance, graph, dg.AssetKey("toy_checkpoint"))
    assert [(s.asset, s.partition) for s in stale] == [("toy_mix", None), ("toy_checkpoint", None)]


def test_every_watched_asset_has_the_check():
    from citrus_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for name in staleness.WATCHED:
        assert staleness.CHECK_NAME in {c.name for c in graph.get(dg.AssetKey(name)).check_keys}, name
    assert defs.resolve_sensor_def("stale_data_sensor") is not None


def test_sensor_reports_the_check_of_materialized_watched_assets(tmp_path, monkeypatch):
    """stale_data_sensor evaluates built_on_current_data for every watched asset that has been materialized
    (here only a stand-in rl_checkpoint), launching no run."""
    monkeypatch.setenv("CITRUS_LAKE", str(tmp_path / "lake"))
    from citrus_assets.definitions import build_definitions
    from citrus_assets.evaluation.standins import materialize_standins
    from citrus_assets.resources_config import build_resources

    defs = build_definitions(build_resources())
    instance = dg.DagsterInstance.ephemeral()
    materialize_standins(instance, defs.resources, month="2026-11", items=1, model_path="standin")
    ctx = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
    result = staleness.stale_data_sensor(ctx)
    assert not result.run_requests
    assert [(e.asset_key.to_user_string(), e.check_name) for e in result.asset_events] == [
        ("rl_checkpoint", staleness.CHECK_NAME)
    ]
    [ev] = result.asset_events
    assert ev.severity == dg.AssetCheckSeverity.WARN and "stale_partitions" in ev.metadata
