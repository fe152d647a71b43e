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

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common import prompts as P
from citrus_assets.common.decontamination.leakage import find_process_leaks
from citrus_assets.common.llm_task import LLMTask, Reject, Reply
from citrus_assets.common.prompts import load_prompt
from citrus_assets.common.text.degeneration import degeneration_reason
from citrus_assets.common.text.reasoning_format import parse_think_answer
from citrus_assets.reasoning_data.schemas import SFT_EXAMPLE_SCHEMA
from citrus_assets.reasoning_data.traces import dual_roles as R
from resources.canonical import canonical_json
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID
from resources.llm import Prompt, SamplingParams

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
class RewriteTraces(LLMTask):
    """The rewrite as an ``LLMTask``: a row is a trace with its open question (``question``), the verified answer
    (``answer``) and its attempts (``history``); a failed rewrite is asked again with the next seed (``retries`` =
    max_attempts - 1), then quarantined with the last reason, the prompt and every attempt."""

    name: ClassVar[str] = "sft_examples"
    prompts: ClassVar[tuple[str, ...]] = (REWRITE_PROMPT, SYSTEM_PROMPT, USER_PROMPT)
    schema: ClassVar[pa.Schema] = SFT_EXAMPLE_SCHEMA
    render: Callable[[Prompt], str] = str  # llm.render (the quarantined prompt)

    def prompt_hash(self, row: dict) -> str:
        return P.prompt_hash(REWRITE_PROMPT)  # the rewrite prompt alone (the gen_* columns before the move)

    def sampling(self, params: SamplingParams, attempt: int) -> SamplingParams:
        return dataclasses.replace(params, seed=params.seed + attempt)  # the same temperature, a new seed

    def format_input(self, row: dict) -> Prompt:
        return rewrite_messages(row["open_question"], row["transcript"], row["answer"])

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        response, q, gen = reply.text.strip(), row["question"], reply.generation
        reason = check_response(response, q["options"], q["answer_letters"], q["ground_truth"], q.get("language"))
        row["history"].append(
            {
                "attempt": reply.attempt,
                "seed": reply.params.seed,
                "response": reply.text,
                "reason": reason,
                "cached": gen.cached,
                "completion_tokens": gen.completion_tokens,
            }
        )
        if reason:
            return Reject(reason)
        return {
            RECORD_ID: record_id("sft", row[RECORD_ID], reply.model_id, reply.sampling, response),
            PARENT_IDS: [row[RECORD_ID]],
            "question_id": row["question_id"],
            "language": row["language"],
            "messages": sft_messages(row["open_question"], response),
            "response": response,
            "final_answer": parse_response(response)[1],
            "n_tokens": 0,  # counted over the kept rows (count_tokens)
            "ground_truth": row["ground_truth"],
        }

    def fallback(self, row: dict, rejections: list[str], last: Reject) -> Reject:
        prompt = self.render(self.format_input(row))
        return Reject(last.reason, raw=canonical_json({"prompt": prompt, "attempts": row["history"]}, strict=True))

    def quarantine(self, row: dict, reject: Reject) -> QuarantineRecord:
        return QuarantineRecord("reasoning_traces", row[RECORD_ID], reject.reason, reject.raw)


def rewrite_traces(traces: list[dict], llm, params: SamplingParams, max_attempts: int):
    """(kept SFT_EXAMPLE_SCHEMA table, quarantined rewrites, every attempt) of ``traces`` (rows with ``question``
    and ``answer``): one batched call per attempt, ``params.seed`` + attempt."""
    rows = [{**t, "history": []} for t in traces]
    task = RewriteTraces(retries=max(1, max_attempts) - 1, render=llm.render)
    table, dropped, _ = task.run(rows, llm, params)
    kept = table.to_pylist()
    fallback = [r["gen_completion_tokens"] for r in kept]
    for r, n in zip(kept, count_tokens(llm, [r["response"] for r in kept], fallback)):
        r["n_tokens"] = int(n)
    history = [h for r in rows for h in r["history"]]
    return pa.Table.from_pylist(kept, schema=SFT_EXAMPLE_SCHEMA), dropped, history


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
