"""Checkpoint assets: CPT -> SFT stage 1 -> 2 -> 3 -> RL (CPO-SimPO), each starting from the previous model.

Each asset trains out of process (``training.launch``: ``python -m training.run`` or accelerate/deepspeed),
streams the trainer's lines into the Dagster log, saves an HF model under
``<checkpoint root>/<stage>/<run key>/model`` and returns ONE row (``CHECKPOINT_SCHEMA``). Metadata: input
data versions, hyper-parameters, steps, tokens seen, wall time, loss curve, weights hash (and the bandit's
source proportions for CPT). ``checkpoint_inputs`` lineage is written so ``citrus lineage impact`` on a source
reaches every checkpoint trained on it.

Automation (``citrus_assets.common.scheduling.automation.RETRAIN``): a checkpoint is requested when an input's
*data version* changed (a re-run that produced the same data does not retrain) and every blocking check of its inputs passed. The asset also
refuses to train when the latest evaluation of a blocking check on an input failed (:func:`require_blocking_checks`).
"""

import time

import dagster as dg
import pyarrow as pa

from citrus_assets.common.metadata import output
from citrus_assets.common.scheduling.automation import RETRAIN, RETRAIN_ON_CURRENT_PAIRS
from citrus_assets.model_training.checkpoints.checkpointing import checkpoint_table, line_chart_md, png_md, train_stage
from citrus_assets.model_training.checkpoints.training_config import (
    CPORunConfig,
    CPTRunConfig,
    SFTRunConfig,
    TrainingResource,
    trainer_config,
)
from citrus_assets.model_training.preference.sampler import sampler_report
from resources.lake import PARTITION_ROWS_METADATA, LakeResource, split_partitions
from resources.lineage.ids import canonical_json
from resources.lineage.writer import LineageWriter, table_data_version
from training.config import KINDS as TRAINER_KINDS
from training.launch import TrainingFailed

# RETRAIN: a new input data version whose blocking checks passed; RL also waits while its pairs are
# re-sampled from a retrained stage 3 (citrus_assets/common/scheduling/automation.py).

SFT_COLUMNS = ["messages"]
CPO_COLUMNS = ["prompt", "chosen", "rejected"]
CPT_COLUMNS = ["source", "shard", "path", "documents", "tokens"]


def failed_blocking_checks(instance: dg.DagsterInstance, inputs: list[str], limit: int = 2000) -> list[str]:
    """Blocking checks on ``inputs`` whose latest evaluation did not pass (read from the event log, so it
    works whatever definitions the run was started from)."""
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=limit, ascending=False
    )
    wanted = {dg.AssetKey(a) for a in inputs}
    latest: dict = {}
    for rec in records:  # newest first: the first seen per check is its latest evaluation
        ev = rec.event_log_entry.dagster_event.event_specific_data
        if ev.asset_key in wanted and (ev.asset_key, ev.check_name) not in latest:
            latest[(ev.asset_key, ev.check_name)] = ev
    return sorted(
        f"{k.to_user_string()}:{name}"
        for (k, name), ev in latest.items()
        if getattr(ev, "blocking", False) and not ev.passed
    )


def require_blocking_checks(context: dg.AssetExecutionContext, inputs: list[str]) -> None:
    """Fail before training if the latest evaluation of any blocking check on an input did not pass."""
    failed = failed_blocking_checks(context.instance, inputs)
    if failed:
        raise dg.Failure(
            description=f"not training on data whose blocking checks failed: {', '.join(failed)}",
            metadata={"failed_checks": failed},
        )


def input_partitions(asset: str, table: pa.Table) -> list[tuple[str, str | None, str]]:
    """(asset, partition, data version) of every partition a checkpoint read: a partitioned input (read
    with ``Lake.read_partitions``) is recorded per partition, so lineage and data cards find each one."""
    if PARTITION_ROWS_METADATA in (table.schema.metadata or {}):
        return [(asset, p, table_data_version(t)) for p, t in split_partitions(table).items()]
    return [(asset, None, table_data_version(table))]


def _train(
    context: dg.AssetExecutionContext,
    *,
    stage: str,
    kind: str,
    run,
    training: TrainingResource,
    lake: LakeResource,
    data_asset: str,
    data: pa.Table,
    columns: list[str],
    previous: pa.Table | None = None,
    previous_asset: str = "",
) -> dg.Output:
    require_blocking_checks(context, [data_asset] + ([previous_asset] if previous_asset else []))
    if kind == "cpo":  # RL never trains on pairs sampled from another stage-3 model than the one it starts from
        report = sampler_report(data, previous)
        if data.num_rows and not report.ok:
            raise dg.Failure(
                description=f"{data_asset}: {report.reason()}",
                metadata={"sampler": dg.MetadataValue.json(report.as_metadata())},
            )
    if data.num_rows == 0:
        hint = (
            " (no question had both a correct and a wrong sample: use a stronger sampling model, more "
            "samples, or preference_pairs config reference_chosen: true)"
            if kind == "cpo"
            else ""
        )
        raise dg.Failure(description=f"{data_asset} is empty: nothing to train on{hint}")
    data_versions = {data_asset: table_data_version(data)}
    parents: list[str] = []
    if previous is not None:
        prev = previous.to_pylist()[0]
        base = prev["model_path"]
        data_versions[previous_asset] = table_data_version(previous)
        parents = [prev["record_id"]]
    else:
        base = training.base_model_path()
    cfg = trainer_config(run, TRAINER_KINDS[kind], base, training.bf16)
    metrics: list[dict] = []

    def on_metric(m: dict) -> None:
        metrics.append(m)
        if m.get("event") == "log" and "loss" in m:
            context.log.info(f"[{stage}] step {m.get('step')} loss {m['loss']:.4f}")
        elif m.get("event") in ("resume", "checkpoint", "runtime"):
            context.log.info(f"[{stage}] {m['event']}: {canonical_json({k: v for k, v in m.items() if k != 'event'})}")

    t0 = time.perf_counter()
    try:
        outcome = train_stage(
            cfg,
            stage=stage,
            data_table=data,
            data_columns=columns,
            data_versions=data_versions,
            root=training.root(lake.lake()),
            spec=training.spec(),
            reuse=run.reuse,
            keep_step_checkpoints=training.keep_step_checkpoints,
            on_line=lambda line: context.log.debug(f"[{stage}] {line}"),
            on_metric=on_metric,
        )
    except TrainingFailed as exc:
        raise dg.Failure(
            description=f"{stage} training failed (exit {exc.returncode}):\n" + "\n".join(exc.tail[-15:]),
            metadata={"error_tail": dg.MetadataValue.text("\n".join(exc.tail))},
        ) from None
    result = outcome.result
    if outcome.reused:
        context.log.info(f"[{stage}] inputs and settings unchanged: reusing {outcome.run_dir}")
    table = checkpoint_table(stage, result, base_model=base, parent_ids=parents, data_versions=data_versions)
    dv = table_data_version(table)
    LineageWriter(lake.lake().lineage_root).write_checkpoint_inputs(
        checkpoint_asset=context.asset_key.to_user_string(),
        checkpoint_partition=None,
        checkpoint_data_version=dv,
        run_id=context.run.run_id,
        inputs=input_partitions(data_asset, data)
        + (input_partitions(previous_asset, previous) if previous is not None else []),
    )
    curve = [tuple(p) for p in result.get("loss_curve", [])]
    md = {
        "model_path": dg.MetadataValue.path(result["model_path"]),
        "base_model": base,
        "weights_sha256": result["weights_sha256"],
        "input_data_versions": dg.MetadataValue.json(data_versions),
        "hyperparameters": dg.MetadataValue.json(result["hyperparameters"]),
        "steps": int(result["steps"]),
        "tokens_seen": int(result["tokens_seen"]),
        "train_wall_s": float(result["wall_s"]),
        "step_wall_s": round(time.perf_counter() - t0, 2),
        "final_loss": float(result["final_loss"]),
        "reused": outcome.reused,
        "resumed_from": str(result.get("resumed_from") or ""),
        "runtime": dg.MetadataValue.json(result.get("runtime") or {}),
        "loss_curve": line_chart_md({stage: curve}, f"{stage} training loss", "optimizer step", "loss"),
    }
    if result.get("bandit_plot"):
        md["bandit_shares"] = dg.MetadataValue.json(result.get("bandit_shares", {}))
        md["bandit_proportions"] = png_md(result["bandit_plot"], "CPT source sampling probabilities")
    return output(table, **md)


_KINDS = {"parquet", "pytorch"}


@dg.asset(
    code_version="cptckpt-v1",
    automation_condition=RETRAIN,
    kinds=_KINDS,
    description="Continued pre-training of the base model on the CPT shards; an EXP3 bandit over sources "
    "(reward = recent loss) sets the mix. One row: the saved HF model.",
)
def cpt_checkpoint(
    context: dg.AssetExecutionContext,
    config: CPTRunConfig,
    training: TrainingResource,
    lake: LakeResource,
    cpt_shards: pa.Table,
) -> dg.Output:
    return _train(
        context,
        stage="cpt",
        kind="cpt",
        run=config,
        training=training,
        lake=lake,
        data_asset="cpt_shards",
        data=cpt_shards,
        columns=CPT_COLUMNS,
        previous=None,
    )


@dg.asset(
    code_version="sft1ckpt-v1",
    automation_condition=RETRAIN,
    kinds=_KINDS,
    description="SFT stage 1 (general instruction following) from the CPT checkpoint, assistant-only loss.",
)
def sft_stage1_checkpoint(
    context: dg.AssetExecutionContext,
    config: SFTRunConfig,
    training: TrainingResource,
    lake: LakeResource,
    cpt_checkpoint: pa.Table,
    sft_stage1_mix: pa.Table,
) -> dg.Output:
    return _train(
        context,
        stage="sft_stage1",
        kind="sft",
        run=config,
        training=training,
        lake=lake,
        data_asset="sft_stage1_mix",
        data=sft_stage1_mix,
        columns=SFT_COLUMNS,
        previous=cpt_checkpoint,
        previous_asset="cpt_checkpoint",
    )


@dg.asset(
    code_version="sft2ckpt-v1",
    automation_condition=RETRAIN,
    kinds=_KINDS,
    description="SFT stage 2 (harder, multi-turn instructions) from the stage-1 checkpoint.",
)
def sft_stage2_checkpoint(
    context: dg.AssetExecutionContext,
    config: SFTRunConfig,
    training: TrainingResource,
    lake: LakeResource,
    sft_stage1_checkpoint: pa.Table,
    sft_stage2_mix: pa.Table,
) -> dg.Output:
    return _train(
        context,
        stage="sft_stage2",
        kind="sft",
        run=config,
        training=training,
        lake=lake,
        data_asset="sft_stage2_mix",
        data=sft_stage2_mix,
        columns=SFT_COLUMNS,
        previous=sft_stage1_checkpoint,
        previous_asset="sft_stage1_checkpoint",
    )


@dg.asset(
    code_version="sft3ckpt-v1",
    automation_condition=RETRAIN,
    kinds=_KINDS,
    description="SFT stage 3 (medical long chain-of-thought, Citrus_S3) from the stage-2 checkpoint.",
)
def sft_stage3_checkpoint(
    context: dg.AssetExecutionContext,
    config: SFTRunConfig,
    training: TrainingResource,
    lake: LakeResource,
    sft_stage2_checkpoint: pa.Table,
    sft_stage3_mix: pa.Table,
) -> dg.Output:
    return _train(
        context,
        stage="sft_stage3",
        kind="sft",
        run=config,
        training=training,
        lake=lake,
        data_asset="sft_stage3_mix",
        data=sft_stage3_mix,
        columns=SFT_COLUMNS,
        previous=sft_stage2_checkpoint,
        previous_asset="sft_stage2_checkpoint",
    )


@dg.asset(
    code_version="rlckpt-v1",
    automation_condition=RETRAIN_ON_CURRENT_PAIRS,
    kinds=_KINDS,
    description="RL stage: CPO-SimPO (TRL CPOTrainer, loss_type=simpo) on the preference pairs, from the "
    "stage-3 checkpoint.",
)
def rl_checkpoint(
    context: dg.AssetExecutionContext,
    config: CPORunConfig,
    training: TrainingResource,
    lake: LakeResource,
    sft_stage3_checkpoint: pa.Table,
    preference_pairs: pa.Table,
) -> dg.Output:
    return _train(
        context,
        stage="rl",
        kind="cpo",
        run=config,
        training=training,
        lake=lake,
        data_asset="preference_pairs",
        data=preference_pairs,
        columns=CPO_COLUMNS,
        previous=sft_stage3_checkpoint,
        previous_asset="sft_stage3_checkpoint",
    )


checkpoint_assets = [cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint, rl_checkpoint]
