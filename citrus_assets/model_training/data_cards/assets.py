"""Data card assets: one per checkpoint stage, each describing what its checkpoint was trained on.

``<stage>_data_card`` depends on ``<stage>_checkpoint``, builds the card with
:func:`citrus_assets.model_training.data_cards.cards.build_card` (lineage index + this Dagster instance), writes
``card.md`` and ``card.json`` next to its data (``<lake>/<stage>_data_card/__all__/``; through the lake's
filesystem, so s3 lakes work) and returns ONE row (``DATA_CARD_SCHEMA``) whose parent is the checkpoint's
record. The Markdown is the ``card`` metadata entry, so the UI shows it. Automation: eager, so a new
checkpoint materialization gets its card in the next tick.

Check :data:`DATA_CARD_COMPLETE` (per card asset, WARN severity, not blocking) fails when the card lists no
source file, an input without a data version (or without lineage), or a check whose latest evaluation failed.
"""

import json
import os
import uuid

import dagster as dg
import pyarrow as pa
from dagster._check import CheckError

from citrus_assets.common.metadata import output
from citrus_assets.model_training.checkpoints.assets import (
    cpt_checkpoint,
    rl_checkpoint,
    sft_stage1_checkpoint,
    sft_stage2_checkpoint,
    sft_stage3_checkpoint,
)
from citrus_assets.model_training.data_cards.cards import build_card, card_markdown
from quality import RowRule, between, gx_asset_check, id_suite, row_count_between
from resources.lake import Lake, LakeResource
from resources.lineage import LineageStore
from resources.lineage.ids import content_hash, record_id
from resources.lineage.settings import default_paths
from resources.lineage.writer import table_data_version

CODE_VERSION = "datacard-v1"
CARD_MD = "card.md"
CARD_JSON = "card.json"
DATA_CARD_COMPLETE = "data_card_complete"

DATA_CARD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),  # record_id("datacard", stage, checkpoint record id, card content hash)
        ("parent_ids", pa.list_(pa.string())),  # [the checkpoint's record id]
        ("stage", pa.string()),
        ("checkpoint_asset", pa.string()),
        ("checkpoint_data_version", pa.string()),
        ("complete", pa.bool_()),
        ("problems", pa.list_(pa.string())),
        ("n_inputs", pa.int64()),
        ("n_inputs_unversioned", pa.int64()),
        ("n_asset_partitions", pa.int64()),
        ("n_sources", pa.int64()),
        ("n_source_units", pa.int64()),
        ("n_models", pa.int64()),
        ("n_checks_evaluated", pa.int64()),
        ("n_failed_checks", pa.int64()),
        ("failed_checks", pa.list_(pa.string())),
        ("card_md_path", pa.string()),
        ("card_json_path", pa.string()),
        ("card_json", pa.string()),  # the whole card (canonical JSON)
    ]
)


def lineage_store(lk: Lake) -> LineageStore:
    """The lineage index of ``lk`` (the one path rule: ``$CITRUS_LINEAGE_DB`` or the lake's default)."""
    return LineageStore(lk.lineage_root, default_paths(lk.root).db_path)


def write_text(lk: Lake, path: str, text: str) -> str:
    """Atomically write UTF-8 ``text`` at ``path`` in the lake (temp name + rename); returns its address."""
    parent, name = path.rsplit("/", 1)
    lk.fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{name}"
    try:
        with lk.fs.open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8"))
        if lk.is_local:
            os.replace(tmp, path)
        else:
            lk.fs.mv(tmp, path)
    except BaseException:
        if lk.fs.exists(tmp):
            lk.fs.rm(tmp)
        raise
    return lk.url(path)


def defined_check_keys(context: dg.AssetExecutionContext) -> set[dg.AssetCheckKey]:
    """The asset checks of the code location (of this run's job when the run has no repository: in-process runs),
    so a check never evaluated is listed as such."""
    try:
        return set(context.repository_def.asset_graph.asset_check_keys)
    except CheckError:  # no repository in this run (execute_in_process, materialize)
        return set(context.job_def.asset_layer.asset_graph.asset_check_keys)


def card_table(stage: str, checkpoint_asset: str, card: dict, md_path: str, json_path: str) -> pa.Table:
    card_json = json.dumps(card, sort_keys=True, separators=(",", ":"), default=str)
    ck = card["checkpoint"]
    row = {
        "record_id": record_id("datacard", stage, ck["record_id"], content_hash(card_json)),
        "parent_ids": [ck["record_id"]] if ck["record_id"] else [],
        "stage": stage,
        "checkpoint_asset": checkpoint_asset,
        "checkpoint_data_version": ck["data_version"],
        "complete": card["complete"],
        "problems": card["problems"],
        "n_inputs": card["totals"]["n_inputs"],
        "n_inputs_unversioned": sum(not i["data_version"] for i in card["inputs"]),
        "n_asset_partitions": card["totals"]["n_asset_partitions"],
        "n_sources": card["totals"]["n_sources"],
        "n_source_units": card["totals"]["n_source_units"],
        "n_models": card["totals"]["n_models"],
        "n_checks_evaluated": card["checks"]["n_evaluated"],
        "n_failed_checks": card["checks"]["n_failed"],
        "failed_checks": card["checks"]["failed"],
        "card_md_path": md_path,
        "card_json_path": json_path,
        "card_json": card_json,
    }
    return pa.Table.from_pylist([row], schema=DATA_CARD_SCHEMA)


def data_card_asset(checkpoint: dg.AssetsDefinition, stage: str) -> dg.AssetsDefinition:
    """The ``<stage>_data_card`` asset of ``checkpoint``."""
    ckpt_name = checkpoint.key.to_user_string()
    name = f"{stage}_data_card"

    @dg.asset(
        name=name,
        code_version=CODE_VERSION,
        automation_condition=dg.AutomationCondition.eager(),
        kinds={"parquet", "markdown"},
        ins={"checkpoint": dg.AssetIn(key=checkpoint.key)},
        description=f"Data card of {ckpt_name} (Markdown + JSON): every source and asset partition it was trained "
        "on with data versions, record counts per stage, what filters, dedup and quarantine removed, "
        "decontamination, check results, and the models and prompt hashes that made synthetic data.",
    )
    def _card(context: dg.AssetExecutionContext, lake: LakeResource, checkpoint: pa.Table) -> dg.Output:
        lk = lake.lake()
        keys = defined_check_keys(context)
        with lineage_store(lk) as store:
            card = build_card(
                store,
                context.instance,
                ckpt_name,
                checkpoint,
                data_version=table_data_version(checkpoint),
                check_keys=keys,
            )
        md = card_markdown(card)
        md_path = write_text(lk, lk.data_path(name, None, CARD_MD), md)
        json_path = write_text(
            lk, lk.data_path(name, None, CARD_JSON), json.dumps(card, indent=2, sort_keys=True, default=str) + "\n"
        )
        for problem in card["problems"]:
            context.log.warning(f"{name}: {problem}")
        return output(
            card_table(stage, ckpt_name, card, md_path, json_path),
            card=dg.MetadataValue.md(md),
            card_md_path=dg.MetadataValue.path(md_path),
            card_json_path=dg.MetadataValue.path(json_path),
            complete=card["complete"],
            problems=dg.MetadataValue.json(card["problems"]),
            n_sources=card["totals"]["n_sources"],
            n_source_units=card["totals"]["n_source_units"],
            n_asset_partitions=card["totals"]["n_asset_partitions"],
            n_failed_checks=card["checks"]["n_failed"],
            sources=dg.MetadataValue.json([{"uri": s["uri"], "n_units": s["n_units"]} for s in card["sources"]]),
            models=dg.MetadataValue.json(card["models"]),
        )

    return _card


complete_rule = RowRule(
    name="card_complete",
    description="The card lists no problem (every input versioned and in the lineage, a source reached, "
    "no failed check).",
    derive=lambda df: [bool(v) for v in df["complete"]],
    columns=("complete",),
)


def data_card_check(card_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    return gx_asset_check(
        asset=card_asset,
        name=DATA_CARD_COMPLETE,
        blocking=False,
        description="The card lists at least one source file and input, every input has a data version, and no "
        "check on the checkpoint or its upstream data failed at its latest evaluation.",
        suite=lambda: (
            id_suite()
            + row_count_between(1, 1)
            + between("n_sources", 1, None)
            + between("n_inputs", 1, None)
            + between("n_inputs_unversioned", 0, 0)
            + between("n_failed_checks", 0, 0)
        ),
        rules=[complete_rule],
    )


STAGE_CHECKPOINTS = {
    "cpt": cpt_checkpoint,
    "sft_stage1": sft_stage1_checkpoint,
    "sft_stage2": sft_stage2_checkpoint,
    "sft_stage3": sft_stage3_checkpoint,
    "rl": rl_checkpoint,
}
data_card_assets = [data_card_asset(ckpt, stage) for stage, ckpt in STAGE_CHECKPOINTS.items()]
cpt_data_card, sft_stage1_data_card, sft_stage2_data_card, sft_stage3_data_card, rl_data_card = data_card_assets
data_card_checks = [data_card_check(a) for a in data_card_assets]
