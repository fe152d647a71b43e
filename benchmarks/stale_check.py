"""Cost of the ``built_on_current_data`` check (issue 19): Dagster's stale resolver over an asset and every
ancestor partition, on a toy graph shaped like ours (seed sets -> judge answers -> traces -> SFT examples,
dynamic partitions, into an unpartitioned mix -> checkpoint), in an on-disk (SQLite) instance.

For N seed sets (4N partitions upstream of the checkpoint) it times ``staleness.stale_upstream`` on the
checkpoint with nothing stale and with one seed set's seeds re-materialized (Dagster marks its answers
stale; the traces, examples, mix and checkpoint built on them are found by ``built_on_stale``: 5 in all).
Writes benchmarks/results/stale_check.md.

    .venv/bin/python -m benchmarks.stale_check
"""

import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402

from citrus_assets.common.scheduling import staleness  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "stale_check.md"
SIZES = (10, 40)
CHAIN = ("seeds", "answers", "traces", "examples")
VALUES: dict[str, str] = {}


def build(parts: dg.DynamicPartitionsDefinition):
    def out(v: str) -> dg.Output:
        return dg.Output(v, data_version=dg.DataVersion(v))

    @dg.asset(partitions_def=parts, code_version="1")
    def seeds(context) -> dg.Output:
        return out(VALUES.get(context.partition_key, "v"))

    @dg.asset(partitions_def=parts, code_version="1")
    def answers(seeds) -> dg.Output:
        return out(seeds + "a")

    @dg.asset(partitions_def=parts, code_version="1")
    def traces(answers) -> dg.Output:
        return out(answers + "t")

    @dg.asset(partitions_def=parts, code_version="1")
    def examples(traces) -> dg.Output:
        return out(traces + "e")

    assets = [seeds, answers, traces, examples]

    @dg.asset(code_version="1", ins={"examples": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())})
    def mix(examples) -> dg.Output:
        return dg.Output("m", data_version=dg.DataVersion(str(len(examples))))

    @dg.asset(code_version="1")
    def checkpoint(mix) -> dg.Output:
        return dg.Output(mix, data_version=dg.DataVersion(mix))

    return [*assets, mix, checkpoint]


class Mem(dg.IOManager):
    store: dict = {}

    def handle_output(self, context, obj):
        self.store[
            (context.asset_key.to_user_string(), context.partition_key if context.has_partition_key else None)
        ] = obj

    def load_input(self, context):
        name = context.asset_key.to_user_string()
        if context.has_asset_partitions and context.has_partition_key:
            return self.store[(name, context.asset_partition_key)]
        if context.has_asset_partitions:
            return {k: self.store[(name, k)] for k in context.asset_partition_keys}
        return self.store[(name, None)]


def measure(n: int) -> dict:
    parts = dg.DynamicPartitionsDefinition(name=f"sets{n}")
    defs = dg.Definitions(assets=build(parts), resources={"io_manager": Mem()})
    graph = defs.resolve_asset_graph()
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [f"s{i:03d}" for i in range(n)]
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        instance.add_dynamic_partitions(parts.name, keys)
        chain = job.get_subset(asset_selection={dg.AssetKey(c) for c in CHAIN})
        for k in keys:
            chain.execute_in_process(instance=instance, partition_key=k)
        job.get_subset(asset_selection={dg.AssetKey("mix"), dg.AssetKey("checkpoint")}).execute_in_process(
            instance=instance
        )
        out = {}
        for label in ("nothing stale", "one seed set changed"):
            if label != "nothing stale":
                VALUES[keys[0]] = "changed"
                job.get_subset(asset_selection={dg.AssetKey("seeds")}).execute_in_process(
                    instance=instance, partition_key=keys[0]
                )
            t0 = time.perf_counter()
            stale = staleness.stale_upstream(instance, graph, dg.AssetKey("checkpoint"))
            out[label] = (time.perf_counter() - t0, len(stale))
        VALUES.clear()
    return out


def main() -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for n in SIZES:
        r = measure(n)
        rows += [f"| {n} | {4 * n + 1} | {label} | {s:.2f} | {k} |" for label, (s, k) in r.items()]
    lines = [
        "# The stale-data check: cost of one evaluation (issue 19)",
        "",
        f"Machine: {os.cpu_count()} CPU cores, shared (load average {load} at the start); SQLite instance on "
        "local disk; one `staleness.stale_upstream(checkpoint)` call (what the `built_on_current_data` check "
        "does once per checkpoint/mix materialization).",
        "",
        "| seed sets | materialized partitions upstream | state | seconds | stale partitions found |",
        "|---:|---:|---|---:|---:|",
        *rows,
        "",
        "Run: `.venv/bin/python -m benchmarks.stale_check`",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
