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

import pyarrow as pa

from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.reasoning_data.questions.open_rules import (
    check_rewrite,
    ground_truth,
    refers_to_options,
    rule_rewrite,
)
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import (
    GEN_COMPLETION_TOKENS,
    GEN_MODEL_ID,
    GEN_MODEL_REVISION,
    GEN_PROMPT_HASH,
    GEN_PROMPT_TEMPLATE,
    GEN_PROMPT_TOKENS,
    GEN_SAMPLING,
    PARENT_IDS,
    RECORD_ID,
    SOURCE_LOCATOR,
    SOURCE_URI,
)
from resources.llm import SamplingParams

PROMPTS = {"en": "open_rewrite_en", "zh": "open_rewrite_zh"}
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:open[- ]ended question|rewritten question|question|改写后的问题|开放式问题|问题)"
                    r"(?:\*\*)?\s*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class RewriteSettings:
    max_tokens: int = 128
    temperature: float = 0.0
    retries: int = 1
    retry_temperature: float = 0.8
    seed: int = 0
    rule_fallback: bool = True

    def params(self, round_: int) -> SamplingParams:
        if round_ == 0:
            return SamplingParams(n=1, temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed)
        return SamplingParams(n=1, temperature=self.retry_temperature, max_tokens=self.max_tokens,
                              seed=self.seed + round_)


@dataclass
class RewriteResult:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    counts: dict = field(default_factory=lambda: {"llm_accepted": 0, "llm_accepted_on_retry": 0,
                                                  "rule_fallback": 0, "quarantined": 0})
    rejection_reasons: dict = field(default_factory=dict)  # reason code -> count over all LLM attempts
    llm_calls: int = 0
    cache_hits: int = 0
    generated_tokens: int = 0
    rounds: int = 0
    refers_to_options: int = 0  # accepted rewrites still saying "of the following"/"except"/"下列"

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
    return QuarantineRecord(seed.get(SOURCE_URI) or "", f"{seed.get(SOURCE_LOCATOR) or ''} question {seed[RECORD_ID]}",
                            reason, json.dumps(raw, ensure_ascii=False))


def rewrite_seeds(seeds: pa.Table, llm, settings: RewriteSettings = RewriteSettings()) -> RewriteResult:
    """Open-ended rewrites of every seed (see the module docstring); at most 1 + retries LLM calls."""
    result = RewriteResult()
    rows = []
    for seed in seeds.to_pylist():
        if ground_truth(seed["options"], seed["answer_letters"]):
            rows.append(seed)
        else:  # cannot happen for validated seeds; never rewrite what cannot be verified later
            result.quarantine.append(_quarantine(seed, "no ground-truth option text", seed["stem"]))
            result.counts["quarantined"] += 1
    prompts = [rewrite_messages(r["stem"], r["language"]) for r in rows]
    rejections: list[list[str]] = [[] for _ in rows]
    accepted: dict[int, tuple] = {}
    pending = list(range(len(rows)))
    for round_ in range(1 + max(0, settings.retries)):
        if not pending:
            break
        params = settings.params(round_)
        gens = llm.generate([prompts[i] for i in pending], params)
        result.llm_calls += 1
        result.rounds = round_ + 1
        still = []
        for i, g in zip(pending, gens):
            gen, seed = g[0], rows[i]
            result.cache_hits += gen.cached
            result.generated_tokens += gen.completion_tokens
            text = clean_rewrite(gen.text)
            reasons = check_rewrite(seed["stem"], text, seed["options"], seed["answer_letters"], seed["language"])
            if gen.finish_reason == "length":
                reasons.append("truncated")
            if reasons:
                rejections[i].append(f"attempt {round_ + 1}: " + ", ".join(reasons))
                for r in reasons:
                    code = r.split(":")[0]
                    result.rejection_reasons[code] = result.rejection_reasons.get(code, 0) + 1
                still.append(i)
            else:
                accepted[i] = (text, gen, params)
                result.counts["llm_accepted"] += 1
                result.counts["llm_accepted_on_retry"] += round_ > 0
        pending = still

    for i, seed in enumerate(rows):
        closed, gt = _closed(seed), ground_truth(seed["options"], seed["answer_letters"])
        base = {
            PARENT_IDS: [seed[RECORD_ID]], "question_id": seed[RECORD_ID], "language": seed["language"],
            "closed_stem": closed, "ground_truth": gt, "answer_letters": seed["answer_letters"],
            "options": seed["options"], "rewrite_rejections": rejections[i],
        }
        if i in accepted:
            text, gen, params = accepted[i]
            name = prompt_name(seed["language"])
            row = {**base, "open_question": _with_context(seed, text), "rewrite_method": "llm",
                   "prompt": llm.render(prompts[i]), GEN_MODEL_ID: llm.model_id,
                   GEN_MODEL_REVISION: llm.model_revision, GEN_PROMPT_TEMPLATE: name,
                   GEN_PROMPT_HASH: prompt_hash(name), GEN_SAMPLING: params.to_json(),
                   GEN_PROMPT_TOKENS: gen.prompt_tokens, GEN_COMPLETION_TOKENS: gen.completion_tokens}
        else:
            rule_text = _with_context(seed, rule_rewrite(seed["stem"], seed["language"]))
            rule_reasons = check_rewrite(closed, rule_text, seed["options"], seed["answer_letters"], seed["language"])
            problem = ("rule fallback is off" if not settings.rule_fallback
                       else f"rule rewrite rejected: {', '.join(rule_reasons)}" if rule_reasons else "")
            if problem:
                result.quarantine.append(_quarantine(seed, "; ".join([problem, *rejections[i]]), rule_text))
                result.counts["quarantined"] += 1
                continue
            row = {**base, "open_question": rule_text, "rewrite_method": "rule", "prompt": ""}
            result.counts["rule_fallback"] += 1
        result.refers_to_options += refers_to_options(row["open_question"])
        row[RECORD_ID] = record_id("openq", seed[RECORD_ID], row["rewrite_method"], row["open_question"])
        result.rows.append(row)
    return result
