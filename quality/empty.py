"""No empty stage behind a green check: what an asset check does with an EMPTY input.

Every column expectation passes on a table with no rows, so a check built only from them cannot fail on
an empty partition — a defect. What happens instead depends on the asset (the table below):

- ``error``: the asset exists to produce rows and a checkpoint trains on it. Every GX check of the asset
  (``gx_asset_check``, ``gx_check_result``) fails on an empty input with severity ERROR: a blocking check
  stops the run, and the automation never trains on it.
- ``warn``: an empty partition is a real outcome of bad input or a weak model (every line quarantined, no
  trace verified by a 135M model). The asset's non-blocking check ``has_rows`` (``quality.checks.rows_checks``,
  added to the code location for every such asset) fails with severity WARN and quotes the reason the asset
  recorded (metadata ``empty_reason``, ``citrus_assets/common/empty.py``). Non-blocking on purpose: Dagster's
  automation treats any failed *blocking* check as "not passed" whatever its severity, so an empty seed set
  would otherwise stop stage 3 and RL for every other seed set. The main job's summary shows it as EMPTY.
- ``allow``: empty is a normal, documented outcome (the reason is given here).
- ``covered``: the asset's own suite already requires rows (a checkpoint or data card: exactly one row).

Assets not listed get :data:`DEFAULT` (``warn``).
"""

from __future__ import annotations

ERROR, WARN, ALLOW, COVERED = "error", "warn", "allow", "covered"
HAS_ROWS = "has_rows"  # the name of the non-blocking row-count check of every "warn" asset
DEFAULT = WARN

# asset -> (policy, why). Partitioned data assets warn (one bad file must not stop the lake); what a
# checkpoint trains on must not be empty.
EMPTY_POLICY: dict[str, tuple[str, str]] = {
    # CPT corpus
    "pdf_documents": (WARN, "a batch whose PDFs are all unreadable is quarantined, not fatal"),
    "web_documents": (WARN, "a shard whose documents are all filtered out keeps them in rejects.parquet"),
    "web_corpus": (WARN, "the web is one CPT source of several"),
    "textbook_chunks": (WARN, "a textbook batch with no extractable text"),
    "textbook_questions": (WARN, "every generation dropped (refused, off topic, empty)"),
    "cpt_documents": (ERROR, "cpt_checkpoint trains on it"),
    "cpt_shards": (ERROR, "cpt_checkpoint trains on it"),
    # reasoning data (one partition per seed file)
    "question_seeds": (WARN, "a seed file whose lines are all quarantined"),
    "judge_answers": (WARN, "follows question_seeds"),
    "question_difficulty": (WARN, "follows question_seeds"),
    "open_questions": (WARN, "every rewrite quarantined (rule fallback off)"),
    "reasoning_traces": (WARN, "no trace verified: the model cannot solve the questions"),
    "sft_examples": (WARN, "no verified trace to rewrite, or every rewrite dropped"),
    "instruction_examples": (WARN, "an instruction file whose lines are all quarantined"),
    "sft_stage1_mix": (ERROR, "sft_stage1_checkpoint trains on it"),
    "sft_stage2_mix": (ERROR, "sft_stage2_checkpoint trains on it"),
    "sft_stage3_mix": (ERROR, "sft_stage3_checkpoint trains on it"),
    # RL data (per seed set; rl_checkpoint refuses an empty union itself)
    "rejection_samples": (WARN, "no open question to sample"),
    "preference_pairs": (WARN, "no question had both a correct and a wrong sample"),
    # checkpoints and data cards: their suites already require exactly one row
    **{
        f"{stage}_{kind}": (COVERED, "its suite requires exactly one row")
        for stage in ("cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl")
        for kind in ("checkpoint", "data_card")
    },
    # JMED builder (one partition per month)
    "dialogues": (WARN, "a month whose consultations are all quarantined"),
    "deidentified_dialogues": (WARN, "follows dialogues"),
    "emr_records": (WARN, "every extraction quarantined"),
    "jmed_questions": (WARN, "every question quarantined"),
    "jmed_options": (WARN, "every option set quarantined"),
    "jmed_reviews": (WARN, "no review file for the month yet"),
    "jmed_benchmark": (WARN, "no item passed the three review tiers"),
}


def empty_policy(asset: str) -> tuple[str, str]:
    """(policy, why) of ``asset`` (its user string, e.g. ``"reasoning_traces"``)."""
    return EMPTY_POLICY.get(asset, (DEFAULT, "an asset check on an empty input must not pass silently"))
