"""Plain helpers of the ``reasoning_traces`` asset: open-question rows in, trace rows + quarantine out."""

from __future__ import annotations

import json

import pyarrow as pa

from citrus_assets.reasoning_data import dual_roles as R
from citrus_assets.reasoning_data.dual_expert import DualExpertLoop, LoopConfig, OpenQuestion, TraceResult
from citrus_assets.reasoning_data.schemas import TRACE_SCHEMA
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import (
    GEN_COMPLETION_TOKENS, GEN_MODEL_ID, GEN_MODEL_REVISION, GEN_PROMPT_HASH, GEN_PROMPT_TEMPLATE, GEN_PROMPT_TOKENS,
    GEN_SAMPLING, PARENT_IDS, RECORD_ID,
)

SOURCE = "open_questions"


def to_open_question(row: dict) -> OpenQuestion:
    return OpenQuestion(
        question_id=row[RECORD_ID], question=row["open_question"], ground_truth=row["ground_truth"] or "",
        options=tuple(row.get("options") or ()), answer_letters=tuple(row.get("answer_letters") or ()),
        language=row.get("language") or "en",
    )


def trace_row(r: TraceResult, llm, config: LoopConfig) -> dict:
    q, a = r.question, r.final
    sampling = config.to_json()
    return {
        RECORD_ID: record_id("trace", q.question_id, llm.model_id, sampling, a.accepted, a.conclusion),
        PARENT_IDS: [q.question_id],
        "question_id": q.question_id,
        "language": q.language,
        "open_question": q.question,
        "ground_truth": q.ground_truth,
        "conclusion": a.conclusion,
        "accepted_steps": list(a.accepted),
        "transcript": r.transcript(),
        "rounds": a.rounds,
        "attempts": len(r.attempts),
        "llm_calls": r.llm_calls,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        GEN_MODEL_ID: llm.model_id,
        GEN_MODEL_REVISION: llm.model_revision,
        GEN_PROMPT_TEMPLATE: "+".join(R.PROMPT_FILES[k] for k in sorted(R.PROMPT_FILES)),
        GEN_PROMPT_HASH: R.prompt_set_hash(),
        GEN_SAMPLING: sampling,
        GEN_PROMPT_TOKENS: r.prompt_tokens,
        GEN_COMPLETION_TOKENS: r.completion_tokens,
    }


def quarantine_row(r: TraceResult) -> QuarantineRecord:
    return QuarantineRecord(SOURCE, r.question.question_id, r.reason, r.transcript())


def run_traces(questions: pa.Table, llm, config: LoopConfig) -> tuple[pa.Table, list[QuarantineRecord], dict]:
    """Run the loop on every open question; (accepted traces, quarantined failures, statistics)."""
    rows = questions.to_pylist()
    loop = DualExpertLoop(llm, config)
    results = loop.run([to_open_question(r) for r in rows])
    accepted = [r for r in results if r.accepted]
    failed = [r for r in results if not r.accepted]
    table = pa.Table.from_pylist([trace_row(r, llm, config) for r in accepted], schema=TRACE_SCHEMA)
    calls = [c for r in results for c in r.calls]
    n_acc = len(accepted)
    stats = {
        "questions": len(results),
        "accepted": n_acc,
        "failed": len(failed),
        "acceptance_rate": round(n_acc / len(results), 4) if results else 0.0,
        "llm_calls": len(calls),
        "llm_batches": len(loop.batches),
        "cache_hits": sum(1 for c in calls if c["cached"]),
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "feedback_redactions": sum(1 for r in results for a in r.attempts for s in a.steps if s["feedback_redacted"]),
        "unparsed_ratings": sum(1 for r in results for a in r.attempts for s in a.steps if not s["rating_parsed"]),
        "degenerate_steps": sum(1 for r in results for a in r.attempts for s in a.steps if s.get("degenerate")),
        "early_stops": sum(1 for r in results for a in r.attempts if a.status == "complete"),
        "rounds_histogram": _histogram(r.final.rounds for r in results),
        "attempts_histogram": _histogram(len(r.attempts) for r in results),
        "failure_reasons": _histogram(_reason_code(r.reason) for r in failed),
    }
    stats["calls_per_accepted"] = round(stats["llm_calls"] / n_acc, 2) if n_acc else None
    stats["tokens_per_accepted"] = (
        round((stats["prompt_tokens"] + stats["completion_tokens"]) / n_acc, 1) if n_acc else None)
    return table, [quarantine_row(r) for r in failed], stats


def _reason_code(reason: str) -> str:
    tail = reason.split(": ", 1)[-1]
    for code in ("empty conclusion", "conclusion names no answer option", "wrong answer"):
        if tail.startswith(code):
            return code
    return tail


def _histogram(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def transcript_calls(transcript: str) -> list[dict]:
    return [c for a in json.loads(transcript)["attempts"] for c in a["calls"]]
