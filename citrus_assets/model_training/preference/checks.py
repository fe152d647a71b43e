"""Great Expectations checks of the RL-stage data (names are constants).

- ``rejection_samples_valid``: ids, reward in {0, 1}, category known, rendered prompt holds its question.
- ``preference_pairs_valid`` (blocking): ids, category/rule known, chosen != rejected, conversational
  shape ([system, user] / [assistant]), prompt holds a non-empty <Question> block with the question and
  no template placeholder (the reference code stored a literal ``{Q}``).
- ``preference_pairs_verified`` (blocking): every chosen response re-checked correct and every rejected
  one incorrect by the answer rule, against the question stored with its sample in ``rejection_samples``.
- ``preference_pairs_current_sampler`` (blocking): every pair was sampled by the *current*
  ``sft_stage3_checkpoint`` (or by a model configured on purpose); pairs from a previous stage-3 model, or
  from an unknown one, fail it and RL does not train on them (model_training/preference/sampler.py).
"""

import re
import warnings

import dagster as dg
import pyarrow as pa

from citrus_assets.common.prompts import load_prompt
from citrus_assets.model_training.preference.assets import preference_pairs, rejection_samples
from citrus_assets.model_training.preference.pairs import ORIGINS, SELECTION_RULES, resolve_pair
from citrus_assets.model_training.preference.rejection import CATEGORIES, SYSTEM_PROMPT, USER_PROMPT, rescore
from citrus_assets.model_training.preference.sampler import sampler_report
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from quality import RowRule, gx_asset_check, gx_check_result, id_suite, not_null, values_in_set

REJECTION_SAMPLES_VALID = "rejection_samples_valid"
PREFERENCE_PAIRS_VALID = "preference_pairs_valid"
PREFERENCE_PAIRS_VERIFIED = "preference_pairs_verified"
PREFERENCE_PAIRS_CURRENT_SAMPLER = "preference_pairs_current_sampler"

_PLACEHOLDERS = {f"{{{f}}}" for n in (SYSTEM_PROMPT, USER_PROMPT) for f in load_prompt(n).fields} | {"{Q}"}
_QUESTION = re.compile(r"<Question>\s*(.*?)\s*</Question>", re.DOTALL)


def question_block(text) -> str:
    """The non-empty <Question> content of a rendered prompt, '' when absent or a placeholder is left."""
    if not isinstance(text, str) or any(p in text for p in _PLACEHOLDERS):
        return ""
    m = _QUESTION.search(text)
    return m.group(1) if m else ""


def _content(messages, k: int) -> str:
    msgs = list(messages) if messages is not None else []
    return msgs[k]["content"] if len(msgs) > k and msgs[k] is not None else ""


def _roles(messages) -> list:
    return [m["role"] for m in (list(messages) if messages is not None else [])]


def _prompt_has_question(row) -> bool:
    user = _content(row["prompt"], -1) if len(_roles(row["prompt"])) else ""
    q = question_block(user)
    return bool(q) and q in (row["prompt_text"] or "") and question_block(row["prompt_text"]) == q


samples_prompt_rule = RowRule(
    name="prompt_contains_question",
    description="The rendered prompt holds the sample's question inside <Question> tags, no placeholder left.",
    derive=lambda df: [
        bool(question_block(p)) and (q or "").strip() in p for p, q in zip(df["prompt"], df["question"])
    ],
    columns=("prompt", "question"),
)

samples_check = gx_asset_check(
    asset=rejection_samples,
    name=REJECTION_SAMPLES_VALID,
    blocking=False,
    description="Unique ids, one parent, reward 0/1, known category, model recorded, prompt holds its question.",
    suite=lambda: (
        id_suite()
        + not_null(["question_id", "response", "gen_model_id", "prompt"])
        + values_in_set("reward", [0.0, 1.0])
        + values_in_set("category", list(CATEGORIES))
    ),
    rules=[samples_prompt_rule],
)

chosen_differs = RowRule(
    name="chosen_differs_from_rejected",
    description="The chosen and the rejected response are different texts.",
    derive=lambda df: [_content(c, 0) != _content(r, 0) for c, r in zip(df["chosen"], df["rejected"])],
    columns=("chosen", "rejected"),
)
conversational = RowRule(
    name="conversational_shape",
    description="prompt = [system, user], chosen = rejected = [assistant] (TRL's conversational format).",
    derive=lambda df: [
        _roles(p) == ["system", "user"] and _roles(c) == ["assistant"] == _roles(r)
        for p, c, r in zip(df["prompt"], df["chosen"], df["rejected"])
    ],
    columns=("prompt", "chosen", "rejected"),
)
pair_prompt_rule = RowRule(
    name="prompt_contains_question",
    description="The user turn and prompt_text hold the same non-empty <Question> block, no placeholder left.",
    derive=lambda df: [_prompt_has_question(row) for _, row in df.iterrows()],
    columns=("prompt", "prompt_text"),
)

pairs_check = gx_asset_check(
    asset=preference_pairs,
    name=PREFERENCE_PAIRS_VALID,
    blocking=True,
    description="Unique ids, known category, rule and chosen origin, chosen != rejected, conversational rows, prompt holds its question.",
    suite=lambda: (
        id_suite()
        + not_null(["question_id", "prompt_text", "gen_model_id"])
        + values_in_set("category", list(CATEGORIES))
        + values_in_set("selection_rule", list(SELECTION_RULES))
        + values_in_set("chosen_origin", list(ORIGINS))
    ),
    rules=[chosen_differs, conversational, pair_prompt_rule],
)


def verification_table(pairs: pa.Table, samples: pa.Table) -> pa.Table:
    """Per pair: whether chosen re-checks correct, rejected incorrect, both answer the pair's question."""
    by_id = {s["record_id"]: s for s in samples.to_pylist()}
    rows = []
    for p in pairs.select(["record_id", "parent_ids", "chosen", "chosen_origin"]).to_pylist():
        parent, cs, rs = resolve_pair(p, by_id)
        rows.append(
            {
                "record_id": p["record_id"],
                "chosen_correct": cs is not None and rescore(cs),
                "rejected_incorrect": rs is not None and not rescore(rs),
                "same_question": cs is not None
                and rs is not None
                and cs["parent_ids"][0] == rs["parent_ids"][0] == parent,
            }
        )
    schema = pa.schema(
        [("record_id", pa.string())]
        + [(k, pa.bool_()) for k in ("chosen_correct", "rejected_incorrect", "same_question")]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _flag(name: str, description: str) -> RowRule:
    return RowRule(name=name, description=description, derive=lambda df: df[name].tolist(), columns=(name,))


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned asset checks: a Dagster 1.13 preview

    @dg.asset_check(
        asset=preference_pairs,
        name=PREFERENCE_PAIRS_VERIFIED,
        blocking=True,
        partitions_def=seed_sets,
        additional_ins={"rejection_samples": dg.AssetIn(key=rejection_samples.key)},
        description="Chosen re-checked correct and rejected incorrect by the answer rule (against rejection_samples).",
    )
    def preference_pairs_verified(context, preference_pairs: pa.Table, rejection_samples: pa.Table):
        return gx_check_result(
            verification_table(preference_pairs, rejection_samples),
            suite=lambda: id_suite(),
            rules=[
                _flag("chosen_correct", "the chosen response is correct by the rule"),
                _flag("rejected_incorrect", "the rejected response is incorrect by the rule"),
                _flag("same_question", "both samples answer the pair's question"),
            ],
            blocking=True,
            suite_name=f"preference_pairs.{PREFERENCE_PAIRS_VERIFIED}",
        )

    @dg.asset_check(
        asset=preference_pairs,
        name=PREFERENCE_PAIRS_CURRENT_SAMPLER,
        blocking=True,
        partitions_def=seed_sets,
        additional_ins={"sft_stage3_checkpoint": dg.AssetIn(key="sft_stage3_checkpoint")},
        description="Every pair was sampled by the current stage-3 checkpoint (RL never trains on stale pairs).",
    )
    def preference_pairs_current_sampler(context, preference_pairs: pa.Table, sft_stage3_checkpoint: pa.Table):
        report = sampler_report(preference_pairs, sft_stage3_checkpoint)
        return dg.AssetCheckResult(
            passed=report.ok,
            severity=dg.AssetCheckSeverity.ERROR,
            description=report.reason(),
            metadata={"sampler": dg.MetadataValue.json(report.as_metadata())},
        )


checks = [samples_check, pairs_check, preference_pairs_verified, preference_pairs_current_sampler]
