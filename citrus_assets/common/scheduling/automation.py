"""The automation conditions of the chain (Dagster declarative automation, 1.13).

With the inbox sensors and the automation sensor on (UI, *Automation*), a new or edited seed file is
materialized by ``seed_inbox_sensor`` and then flows, one tick after another, through

    judge_answers -> question_difficulty ─────────────────────────────┐
    open_questions -> reasoning_traces -> sft_examples -> sft_stage3_mix -> sft_stage3_checkpoint
    sft_stage3_checkpoint -> rejection_samples (every seed set) -> preference_pairs -> rl_checkpoint

:data:`ON_NEW_DATA` (data assets, the LLM steps included) asks for a partition when it is new, or when the
*data version* of an input changed (a re-run that produced the same data starts nothing downstream), once
no input is missing or running and every blocking check of the inputs passed. Runs it starts are
automatic runs: LLM steps obey the cost guard (``citrus_assets/common/cost_guard.py``).

:data:`RETRAIN` (the checkpoints) is the same rule. :data:`RETRAIN_ON_CURRENT_PAIRS` (``rl_checkpoint``)
also waits for pairs from the new stage-3 model: when stage 3 retrains, ``rejection_samples`` (which
depends on ``sft_stage3_checkpoint``) re-samples every seed set and RL waits until ``preference_pairs`` is
updated after the retrain, instead of training at once on pairs sampled from the previous model (the
blocking check ``preference_pairs_current_sampler`` and ``rl_checkpoint`` itself refuse
stale pairs too, whatever starts the run: if one seed set's pairs are still stale when another's are
rebuilt, the RL run stops cleanly and the next update retriggers it).

Known cost: a new seed file reaches ``rejection_samples`` while stage 3 is retraining on it, so its new
partition is sampled once from the current stage-3 model and again after the retrain.
"""

import dagster as dg

AC = dg.AutomationCondition

_NEW_DATA = (
    AC.newly_missing() | AC.any_deps_match(AC.data_version_changed()).with_label("any_deps_data_changed")
).since_last_handled()
_READY = ~AC.any_deps_missing() & ~AC.any_deps_in_progress() & ~AC.in_progress() & AC.all_deps_blocking_checks_passed()

ON_NEW_DATA = (_NEW_DATA & _READY).with_label("on_new_data")
RETRAIN = (_NEW_DATA & _READY).with_label("retrain_on_new_data")


def _dep_updated(name: str) -> dg.AutomationCondition:
    return AC.any_deps_match(AC.newly_updated()).allow(dg.AssetSelection.assets(name)).with_label(f"{name}_updated")


# True from the tick the stage-3 checkpoint is seen updated until preference_pairs is seen updated after it.
# (AC.will_be_requested() cannot see a dependency of another partitioning in the same tick, so the wait is
# keyed on updates, which any tick can see.)
STAGE3_NEWER_THAN_PAIRS = (
    _dep_updated("sft_stage3_checkpoint").since(_dep_updated("preference_pairs")).with_label("stage3_newer_than_pairs")
)
# ... and never in the tick that retrains stage 3 itself (same partitioning: will_be_requested sees it).
_STAGE3_REQUESTED = AC.any_deps_match(AC.will_be_requested()).with_label("an_input_will_be_requested")
RETRAIN_ON_CURRENT_PAIRS = (_NEW_DATA & _READY & ~STAGE3_NEWER_THAN_PAIRS & ~_STAGE3_REQUESTED).with_label(
    "retrain_on_current_pairs"
)


def with_automation(assets: list, condition: dg.AutomationCondition, names: tuple[str, ...]) -> list:
    """``assets`` with ``condition`` set on those named in ``names`` (a stage's defs declare its chain here,
    in one place, rather than in each asset module)."""
    wanted = set(names)
    found = {k.to_user_string() for a in assets for k in a.keys} & wanted
    if found != wanted:
        raise ValueError(f"with_automation: no such asset(s) {sorted(wanted - found)}")
    return [
        dg.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition), [a])[0]
        if {k.to_user_string() for k in a.keys} & wanted
        else a
        for a in assets
    ]
