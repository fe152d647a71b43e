"""A tiny code location for the instance-concurrency drill: one partitioned job of two cheap assets, run
in-process, so that each run costs little more than starting its worker. The first step holds for a moment,
so that runs started together really overlap."""

import os
import time

import dagster as dg

PARTITIONS = dg.StaticPartitionsDefinition([f"p{i}" for i in range(12)])


@dg.asset(partitions_def=PARTITIONS)
def tally(context: dg.AssetExecutionContext) -> dict:
    time.sleep(float(os.environ.get("CITRUS_DRILL_STEP_S", "2")))
    return {"partition": context.partition_key, "n": int(context.partition_key[1:]), "pid": os.getpid()}


@dg.asset(partitions_def=PARTITIONS)
def tally_doubled(context: dg.AssetExecutionContext, tally: dict) -> dict:
    context.add_output_metadata({"n": tally["n"]})
    return {**tally, "n2": 2 * tally["n"]}


tally_job = dg.define_asset_job(
    "tally_job", selection=[tally, tally_doubled], partitions_def=PARTITIONS, executor_def=dg.in_process_executor
)

defs = dg.Definitions(assets=[tally, tally_doubled], jobs=[tally_job], executor=dg.in_process_executor)
