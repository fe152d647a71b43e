"""Closed-form answering of question seeds by a model (the basis of easy/hard labels).

Each seed is rendered with the Citrus prompt (expert system line, the question in
``<Question>`` tags, ``<think>``/``<answer>`` format), sent to the LLM resource in one
batched call, and its answer parsed by the project's one answer parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from citrus_assets.common.llm_task import LLMTask, Reply
from citrus_assets.common.prompts import load_prompt
from citrus_assets.common.text.answers import extract_answer, is_correct
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, GEN_MODEL_ID, PARENT_IDS, RECORD_ID
from resources.llm import Prompt, SamplingParams

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


@dataclass
class AnswerSeeds(LLMTask):
    """One closed-form answer per seed from one judge (no retries: a wrong or missing answer is data)."""

    name: ClassVar[str] = "seed_answers"
    prompts: ClassVar[tuple[str, ...]] = (SYSTEM_PROMPT, USER_PROMPT)
    schema: ClassVar[pa.Schema] = ANSWER_SCHEMA
    judge: str = "default"

    def format_input(self, row: dict) -> Prompt:
        return mcq_messages(row["stem"], row["options"], row.get("context") or "")

    def format_output(self, row: dict, reply: Reply) -> dict:
        parsed = extract_answer(reply.text, {o["letter"]: o["text"] for o in row["options"]})
        return {
            RECORD_ID: record_id("ans", row[RECORD_ID], self.judge, reply.model_id, reply.sampling, reply.text),
            PARENT_IDS: [row[RECORD_ID]],
            "question_id": row[RECORD_ID],
            "judge": self.judge,
            "predicted_letters": list(parsed.letters),
            "extraction": parsed.method,
            "answer_letters": row["answer_letters"],
            "correct": is_correct(parsed.letters, row["answer_letters"]),
        }


def answer_seeds(seeds: pa.Table, llm, params: SamplingParams, judge: str = "default") -> pa.Table:
    """Answer every seed once with ``llm`` (one batched call); returns the answer table."""
    return AnswerSeeds(judge=judge).run(seeds, llm, params).table


def answer_with_panel(seeds: pa.Table, judges: Sequence[tuple[str, object]], params: SamplingParams) -> pa.Table:
    """Every seed answered by every judge: one batched call per judge, one row per (question, judge)."""
    tables = [answer_seeds(seeds, llm, params, judge=name) for name, llm in judges]
    return pa.concat_tables(tables) if tables else ANSWER_SCHEMA.empty_table()


class JudgeTally:
    """The judge step's statistics over answer tables that arrive chunk by chunk: the same figures as over their
    concatenation (rows, correct, no answer, cache hits, generated tokens, and ``per_judge``)."""

    def __init__(self) -> None:
        self.n = self.correct = self.no_answer = self.cached = self.generated_tokens = 0
        self._judges: dict[str, dict] = {}

    def add(self, answers: pa.Table) -> None:
        for judge, model, correct, letters, cached in zip(
            answers["judge"].to_pylist(),
            answers[GEN_MODEL_ID].to_pylist(),
            answers["correct"].to_pylist(),
            answers["predicted_letters"].to_pylist(),
            answers["cached"].to_pylist(),
        ):
            s = self._judges.setdefault(judge, {"model": model, "n": 0, "correct": 0, "no_answer": 0})
            s["n"] += 1
            s["correct"] += bool(correct)
            s["no_answer"] += not letters
            self.n += 1
            self.correct += bool(correct)
            self.no_answer += not letters
            self.cached += bool(cached)
        self.generated_tokens += int(pc.sum(answers["gen_completion_tokens"]).as_py() or 0)

    def per_judge(self) -> dict[str, dict]:
        """Per judge: model, answered rows, accuracy, no-answer count (in first-seen judge order)."""
        out = {k: dict(v) for k, v in self._judges.items()}
        for s in out.values():
            s["accuracy"] = round(s["correct"] / s["n"], 4) if s["n"] else 0.0
        return out


def judge_stats(answers: pa.Table) -> dict[str, dict]:
    """Per judge: model, answered rows, accuracy, no-answer count (in first-seen judge order)."""
    tally = JudgeTally()
    tally.add(answers)
    return tally.per_judge()
