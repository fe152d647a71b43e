"""Open-ended rewrite of closed questions (paper: options removed, every clinical detail kept).

Round 0 asks the LLM once per seed (greedy) in ONE batched call; every rewrite goes through
``open_rules.check_rewrite``; the rejected ones are asked again in the next round (sampled at
``retry_temperature`` with seed ``seed + round``), again one batched call for all of them, up to
``retries`` extra rounds. What is still rejected falls back to the rule rewrite
(``rewrite_method="rule"``, the LLM rejections kept) — or, with the fallback off or when the rule
rewrite fails the validator too, is quarantined with every reason. Only the stem is rewritten;
a seed's context (e.g. a PubMedQA abstract) is put back in front of the rewritten question.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common.llm_task import LLMTask, Reject, Reply
from citrus_assets.common.prompts import load_prompt
from citrus_assets.reasoning_data.questions.open_rules import (
    check_rewrite,
    ground_truth,
    refers_to_options,
    rule_rewrite,
)
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI
from resources.llm import Prompt, SamplingParams
from resources.llm.sampling import SamplingConfig

PROMPTS = {"en": "open_rewrite_en", "zh": "open_rewrite_zh"}
_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:open[- ]ended question|rewritten question|question|改写后的问题|开放式问题|问题)"
    r"(?:\*\*)?\s*[:：]\s*",
    re.IGNORECASE,
)


class RewriteSettings(SamplingConfig):
    """The rewrite's sampling and retries, with their defaults (declared only here: the asset's
    ``OpenQuestionConfig`` is this class). Round 0 is sampled at ``temperature`` (greedy), a retry round at
    ``retry_temperature`` with seed ``seed + round``."""

    max_tokens: int = 128
    retries: int = 1  # extra rounds for rejected rewrites, each one batched call
    retry_temperature: float = 0.8
    rule_fallback: bool = True  # off: questions without an accepted LLM rewrite are quarantined

    def params(self, round_: int) -> SamplingParams:
        if round_ == 0:
            return self.sampling()
        return self.sampling(temperature=self.retry_temperature, seed=self.seed + round_)


@dataclass
class RewriteResult:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    counts: dict = field(
        default_factory=lambda: {"llm_accepted": 0, "llm_accepted_on_retry": 0, "rule_fallback": 0, "quarantined": 0}
    )
    rejection_reasons: dict = field(default_factory=dict)  # reason code -> count over all LLM attempts
    llm_calls: int = 0
    cache_hits: int = 0
    generated_tokens: int = 0
    rounds: int = 0
    refers_to_options: int = 0  # accepted rewrites still saying "of the following"/"except"/"下列"
    seeds: int = 0  # seeds read, counted by ``stage_rewrites`` (its input is read batch by batch)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=OPEN_QUESTION_SCHEMA)


def prompt_name(language: str) -> str:
    return PROMPTS["zh" if language == "zh" else "en"]


def rewrite_messages(stem: str, language: str) -> list[dict]:
    return [{"role": "user", "content": load_prompt(prompt_name(language)).render(question=stem.strip())}]


def clean_rewrite(text: str) -> str:
    """The model's text without a leading label ("Question:") or wrapping quotes."""
    t = _LABEL.sub("", (text or "").strip(), count=1).strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'“”":
        t = t[1:-1].strip()
    return t


def _closed(seed: dict) -> str:
    ctx = (seed.get("context") or "").strip()
    return f"{ctx}\n\n{seed['stem'].strip()}" if ctx else seed["stem"].strip()


def _with_context(seed: dict, question: str) -> str:
    ctx = (seed.get("context") or "").strip()
    return f"{ctx}\n\n{question}" if ctx else question


def _quarantine(seed: dict, reason: str, rewrite: str) -> QuarantineRecord:
    raw = {"question_id": seed[RECORD_ID], "stem": seed["stem"], "rewrite": rewrite}
    return QuarantineRecord(
        seed.get(SOURCE_URI) or "",
        f"{seed.get(SOURCE_LOCATOR) or ''} question {seed[RECORD_ID]}",
        reason,
        json.dumps(raw, ensure_ascii=False),
    )


def _row(seed: dict, question: str, method: str, rejections: list[str] | tuple[str, ...]) -> dict:
    return {
        RECORD_ID: record_id("openq", seed[RECORD_ID], method, question),
        PARENT_IDS: [seed[RECORD_ID]],
        "question_id": seed[RECORD_ID],
        "language": seed["language"],
        "closed_stem": _closed(seed),
        "ground_truth": ground_truth(seed["options"], seed["answer_letters"]),
        "answer_letters": seed["answer_letters"],
        "options": seed["options"],
        "open_question": question,
        "rewrite_method": method,
        "rewrite_rejections": list(rejections),
    }


@dataclass
class RewriteTask(LLMTask):
    """The rewrite as an ``LLMTask``: ``open_rules.check_rewrite`` validates, the rule rewrite is the fallback."""

    name: ClassVar[str] = "open_questions"
    prompts: ClassVar[tuple[str, ...]] = tuple(PROMPTS.values())
    schema: ClassVar[pa.Schema] = OPEN_QUESTION_SCHEMA
    settings: RewriteSettings = field(default_factory=RewriteSettings)

    def check_input(self, row: dict) -> Reject | None:
        # cannot happen for validated seeds; never rewrite what cannot be verified later
        ok = ground_truth(row["options"], row["answer_letters"])
        return None if ok else Reject("no ground-truth option text", raw=row["stem"])

    def format_input(self, row: dict) -> Prompt:
        return rewrite_messages(row["stem"], row["language"])

    def template(self, row: dict) -> tuple[str, ...]:
        return (prompt_name(row["language"]),)

    def sampling(self, params: SamplingParams, attempt: int) -> SamplingParams:
        return self.settings.params(attempt)

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        text = clean_rewrite(reply.text)
        reasons = check_rewrite(row["stem"], text, row["options"], row["answer_letters"], row["language"])
        if reply.generation.finish_reason == "length":
            reasons.append("truncated")
        return Reject(*reasons) if reasons else _row(row, _with_context(row, text), "llm", reply.rejections)

    def fallback(self, row: dict, rejections: list[str], last: Reject) -> dict | Reject:
        text = _with_context(row, rule_rewrite(row["stem"], row["language"]))
        rule_reasons = check_rewrite(_closed(row), text, row["options"], row["answer_letters"], row["language"])
        problem = (
            "rule fallback is off"
            if not self.settings.rule_fallback
            else f"rule rewrite rejected: {', '.join(rule_reasons)}"
            if rule_reasons
            else ""
        )
        if problem:
            return Reject("; ".join([problem, *rejections]), raw=text)
        return {**_row(row, text, "rule", rejections), "prompt": ""}

    def quarantine(self, row: dict, reject: Reject) -> QuarantineRecord:
        return _quarantine(row, reject.reason, reject.raw)


def rewrite_seeds(seeds: pa.Table, llm, settings: RewriteSettings | None = None) -> RewriteResult:
    """Open-ended rewrites of every seed (see the module docstring); at most 1 + retries LLM calls."""
    settings = settings or RewriteSettings()
    task = RewriteTask(retries=settings.retries, retry_temperature=settings.retry_temperature, settings=settings)
    table, quarantine, stats = task.run(seeds, llm, settings.params(0))
    result = RewriteResult(
        rows=table.to_pylist(),
        quarantine=quarantine,
        rejection_reasons=stats["rejections"],
        llm_calls=stats["llm_calls"],
        cache_hits=stats["cache_hits"],
        generated_tokens=stats["generated_tokens"],
        rounds=stats["rounds"],
    )
    result.counts = {
        "llm_accepted": stats["accepted"],
        "llm_accepted_on_retry": stats["accepted_on_retry"],
        "rule_fallback": stats["fallback"],
        "quarantined": stats["quarantined"],
    }
    result.refers_to_options = sum(refers_to_options(r["open_question"]) for r in result.rows)
    return result
