"""Answering benchmark items with a model: prompts, one batched generate call, the one answer rule.

Deterministic by default (greedy, seed 0). With ``n_samples > 1`` every item gets n samples (fixed
seed) and the prediction is the majority vote over the samples that gave an answer (ties -> the
earliest sample's answer); ``vote_share`` and ``distinct_answers`` show the spread.
Scoring never uses an answer-checker model or exact strings: ``common.answers.extract_answer`` reads
the letters (last ``<answer>`` block, option-count aware) and ``is_correct`` is an exact set match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common.llm_task import LLMTask, Reply
from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.answers import extract_answer, is_correct
from citrus_assets.reasoning_data.seeds.judging import SYSTEM_PROMPT, USER_PROMPT, format_options, mcq_messages
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID
from resources.llm import Prompt, SamplingParams

PLAIN_PROMPT = "eval_plain_mcq"
PROMPTS = {"citrus": (SYSTEM_PROMPT, USER_PROMPT), "plain": (PLAIN_PROMPT,)}
ALL_PROMPT_NAMES = (SYSTEM_PROMPT, USER_PROMPT, PLAIN_PROMPT)

PREDICTION_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [the eval item's record_id]
        ("item_id", pa.string()),
        ("question_id", pa.string()),
        ("benchmark", pa.string()),
        ("model", pa.string()),  # the eval_models partition key
        ("prompt_style", pa.string()),
        ("stem", pa.string()),  # the item's question (the check: the prompt contains it)
        ("prompt", pa.string()),  # rendered with the model's chat template (never a raw template)
        ("response", pa.string()),  # raw output of the first sample
        ("option_letters", pa.list_(pa.string())),
        ("predicted_letters", pa.list_(pa.string())),
        ("extraction", pa.string()),  # letter | letter_list | option_text | none (first sample's method)
        ("answer_letters", pa.list_(pa.string())),
        ("correct", pa.bool_()),
        ("no_answer", pa.bool_()),
        ("finish_reason", pa.string()),
        ("n_samples", pa.int32()),
        ("sample_letters", pa.list_(pa.string())),  # per sample: letters joined by ",", "" = no answer
        ("vote_share", pa.float64()),  # share of samples agreeing with the prediction
        ("distinct_answers", pa.int32()),
        ("checkpoint_id", pa.string()),  # the checkpoint row evaluated ("" for other models)
        *GEN_FIELDS,
        ("cached", pa.bool_()),
    ]
)


def question_text(stem: str, context: str = "") -> str:
    """The question as shown to the model: the context (PubMedQA's abstract) first, then the stem."""
    return f"{context.strip()}\n\n{stem.strip()}" if context and context.strip() else stem.strip()


def eval_messages(item: dict, style: str) -> list[dict]:
    """The prompt of one item: the Citrus prompt (reasoning models) or the plain MCQ prompt."""
    if style == "citrus":
        return mcq_messages(item["stem"], item["options"], item.get("context") or "")
    if style == "plain":
        user = load_prompt(PLAIN_PROMPT).render(
            question=question_text(item["stem"], item.get("context") or ""), options=format_options(item["options"])
        )
        return [{"role": "user", "content": user}]
    raise ValueError(f"prompt_style must be citrus or plain, got {style!r}")


def style_prompt_hash(style: str) -> str:
    return prompt_hash(*PROMPTS[style])


def majority(letter_sets: Sequence[tuple[str, ...]]) -> tuple[tuple[str, ...], float, int]:
    """(voted letters, vote share over all samples, distinct answers); no-answer samples do not vote."""
    answered = [s for s in letter_sets if s]
    if not answered:
        return (), 0.0, 0
    counts = Counter(answered)
    top = max(counts.values())
    voted = next(s for s in answered if counts[s] == top)  # ties: the earliest sample
    return voted, top / len(letter_sets), len(counts)


def sampling_for(n_samples: int, max_tokens: int, temperature: float, top_p: float, seed: int) -> SamplingParams:
    return SamplingParams(n=max(1, n_samples), temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)


@dataclass
class Predict(LLMTask):
    """Answering benchmark items as an ``LLMTask``: one row per item, voted over its samples."""

    name: ClassVar[str] = "eval_predictions"
    prompts: ClassVar[tuple[str, ...]] = ALL_PROMPT_NAMES
    schema: ClassVar[pa.Schema] = PREDICTION_SCHEMA
    model_key: str = ""
    prompt_style: str = "citrus"
    checkpoint_id: str = ""

    def template(self, row: dict) -> tuple[str, ...]:
        return PROMPTS[self.prompt_style]

    def format_input(self, row: dict) -> Prompt:
        return eval_messages(row, self.prompt_style)

    def format_output(self, item: dict, reply: Reply) -> dict:
        options = {o["letter"]: o["text"] for o in item["options"]}
        parsed = [extract_answer(g.text, options) for g in reply.samples]
        letters, share, distinct = majority([p.letters for p in parsed])
        texts = [g.text for g in reply.samples]
        return {
            RECORD_ID: record_id(
                "evalpred", item[RECORD_ID], self.model_key, reply.model_id, reply.model_revision, reply.sampling, texts
            ),
            PARENT_IDS: [item[RECORD_ID]],
            "item_id": item[RECORD_ID],
            "question_id": item["question_id"],
            "benchmark": item["benchmark"],
            "model": self.model_key,
            "prompt_style": self.prompt_style,
            "stem": item["stem"],
            "option_letters": sorted(options),
            "predicted_letters": list(letters),
            "extraction": parsed[0].method,
            "answer_letters": item["answer_letters"],
            "correct": is_correct(letters, item["answer_letters"]),
            "no_answer": not letters,
            "finish_reason": reply.generation.finish_reason,
            "n_samples": len(texts),
            "sample_letters": [",".join(p.letters) for p in parsed],
            "vote_share": share,
            "distinct_answers": distinct,
            "checkpoint_id": self.checkpoint_id,
        }


def predict(
    items: pa.Table, llm, params: SamplingParams, *, model_key: str, prompt_style: str, checkpoint_id: str = ""
) -> pa.Table:
    """Answer every item (ONE batched generate call) and score it; ``PREDICTION_SCHEMA`` rows."""
    return (
        Predict(model_key=model_key, prompt_style=prompt_style, checkpoint_id=checkpoint_id)
        .run(items, llm, params)
        .table
    )
