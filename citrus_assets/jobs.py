"""Jobs, and the main job's plan: which job runs for which partitions, in dependency order.

The plan reads like the paper's Figure 3: CPT corpus (PDF, web, textbooks → labelled documents →
shards), reasoning data (seeds → difficulty, open questions → dual-expert traces → SFT examples; the
SFT mixes), training (CPT → SFT stages 1-3 → rejection sampling and preference pairs → RL), the JMED
builder, and evaluation: the base model and every checkpoint on the bundled benchmarks (the ablation
table, the paper's Table 5), and the served-model pair on the built-in model.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from citrus_assets.cpt_corpus.corpus.assets import cpt_documents, cpt_shards
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.sensors import pdf_batch_keys, textbook_batch_keys, web_shard_keys
from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks, textbook_questions
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards
from citrus_assets.evaluation.assets import eval_models
from citrus_assets.evaluation.jmed_eval import eval_jmed
from citrus_assets.evaluation.sensors import (
    DEMO_BENCHMARKS,
    DEMO_EVAL_ITEMS_OPS,
    DEMO_MODELS,
    DEMO_SERVED_OPS,
    DEMO_STAGE_OPS,
    EVAL_ITEMS_JOB,
    EVAL_MODEL_JOB,
    EVAL_REPORT_JOB,
    EVAL_STAGES_JOB,
    demo_partition_keys,
)
from citrus_assets.evaluation.sensors import jobs as evaluation_jobs
from citrus_assets.jmed.assets import deidentified_dialogues, dialogue_months, dialogues, emr_records
from citrus_assets.jmed.item_assets import jmed_benchmark, jmed_options, jmed_questions, jmed_reviews
from citrus_assets.jmed.sensors import month_keys
from citrus_assets.model_training.checkpoints.assets import (
    cpt_checkpoint,
    rl_checkpoint,
    sft_stage1_checkpoint,
    sft_stage2_checkpoint,
    sft_stage3_checkpoint,
)
from citrus_assets.model_training.data_cards.assets import data_card_assets
from citrus_assets.model_training.preference.assets import preference_pairs, rejection_samples
from citrus_assets.reasoning_data.instructions.assets import instruction_examples, instruction_sets
from citrus_assets.reasoning_data.instructions.sensors import instruction_set_keys
from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix, sft_stage2_mix, sft_stage3_mix
from citrus_assets.reasoning_data.mixes.nonmedical_assets import nonmedical_reasoning
from citrus_assets.reasoning_data.questions.assets import open_questions, question_difficulty
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.seeds.sensors import seed_keys
from citrus_assets.reasoning_data.traces.assets import reasoning_traces
from citrus_assets.reasoning_data.traces.sft_assets import sft_examples

REASONING_DATA_JOB = "reasoning_data_job"
INSTRUCTION_JOB = "instruction_job"
SFT_MIX_JOB = "sft_mix_job"
CPT_PDF_JOB = "cpt_pdf_job"
CPT_WEB_SHARD_JOB = "cpt_web_shard_job"
CPT_WEB_DEDUP_JOB = "cpt_web_dedup_job"
CPT_TEXTBOOK_JOB = "cpt_textbook_job"
CPT_CORPUS_JOB = "cpt_corpus_job"
TRAINING_SFT_JOB = "training_sft_job"
PREFERENCE_JOB = "preference_job"
RL_JOB = "rl_job"
DATA_CARD_JOB = "data_card_job"
JMED_JOB = "jmed_job"
JMED_EVAL_JOB = "jmed_eval_job"


# The code location's name in workspace.yaml. The UI lists a job's runs by the tag
# ``.dagster/repository = __repository__@<location>``; runs launched in process (the main job) carry it
# (``job_page_tags``), so they show on their job's page instead of as "jobless" materializations.
CODE_LOCATION = "citrus_lake"


def job_page_tags(location: str = CODE_LOCATION) -> dict[str, str]:
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    return {REPOSITORY_LABEL_TAG: f"{SINGLETON_REPOSITORY_NAME}@{location}"}


# Run tag of the training jobs: deploy/dagster.*.yaml limit runs with it to one at a time.
TRAINING_TAG = {"citrus/stage": "training"}


def _job(name: str, assets: list[dg.AssetsDefinition], description: str, tags: dict | None = None):
    """An asset job over the given asset definitions (their checks included), selected by definition rather
    than by name, so a renamed asset cannot fall out of its job silently."""
    return dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), description=description, tags=tags)


jobs = [
    _job(CPT_PDF_JOB, [pdf_documents], "PDF extraction for PDF batches (single-run backfills)."),
    _job(CPT_WEB_SHARD_JOB, [web_documents], "Web curation of web shards (single-run backfills)."),
    _job(
        CPT_WEB_DEDUP_JOB,
        [web_corpus],
        "Dedup across every curated web shard (cross-shard: recomputes the whole source).",
    ),
    _job(
        CPT_TEXTBOOK_JOB,
        [textbook_chunks, textbook_questions],
        "Textbook chunking and Evol-Instruct questions for one textbook batch.",
    ),
    _job(
        CPT_CORPUS_JOB, [cpt_documents, cpt_shards], "Label every CPT document and pack the training shards + manifest."
    ),
    _job(
        REASONING_DATA_JOB,
        [question_seeds, judge_answers, question_difficulty, open_questions, reasoning_traces, sft_examples],
        "One seed set: seeds → judge answers → easy/hard → open questions → dual-expert traces → SFT examples.",
    ),
    _job(INSTRUCTION_JOB, [instruction_examples], "Normalize one instruction file (SFT stages 1-2)."),
    _job(
        SFT_MIX_JOB,
        [nonmedical_reasoning, sft_stage1_mix, sft_stage2_mix, sft_stage3_mix],
        "The non-medical reasoning folder and the three SFT mixes over every partition (decontaminated, chat format).",
    ),
    _job(
        TRAINING_SFT_JOB,
        [cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint],
        "CPT and the three SFT stages, each from the previous one.",
        TRAINING_TAG,
    ),
    _job(
        PREFERENCE_JOB,
        [rejection_samples, preference_pairs],
        "Rejection sampling from the stage-3 checkpoint and preference pairs for one seed set.",
    ),
    _job(RL_JOB, [rl_checkpoint], "CPO-SimPO from the stage-3 checkpoint on every preference pair.", TRAINING_TAG),
    _job(DATA_CARD_JOB, data_card_assets, "The data card (Markdown + JSON) of every checkpoint."),
    _job(
        JMED_JOB,
        [dialogues, deidentified_dialogues, emr_records, jmed_questions, jmed_options, jmed_reviews, jmed_benchmark],
        "The JMED builder for one month of consultations.",
    ),
    _job(JMED_EVAL_JOB, [eval_jmed], "The final (RL) checkpoint scored on one month's JMED release."),
    *evaluation_jobs,
]


@dataclass(frozen=True)
class MainStep:
    """One step of the main job: run ``job`` once per key (``keys(inbox)``; ``None`` = unpartitioned).

    ``register`` names the dynamic partitions the keys need: (partitions definition, key lister).
    ``ops`` is run config for the step's assets (``{"asset": {"config": {...}}}``): the main job's
    demo settings, each documented where it is set.
    """

    job: str
    keys: Callable | None = None
    register: tuple = field(default_factory=tuple)
    ops: dict = field(default_factory=dict)


def _step(
    job: str,
    defn: dg.DynamicPartitionsDefinition | None = None,
    lister: Callable | None = None,
    ops: dict | None = None,
) -> MainStep:
    return MainStep(job, lister, ((defn, lister),) if defn is not None else (), ops or {})


# The built-in 135M model solves none of the demo's questions, so rejection sampling alone gives no
# pair and the RL stage would have nothing to train on. The main job therefore samples a few non-medical
# problems and pairs each question's verified reference (a worked solution / a verified trace) against
# the model's best wrong sample (``reference_chosen``; off by default, see model_training/preference/pairs.py).
# The dual-expert loop is the main job's costliest step (every call generates on 2 CPU cores, and the 135M
# model verifies no trace anyway): the main job gives it one attempt of two rounds. The asset's defaults
# (3 rounds, 2 attempts) apply everywhere else.
DEMO_REASONING_OPS = {
    "reasoning_traces": {"config": {"max_attempts": 1, "max_rounds": 2}},
}
DEMO_PREFERENCE_OPS = {
    "rejection_samples": {"config": {"min_nonmedical": 4}},
    "preference_pairs": {"config": {"reference_chosen": True, "min_nonmedical_pairs": 4}},
}

# The checkpoints' run-config defaults are the paper's (training/config.py). The main job trains each one on the
# built-in 135M model on 2 CPU cores in about a minute (benchmarks/results/training_demo.md): 2 optimizer steps of
# one 128-token sequence, no warmup; RL 512 tokens (prompt + answer: a prompt must leave room for the answer).
DEMO_CHECKPOINT_CONFIG = {
    "max_steps": 2,
    "global_batch_size": 1,
    "per_device_batch_size": 1,
    "max_seq_len": 128,
    "warmup_ratio": 0.0,
}
DEMO_TRAINING_OPS = {
    a.key.to_user_string(): {"config": DEMO_CHECKPOINT_CONFIG}
    for a in (cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint)
}
DEMO_RL_OPS = {rl_checkpoint.key.to_user_string(): {"config": {**DEMO_CHECKPOINT_CONFIG, "max_seq_len": 512}}}

# JMED on the final checkpoint: the first 3 items of each month's release, the stage evaluations' demo decoding
# (measured alone: benchmarks/results/jmed_eval.md).
DEMO_JMED_EVAL_OPS = {"eval_jmed": {"config": {**DEMO_STAGE_OPS["eval_predictions_rl"]["config"], "max_items": 3}}}


MAIN_PLAN: list[MainStep] = [
    _step(CPT_PDF_JOB, pdf_batches, pdf_batch_keys),
    _step(CPT_WEB_SHARD_JOB, web_shards, web_shard_keys),
    _step(CPT_TEXTBOOK_JOB, textbook_batches, textbook_batch_keys),
    _step(CPT_WEB_DEDUP_JOB),
    _step(CPT_CORPUS_JOB),
    _step(REASONING_DATA_JOB, seed_sets, seed_keys, DEMO_REASONING_OPS),
    _step(INSTRUCTION_JOB, instruction_sets, instruction_set_keys),
    _step(SFT_MIX_JOB),
    _step(TRAINING_SFT_JOB, ops=DEMO_TRAINING_OPS),
    _step(PREFERENCE_JOB, seed_sets, seed_keys, DEMO_PREFERENCE_OPS),
    _step(RL_JOB, ops=DEMO_RL_OPS),
    _step(DATA_CARD_JOB),
    _step(JMED_JOB, dialogue_months, month_keys),
    # evaluation: settings and their measured cost in evaluation/sensors.py (DEMO_*)
    _step(EVAL_ITEMS_JOB, None, lambda inbox: list(DEMO_BENCHMARKS), DEMO_EVAL_ITEMS_OPS),
    _step(EVAL_STAGES_JOB, None, lambda inbox: list(DEMO_BENCHMARKS), DEMO_STAGE_OPS),
    _step(JMED_EVAL_JOB, dialogue_months, month_keys, DEMO_JMED_EVAL_OPS),
    MainStep(
        EVAL_MODEL_JOB,
        lambda inbox: demo_partition_keys(),
        ((eval_models, lambda inbox: list(DEMO_MODELS)),),
        DEMO_SERVED_OPS,
    ),
    _step(EVAL_REPORT_JOB),
]
