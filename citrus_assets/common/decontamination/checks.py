"""The blocking "decontaminated" check of every training-bound asset.

It reads the ``decontamination`` metadata the asset recorded (``decontamination.decontamination_metadata``)
and fails when the index was empty, unless the run config opted out explicitly
(``allow_no_decontamination: true``, which the metadata and the data card then show).
"""

import dagster as dg

from citrus_assets.common.decontamination.index import decontamination_ok

DECONTAMINATED = "decontaminated"


def decontamination_check(asset) -> dg.AssetChecksDefinition:
    key = asset.key
    name = f"{key.path[-1]}_{DECONTAMINATED}"

    @dg.asset_check(
        asset=asset,
        name=name,
        blocking=True,
        description="The rows were checked against a non-empty benchmark index (bundled evaluation "
        "sample + $CITRUS_EVAL_DATA/$CITRUS_DATA), or the run config says allow_no_decontamination.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(key)
        entry = (
            event.asset_materialization.metadata.get("decontamination")
            if event and event.asset_materialization
            else None
        )
        meta = getattr(entry, "value", entry)
        passed, why = decontamination_ok(meta if isinstance(meta, dict) else None)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "reason": why,
                "status": (meta or {}).get("status", "unknown") if isinstance(meta, dict) else "unknown",
                "index_items": (meta or {}).get("index_items", 0) if isinstance(meta, dict) else 0,
            },
        )

    return _check


def _checks() -> list:
    from citrus_assets.cpt_corpus.corpus.assets import cpt_documents
    from citrus_assets.model_training.preference.assets import preference_pairs
    from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix, sft_stage2_mix, sft_stage3_mix

    return [
        decontamination_check(a)
        for a in (sft_stage1_mix, sft_stage2_mix, sft_stage3_mix, cpt_documents, preference_pairs)
    ]


checks = _checks()
