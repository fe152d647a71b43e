"""Stand-in inputs for measuring or testing one evaluation asset alone: a checkpoint row that points at a
model folder and a small JMED release, materialized through the lake's IO manager (so they are committed
like real outputs and read back by the real assets). Used by ``benchmarks/jmed_eval.py`` and the UI test;
never by the code location."""

import dagster as dg
import pyarrow as pa

from citrus_assets.jmed.schemas import BENCHMARK_SCHEMA
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from resources.lineage.ids import record_id

LETTERS = [chr(ord("A") + i) for i in range(21)]  # A-U, as the JMED builder


def checkpoint_row(stage: str, model_path: str, sha: str = "") -> dict:
    sha = sha or f"standin-{stage}"
    return {
        "record_id": record_id("ckpt", stage, sha),
        "parent_ids": [],
        "stage": stage,
        "model_path": model_path,
        "base_model": model_path,
        "weights_sha256": sha,
        "steps": 0,
        "tokens_seen": 0,
        "wall_s": 0.0,
        "final_loss": 0.0,
        "hyperparameters": "{}",
        "data_versions": "{}",
    }


def jmed_release(month: str, n: int) -> pa.Table:
    """``n`` JMED-format items (21 options A-U, the last 'None of the above'; item 2 has two answers)."""
    diagnoses = [
        "Acute bronchitis",
        "Community-acquired pneumonia",
        "Asthma",
        "Allergic rhinitis",
        "Gastro-oesophageal reflux",
        "Migraine",
        "Tension-type headache",
        "Urinary tract infection",
        "Iron deficiency anaemia",
        "Hypothyroidism",
        "Type 2 diabetes mellitus",
        "Essential hypertension",
        "Atopic dermatitis",
        "Acute gastroenteritis",
        "Irritable bowel syndrome",
        "Acute pharyngitis",
        "Otitis media",
        "Conjunctivitis",
        "Lumbar strain",
        "Anxiety disorder",
    ]
    rows = []
    for i in range(n):
        answer = ["B", "L"] if i % 3 == 1 else [LETTERS[i % 20]]
        options = [{"letter": L, "text": d} for L, d in zip(LETTERS, diagnoses)] + [
            {"letter": "U", "text": "None of the above"}
        ]
        rows.append(
            {
                "record_id": record_id("jmeditem", month, i),
                "parent_ids": [],
                "id": f"JMED-{month}-{i:04d}",
                "department": "general practice",
                "month": month,
                "language": "en",
                "age": 30 + i,
                "sex": "F",
                "tiers_approved": 3,
                "options": options,
                "answer": answer,
                "question": f"Patient {i}: {30 + i}-year-old woman with cough, fever for {i + 2} days and "
                "crackles at the right base. What is the most likely diagnosis?",
            }
        )
    return pa.Table.from_pylist(rows, schema=BENCHMARK_SCHEMA)


def materialize_standins(
    instance: dg.DagsterInstance,
    resources: dict,
    *,
    month: str,
    items: int,
    model_path: str,
    stage: str = "rl",
    trained_on: list[tuple[str, str | None, str | None]] = (),
) -> None:
    """Materialize ``<stage>_checkpoint`` and ``jmed_benchmark[month]`` stand-ins into ``instance`` and the lake
    of ``resources["io_manager"]`` (the real IO manager: data + lineage commit). ``trained_on`` (asset,
    partition, data version) is recorded as the checkpoint's training inputs, as the checkpoint assets do."""
    from citrus_assets.jmed.assets import dialogue_months
    from resources.lake import LakeResource
    from resources.lineage import LineageWriter, table_data_version

    @dg.asset(name=f"{stage}_checkpoint")
    def _checkpoint(context: dg.AssetExecutionContext, lake: LakeResource) -> pa.Table:
        table = pa.Table.from_pylist([checkpoint_row(stage, model_path)], schema=CHECKPOINT_SCHEMA)
        if trained_on:
            LineageWriter(lake.lake().lineage_root).write_checkpoint_inputs(
                checkpoint_asset=f"{stage}_checkpoint",
                checkpoint_partition=None,
                checkpoint_data_version=table_data_version(table),
                run_id=context.run.run_id,
                inputs=list(trained_on),
            )
        return table

    @dg.asset(name="jmed_benchmark", partitions_def=dialogue_months)
    def _release(context: dg.AssetExecutionContext) -> pa.Table:
        return jmed_release(context.partition_key, items)

    if month not in instance.get_dynamic_partitions(dialogue_months.name):
        instance.add_dynamic_partitions(dialogue_months.name, [month])
    io = {"io_manager": resources["io_manager"], "lake": resources["lake"]}
    dg.materialize([_checkpoint], instance=instance, resources=io)
    dg.materialize([_release], instance=instance, resources=io, partition_key=month)
