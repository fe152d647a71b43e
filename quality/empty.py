"""No empty stage behind a green check: what an asset check does with an EMPTY input.

Every column expectation passes on a table with no rows, so a check built only from them cannot fail on
an empty partition — a defect. Every GX asset check (``gx_asset_check``, ``gx_check_result``) therefore
first looks the asset up here:

- ``error``: the asset exists to produce rows and downstream training cannot use it empty. An empty input
  fails the check with severity ERROR (a blocking check then stops the run and the automation).
- ``warn``: an empty partition is a real outcome of bad input or a weak model (every line quarantined, no
  trace verified by a 135M model): the check fails with severity WARN and says why. Nothing is blocked,
  nothing is hidden: the main job's summary shows the stage as EMPTY.
- ``allow``: empty is a normal, documented outcome (the reason is given here); the suite runs as usual.

Assets not listed get :data:`DEFAULT` (``warn``). The reason the asset itself recorded (metadata
``empty_reason``, written by ``citrus_assets.common.empty``) is quoted in the check's description.
"""

from __future__ import annotations

ERROR, WARN, ALLOW = "error", "warn", "allow"
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
