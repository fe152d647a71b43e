"""Rewrite accepted dual-expert transcripts into verified first-person SFT traces.

One batched LLM call per attempt turns each transcript (facts, steps in order — abandoned ones with
the reason —, conclusion) into ONE first-person stream of thought ``<think>…</think><answer>…</answer>``.
A rewrite is kept only if (1) the tags are well-formed, (2) its ``<answer>`` verifies against the
ground truth by the shared answer rule, (3) it carries no process-leak phrase (``common.leakage``), (4) its
``<think>`` passes the one degeneration filter (``common.degeneration``: repetition, minimum content, the
question's language).
Rewrites that fail are retried with a new seed up to ``max_attempts``, then dropped with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from citrus_assets.common.decontamination.leakage import find_process_leaks
from citrus_assets.common.prompts import load_prompt
from citrus_assets.common.text.degeneration import degeneration_reason
from citrus_assets.common.text.reasoning_format import parse_think_answer
from citrus_assets.reasoning_data.traces import dual_roles as R
from resources.llm import SamplingParams

REWRITE_PROMPT = "sft_rewrite"
SYSTEM_PROMPT = "citrus_system"
USER_PROMPT = "citrus_open_user"

MALFORMED, WRONG_ANSWER, LEAK, EMPTY = "malformed_tags", "answer_not_verified", "leak_phrase", "empty_response"
DEGENERATE = "degenerate"

# (think, answer) of a well-formed response, else None: the one validator (lower-case tags only)
parse_response = parse_think_answer


def check_response(text: str, options, answer_letters, ground_truth: str, language: str | None = None) -> str:
    """'' when the response may be trained on, else the first failed filter (a reason code + detail)."""
    if not (text or "").strip():
        return EMPTY
    parsed = parse_response(text)
    if parsed is None:
        return MALFORMED
    leaks = find_process_leaks(text)
    if leaks:
        return f"{LEAK}: {', '.join(leaks)}"
    v = R.verify(f"<answer>{parsed[1]}</answer>", options, answer_letters, ground_truth)
    if not v.correct:
        return f"{WRONG_ANSWER}: read {'/'.join(v.letters) or 'no option'} ({v.method})"
    bad = degeneration_reason(parsed[0], kind="reasoning", language=language)
    if bad:
        return f"{DEGENERATE}: <think> {bad}"
    return ""


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0]


def notes(transcript: str) -> tuple[str, str]:
    """(notes, conclusion) from a trace transcript: its accepted attempt, steps in order."""
    t = json.loads(transcript)
    a = t["attempts"][-1]
    lines = [f"Facts and candidates first noted:\n{a['facts']}", "Steps:"]
    for i, s in enumerate(a["steps"], 1):
        if s["verdict"] == "keep":
            lines.append(f"{i}. {s['step']}")
        else:
            why = s["feedback"] or "it did not hold up"
            lines.append(f"{i}. (abandoned) {s['step'] or '(no step)'} — abandoned because: {why}")
    return "\n".join(lines), a["conclusion"]


def rewrite_messages(question: str, transcript: str, answer: str) -> list[dict]:
    text_notes, conclusion = notes(transcript)
    concl = re.sub(r"<answer>.*?(</answer>|$)", "", conclusion, flags=re.DOTALL).replace("CONCLUSION:", "").strip()
    prompt = load_prompt(REWRITE_PROMPT).render(
        question=question, notes=text_notes, conclusion=concl or answer, answer=answer
    )
    return [{"role": "user", "content": prompt}]


def sft_messages(question: str, response: str) -> list[dict]:
    """The training conversation: Citrus system line, the open question, the verified response."""
    return [
        {"role": "system", "content": load_prompt(SYSTEM_PROMPT).text},
        {"role": "user", "content": load_prompt(USER_PROMPT).render(question=question)},
        {"role": "assistant", "content": response},
    ]


@dataclass
class RewriteItem:
    trace: dict  # a reasoning_traces row
    question: dict  # its open_questions row
    answer: str  # the verified conclusion's answer
    prompt: str = ""  # rendered rewrite prompt of the last attempt
    response: str = ""
    gen: object = None  # Generation of the last attempt
    attempts: int = 0
    reason: str = "not attempted"
    history: list[dict] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return self.reason == ""


def rewrite_all(
    items: list[RewriteItem], llm, temperature: float, top_p: float, max_tokens: int, seed: int, max_attempts: int
) -> SamplingParams | None:
    """Rewrite every item (one batched call per attempt, failures retried); returns the last params used."""
    pending, params = list(items), None
    for attempt in range(max(1, max_attempts)):
        if not pending:
            break
        params = SamplingParams(n=1, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed + attempt)
        msgs = [rewrite_messages(it.trace["open_question"], it.trace["transcript"], it.answer) for it in pending]
        gens = llm.generate(msgs, params)
        for it, m, g in zip(pending, msgs, gens):
            it.gen, it.response, it.prompt, it.attempts = g[0], g[0].text.strip(), llm.render(m), attempt + 1
            q = it.question
            it.reason = check_response(
                it.response, q["options"], q["answer_letters"], q["ground_truth"], q.get("language")
            )
            it.history.append(
                {
                    "attempt": attempt,
                    "seed": params.seed,
                    "response": g[0].text,
                    "reason": it.reason,
                    "cached": g[0].cached,
                    "completion_tokens": g[0].completion_tokens,
                }
            )
        pending = [it for it in pending if not it.kept]
    return params


def count_tokens(llm, texts: list[str], fallback: list[int]) -> list[int]:
    """Token counts with the model's tokenizer when the backend has one, else the completion tokens."""
    backend = getattr(getattr(llm, "client", None), "backend", None) or getattr(llm, "backend", None)
    try:
        tok = getattr(backend, "tokenizer", None)
        if tok is not None:
            return [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    except Exception:  # noqa: BLE001 - counting must never fail a partition
        pass
    return list(fallback)
