"""The paper's story on the asset graph: one table assigns every asset its paper stage, owner, engine and a
line in the paper's words; :func:`apply_stage_metadata` stamps them on the definitions where
``citrus_assets/definitions.py`` composes them (``dg.map_asset_specs``), so no decorator repeats them.

- ``tags``: ``paper_stage`` (cpt | reasoning_data | training | evaluation | jmed, the paper's Figure 3 and
  §6) and ``paper_step`` (the step inside the stage, e.g. ``sft_stage3`` or ``rl``); the UI filters on them.
- ``owners``: the team that answers for the stage (``team:data``, ``team:training``, ``team:evaluation``,
  ``team:jmed``).
- ``kinds``: the engine (datatrove, pymupdf, transformers, trl, duckdb...), added to the storage kinds an
  asset already declares (parquet, jsonl, markdown).
- ``description``: ``<paper words>`` then the asset's own description (what this implementation does).

A test (tests/platform/test_stage_metadata.py) asserts every asset of the code location has a row here,
a description, an owner, a ``paper_stage`` tag and at least one kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

PAPER_STAGES = {
    "cpt": ("team:data", "Continued pre-training corpus (paper §3, Figure 3 left)"),
    "reasoning_data": (
        "team:data",
        "SFT data: instruction mixes and the stage-3 medical long chain-of-thought (paper §4)",
    ),
    "training": ("team:training", "Training: CPT, SFT stages 1-3 and offline RL (paper §4-5)"),
    "evaluation": ("team:evaluation", "Evaluation on the paper's benchmarks (paper §6, Tables 4-5)"),
    "jmed": ("team:jmed", "JMED, the paper's own benchmark built from real consultations (paper §6)"),
}
STAGE_TAG, STEP_TAG = "paper_stage", "paper_step"
KIND_TAG_PREFIX = "dagster/kind/"  # kinds are stored as tags; passed as ``kinds``


@dataclass(frozen=True)
class StageInfo:
    stage: str  # a key of PAPER_STAGES
    step: str
    kinds: tuple[str, ...]  # engines; added to the asset's own storage kinds
    paper: str  # the paper's words for what the asset is


def _card(stage: str) -> StageInfo:
    return StageInfo(
        "training",
        stage,
        ("markdown",),
        "Training data card: which sources and partitions the checkpoint saw (data lineage is absent "
        "from the public Citrus code; here every checkpoint states its data).",
    )


def _eval_pair(stage: str, label: str) -> dict[str, StageInfo]:
    return {
        f"eval_predictions_{stage}": StageInfo(
            "evaluation",
            stage,
            ("transformers",),
            f"Table 5 ablation row {label}: the model after this stage answers each benchmark question "
            "(system line as an experienced medical expert, the question in <Question> tags, <think>/<answer>).",
        ),
        f"eval_scores_{stage}": StageInfo(
            "evaluation", stage, ("pyarrow",), f"Table 5 ablation row {label}: accuracy on the benchmark."
        ),
    }


STAGE_TABLE: dict[str, StageInfo] = {
    # CPT corpus (§3): web, papers and guidelines, textbooks -> labelled documents -> shards
    "pdf_documents": StageInfo(
        "cpt", "pdf", ("pymupdf",), "CPT papers and guidelines: PDFs converted to text with layout-aware tools."
    ),
    "web_documents": StageInfo(
        "cpt", "web", ("datatrove",), "CPT web text: cleaning and quality filtering following RedPajama."
    ),
    "web_corpus": StageInfo("cpt", "web", ("datatrove",), "CPT web text: deduplication following RedPajama."),
    "textbook_chunks": StageInfo(
        "cpt", "textbooks", ("pymupdf",), "CPT medical textbooks: few but precious, cut into sections."
    ),
    "textbook_questions": StageInfo(
        "cpt",
        "textbooks",
        ("transformers",),
        "CPT medical textbooks: each expanded into many varied medical queries "
        "(Evol-Instruct style) so they are not drowned by the other sources.",
    ),
    "cpt_documents": StageInfo(
        "cpt",
        "labelling",
        ("transformers",),
        "CPT corpus labelled with NLP (domain, language, tokens); medical text is ~30% of the paper's corpus.",
    ),
    "cpt_shards": StageInfo(
        "cpt", "shards", ("parquet",), "CPT training shards per data source: the arms of the multi-armed bandit mixer."
    ),
    # Reasoning data (§4): SFT stage 1/2 instructions, stage-3 dual-expert data
    "instruction_examples": StageInfo(
        "reasoning_data",
        "sft_stage1_2",
        ("pyarrow",),
        "SFT stages 1-2 (curriculum): general and harder instruction data, Infinity-Instruct style.",
    ),
    "sft_stage1_mix": StageInfo(
        "reasoning_data",
        "sft_stage1",
        ("transformers",),
        "SFT stage 1: general instruction following (~7M lines in the paper).",
    ),
    "sft_stage2_mix": StageInfo(
        "reasoning_data",
        "sft_stage2",
        ("transformers",),
        "SFT stage 2: harder multi-turn and complex instructions (~1.4M in the paper).",
    ),
    "question_seeds": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("pyarrow",),
        "SFT stage 3 question seeds: benchmark-style training questions with verified answers (MedQA-style).",
    ),
    "judge_answers": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("transformers",),
        "Easy/hard labelling: several weaker models answer the closed-form question.",
    ),
    "question_difficulty": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("pyarrow",),
        "Easy/hard labels: easy if the weaker models get it right; SFT takes every "
        "hard item and a small share of easy ones.",
    ),
    "open_questions": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("transformers",),
        "Question rewriting: options removed, rephrased open-ended, every clinical detail kept.",
    ),
    "reasoning_traces": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("transformers",),
        "Dual-expert loop: a reasoning expert adds one step at a time, a reflection "
        "expert who knows the answer keeps or drops each step.",
    ),
    "sft_examples": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("transformers",),
        "Rewrite: one first-person stream-of-consciousness reasoning in <think>…</think><answer>…</answer>.",
    ),
    "nonmedical_reasoning": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("jsonl",),
        "Non-medical reasoning data (logic, math) kept in stage 3 and the RL pairs to keep general ability.",
    ),
    "sft_stage3_mix": StageInfo(
        "reasoning_data",
        "sft_stage3",
        ("transformers",),
        "SFT stage 3 (Citrus_S3): medical long chain-of-thought plus a comparable amount of non-medical reasoning.",
    ),
    # Training (§4-5)
    "cpt_checkpoint": StageInfo(
        "training",
        "cpt",
        ("transformers", "pytorch"),
        "Continued pre-training (fast pattern recognition); source mixing is a "
        "multi-armed bandit rewarded by training loss.",
    ),
    "sft_stage1_checkpoint": StageInfo(
        "training", "sft_stage1", ("transformers", "pytorch"), "SFT stage 1, from the CPT weights."
    ),
    "sft_stage2_checkpoint": StageInfo(
        "training", "sft_stage2", ("transformers", "pytorch"), "SFT stage 2, from the stage-1 weights."
    ),
    "sft_stage3_checkpoint": StageInfo(
        "training",
        "sft_stage3",
        ("transformers", "pytorch"),
        "SFT stage 3: medical long chain-of-thought (slow hypothetico-deductive reasoning), from the stage-2 weights.",
    ),
    "rejection_samples": StageInfo(
        "training",
        "rl",
        ("transformers",),
        "RL data: rejection sampling from the best stage-3 checkpoint, rule-based reward "
        "(answer correct vs ground truth).",
    ),
    "preference_pairs": StageInfo(
        "training", "rl", ("trl",), "RL data: <prompt, chosen, rejected> pairs, medical plus a few non-medical."
    ),
    "rl_checkpoint": StageInfo(
        "training",
        "rl",
        ("trl", "pytorch"),
        "Offline RL: CPO-SimPO (SimPO plus CPO's NLL term) from the stage-3 checkpoint.",
    ),
    "cpt_data_card": _card("cpt"),
    "sft_stage1_data_card": _card("sft_stage1"),
    "sft_stage2_data_card": _card("sft_stage2"),
    "sft_stage3_data_card": _card("sft_stage3"),
    "rl_data_card": _card("rl"),
    # Evaluation (§6)
    "eval_items": StageInfo(
        "evaluation",
        "benchmarks",
        ("pyarrow",),
        "The paper's benchmarks: MedQA, PubMedQA, MedMCQA, MedBullets, MMLU medical, "
        "MMLU-Pro health/biology, CareQA, JMED.",
    ),
    "eval_predictions": StageInfo(
        "evaluation",
        "models",
        ("transformers",),
        "Table 4: served and reference models answer each benchmark question.",
    ),
    "eval_scores": StageInfo("evaluation", "models", ("pyarrow",), "Table 4: accuracy per model and benchmark."),
    **_eval_pair("base", "base model"),
    **_eval_pair("cpt", "+CPT"),
    **_eval_pair("sft_stage1", "+SFT-1"),
    **_eval_pair("sft_stage2", "+SFT-2"),
    **_eval_pair("sft_stage3", "+SFT-3"),
    **_eval_pair("rl", "+RL"),
    "eval_jmed": StageInfo(
        "evaluation",
        "jmed",
        ("transformers",),
        "JMED: the final (RL) checkpoint scored on this month's JMED release (paper: Citrus1.0-Llama-70B 0.684).",
    ),
    "eval_report": StageInfo(
        "evaluation",
        "report",
        ("markdown",),
        "Tables 4 and 5: the models and the ablation (base -> CPT -> SFT -> RL) per benchmark.",
    ),
    # JMED (§6)
    "dialogues": StageInfo(
        "jmed",
        "consultations",
        ("jsonl",),
        "JMED source: anonymised doctor-patient consultations of an internet hospital, by month.",
    ),
    "deidentified_dialogues": StageInfo(
        "jmed", "consultations", ("pyarrow",), "JMED: consultations anonymised before anything reads them."
    ),
    "emr_records": StageInfo(
        "jmed",
        "emr",
        ("transformers",),
        "JMED: each consultation becomes a structured electronic medical record (LLM extraction).",
    ),
    "jmed_questions": StageInfo(
        "jmed", "questions", ("transformers",), "JMED: a diagnostic question per record (LLM)."
    ),
    "jmed_options": StageInfo(
        "jmed",
        "options",
        ("pyarrow",),
        "JMED: 21 options, mutually exclusive ICD-10 diagnoses with plausible differentials and 'None of the above'.",
    ),
    "jmed_reviews": StageInfo(
        "jmed", "review", ("pyarrow",), "JMED: three-tier human review (attending, senior, chief physician)."
    ),
    "jmed_benchmark": StageInfo(
        "jmed",
        "release",
        ("jsonl",),
        "JMED release (id, department, question, options, answer): the benchmark the models are scored on (eval_jmed).",
    ),
}


def stage_of(key: dg.AssetKey | str) -> StageInfo:
    name = key if isinstance(key, str) else key.to_user_string()
    try:
        return STAGE_TABLE[name]
    except KeyError:
        raise KeyError(
            f"{name} has no row in citrus_assets/common/stage_metadata.STAGE_TABLE: add its paper "
            "stage, step, engine and paper words there"
        ) from None


_TAGS = re.compile(r"<[A-Za-z/][^<>\n]*>(?:[^<>\s`]*<[A-Za-z/][^<>\n]*>)*")  # a run like <think>…</think><answer>


def markdown_safe(text: str) -> str:
    """``<think>``-like tags (outside code spans) put in code spans: the UI renders descriptions as Markdown,
    which drops raw tags."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = _TAGS.sub(lambda m: f"`{m.group(0)}`", parts[i])
    return "`".join(parts)


def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its paper stage's owner, tags, kinds and paper words (idempotent)."""
    info = stage_of(spec.key)
    owner, _stage_words = PAPER_STAGES[info.stage]
    own, paper = markdown_safe(spec.description or ""), markdown_safe(info.paper)
    description = own if own.startswith(paper) else f"{paper}\n\n{own}".strip()
    return spec.replace_attributes(
        description=description,
        owners=sorted({*spec.owners, owner}),
        tags={
            **{k: v for k, v in spec.tags.items() if not k.startswith(KIND_TAG_PREFIX)},
            STAGE_TAG: info.stage,
            STEP_TAG: info.step,
        },
        kinds={*spec.kinds, *info.kinds},
    )


def apply_stage_metadata(
    assets: Iterable[dg.AssetsDefinition | dg.AssetSpec],
) -> Sequence[dg.AssetsDefinition | dg.AssetSpec]:
    """Every definition with :func:`describe` applied to each of its specs."""
    return dg.map_asset_specs(describe, list(assets))
