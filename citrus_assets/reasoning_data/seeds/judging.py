"""Closed-form answering of question seeds by a model (the basis of easy/hard labels).

Each seed is rendered with the Citrus prompt (expert system line, the question in
``<Question>`` tags, ``<think>``/``<answer>`` format), sent to the LLM resource in one
batched call, and its answer parsed by the project's one answer parser.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from citrus_assets.common.answers import extract_answer, is_correct
from citrus_assets.common.prompts import load_prompt, prompt_hash
from resources.lineage.ids import record_id
from resources.lineage.schema import (
    GEN_COMPLETION_TOKENS,
    GEN_FIELDS,
    GEN_MODEL_ID,
    GEN_MODEL_REVISION,
    GEN_PROMPT_HASH,
    GEN_PROMPT_TEMPLATE,
    GEN_PROMPT_TOKENS,
    GEN_SAMPLING,
    PARENT_IDS,
    RECORD_ID,
)
from resources.llm import SamplingParams

SYSTEM_PROMPT = "citrus_system"
USER_PROMPT = "citrus_mcq_user"

ANSWER_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        ("question_id", pa.string()),
        ("judge", pa.string()),
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("predicted_letters", pa.list_(pa.string())),
        ("extraction", pa.string()),
        ("answer_letters", pa.list_(pa.string())),
        ("correct", pa.bool_()),
        *GEN_FIELDS,
        ("cached", pa.bool_()),
    ]
)


def format_options(options: Sequence[dict]) -> str:
    return "\n".join(f"{o['letter']}. {o['text']}" for o in options)


def mcq_messages(stem: str, options: Sequence[dict], context: str = "") -> list[dict]:
    """The Citrus closed-form prompt as chat messages (the question is always inside)."""
    question = f"{context.strip()}\n\n{stem.strip()}" if context and context.strip() else stem.strip()
    user = load_prompt(USER_PROMPT).render(question=question, options=format_options(options))
    return [
        {"role": "system", "content": load_prompt(SYSTEM_PROMPT).text},
        {"role": "user", "content": user},
    ]


def answer_seeds(seeds: pa.Table, llm, params: SamplingParams, judge: str = "default") -> pa.Table:
    """Answer every seed once with ``llm`` (one batched call); returns the answer table."""
    rows = seeds.to_pylist()
    prompts = [mcq_messages(r["stem"], r["options"], r.get("context") or "") for r in rows]
    results = llm.generate(prompts, params) if prompts else []
    out = []
    sampling = params.to_json()
    for seed, messages, gens in zip(rows, prompts, results):
        gen = gens[0]
        options = {o["letter"]: o["text"] for o in seed["options"]}
        parsed = extract_answer(gen.text, options)
        out.append(
            {
                RECORD_ID: record_id("ans", seed[RECORD_ID], judge, llm.model_id, sampling, gen.text),
                PARENT_IDS: [seed[RECORD_ID]],
                "question_id": seed[RECORD_ID],
                "judge": judge,
                "prompt": llm.render(messages),
                "response": gen.text,
                "predicted_letters": list(parsed.letters),
                "extraction": parsed.method,
                "answer_letters": seed["answer_letters"],
                "correct": is_correct(parsed.letters, seed["answer_letters"]),
                GEN_MODEL_ID: llm.model_id,
                GEN_MODEL_REVISION: llm.model_revision,
                GEN_PROMPT_TEMPLATE: f"{SYSTEM_PROMPT}+{USER_PROMPT}",
                GEN_PROMPT_HASH: prompt_hash(SYSTEM_PROMPT, USER_PROMPT),
                GEN_SAMPLING: sampling,
                GEN_PROMPT_TOKENS: gen.prompt_tokens,
                GEN_COMPLETION_TOKENS: gen.completion_tokens,
                "cached": gen.cached,
            }
        )
    return pa.Table.from_pylist(out, schema=ANSWER_SCHEMA)


def answer_with_panel(seeds: pa.Table, judges: Sequence[tuple[str, object]], params: SamplingParams) -> pa.Table:
    """Every seed answered by every judge: one batched call per judge, one row per (question, judge)."""
    tables = [answer_seeds(seeds, llm, params, judge=name) for name, llm in judges]
    return pa.concat_tables(tables) if tables else ANSWER_SCHEMA.empty_table()


def judge_stats(answers: pa.Table) -> dict[str, dict]:
    """Per judge: model, answered rows, accuracy, no-answer count (in first-seen judge order)."""
    out: dict[str, dict] = {}
    for judge, model, correct, letters in zip(answers["judge"].to_pylist(), answers[GEN_MODEL_ID].to_pylist(),
                                              answers["correct"].to_pylist(), answers["predicted_letters"].to_pylist()):
        s = out.setdefault(judge, {"model": model, "n": 0, "correct": 0, "no_answer": 0})
        s["n"] += 1
        s["correct"] += bool(correct)
        s["no_answer"] += not letters
    for s in out.values():
        s["accuracy"] = round(s["correct"] / s["n"], 4) if s["n"] else 0.0
    return out
