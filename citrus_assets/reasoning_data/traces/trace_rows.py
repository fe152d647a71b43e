"""Plain helpers of the ``reasoning_traces`` asset: open-question rows in, trace rows + quarantine out."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from citrus_assets.reasoning_data.schemas import TRACE_SCHEMA
from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.continuous import DEFAULT_COHORT, ContinuousLoop
from citrus_assets.reasoning_data.traces.dual_expert import DualExpertLoop, LoopConfig, OpenQuestion, TraceResult
from resources.lake import (
    QUARANTINE_RECORD_SCHEMA,
    QuarantineRecord,
    StagedParquet,
    chunk_fingerprint,
    input_chunks,
    input_table,
)
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, gen_columns

SOURCE = "open_questions"
# the open-question columns the loop reads (``to_open_question``): a batched input reads only these
QUESTION_COLUMNS = [RECORD_ID, "open_question", "ground_truth", "options", "answer_letters", "language"]


def to_open_question(row: dict) -> OpenQuestion:
    return OpenQuestion(
        question_id=row[RECORD_ID],
        question=row["open_question"],
        ground_truth=row["ground_truth"] or "",
        options=tuple(row.get("options") or ()),
        answer_letters=tuple(row.get("answer_letters") or ()),
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
        **gen_columns(
            llm,
            template="+".join(R.PROMPT_FILES[k] for k in sorted(R.PROMPT_FILES)),
            prompt_hash=R.prompt_set_hash(),
            sampling=sampling,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
        ),
    }


def quarantine_row(r: TraceResult) -> QuarantineRecord:
    return QuarantineRecord(SOURCE, r.question.question_id, r.reason, r.transcript())


def run_traces(
    questions: object,
    llm,
    config: LoopConfig,
    *,
    scheduling: str = "continuous",
    chunk_size: int = DEFAULT_COHORT,
    spill_dir: str | Path | None = None,
    max_in_flight: int = 0,
    max_batch: int = 0,
    staged: bool = False,
) -> tuple[pa.Table | StagedParquet, Iterable[QuarantineRecord | pa.Table], dict]:
    """Run the loop on every open question; (accepted traces, quarantined failures, statistics).

    ``questions``: a ``pa.Table`` or the IO manager's batched input (``resources.lake.input_tables``): the
    continuous engine reads it chunk by chunk, only ``QUESTION_COLUMNS``, so the step never holds the partition.
    ``continuous`` (default): ``ContinuousLoop`` over cohorts of ``chunk_size`` questions read from ``questions``
    chunk by chunk; each finished chunk becomes Arrow at once (its Python objects are dropped) and, with
    ``spill_dir``, is written there as it finishes (``ChunkSpill``): a re-run after a crash skips the chunks on
    disk, and the returned table is memory-mapped from them. ``rounds``: the synchronous ``DualExpertLoop`` over
    the whole partition (the reference engine). Same rows either way for the same cache (see continuous.py)."""
    if scheduling == "rounds":
        loop = DualExpertLoop(llm, config)
        results = loop.run([to_open_question(r) for r in input_table(questions, _columns(questions)).to_pylist()])
        table, failed, counts = chunk_output(results, llm, config)
        return table, [quarantine_record(r) for r in failed.to_pylist()], finish_stats(counts, len(loop.batches))
    if scheduling != "continuous":
        raise ValueError(f"scheduling must be 'continuous' or 'rounds', got {scheduling!r}")
    chunk_size = max(1, int(chunk_size))
    max_in_flight, max_batch = dispatch_settings(llm, chunk_size, max_in_flight, max_batch)
    spill = ChunkSpill(spill_dir, fingerprint(questions, llm, config, chunk_size)) if spill_dir else None
    done = spill.done() if spill else {}
    loop = ContinuousLoop(llm, config, max_in_flight=max_in_flight, max_batch=max_batch, cohort_size=chunk_size)
    kept: dict[int, tuple[pa.Table, pa.Table, dict]] = {}
    for k, results in loop.run_cohorts(_questions(questions, chunk_size), skip=frozenset(done)):
        out = chunk_output(results, llm, config)
        del results
        if spill:
            spill.write(k, *out)
        else:
            kept[k] = out
    if spill and staged:  # the chunk files themselves: the IO manager streams them (memory flat in partition size)
        counts = merge_counts(spill.counts())
        stats = finish_stats(counts, loop.batches)
        stats.update(chunks=len(spill.done()), chunks_resumed=len(done))
        return spill.staged(), spill.quarantine_tables(), stats
    parts = spill.read_all() if spill else [kept[k] for k in sorted(kept)]
    table = pa.concat_tables([p[0] for p in parts]) if parts else TRACE_SCHEMA.empty_table()
    failed = [quarantine_record(r) for p in parts for r in p[1].to_pylist()]
    counts = merge_counts([p[2] for p in parts])
    stats = finish_stats(counts, loop.batches)
    stats.update(chunks=len(parts), chunks_resumed=len(done))
    return table, failed, stats


def dispatch_settings(llm, chunk_size: int, max_in_flight: int = 0, max_batch: int = 0) -> tuple[int, int]:
    """(max_in_flight, max_batch); 0 = by backend. A server ("openai") is kept busy: the llm's
    ``max_concurrency`` prompts in flight in micro-batches of 16 on several threads. A local model (transformers,
    vLLM in process, a scripted one) gets one batch at a time of everything waiting with the same sampling (up to
    two chunks): the batches the rounds engine made, so its outputs do not move with batch padding."""
    if getattr(llm, "backend", "") == "openai":
        batch = max_batch or 16
        return max(batch, max_in_flight or int(getattr(llm, "max_concurrency", 64) or 64)), batch
    batch = max_batch or 2 * chunk_size
    return max(batch, max_in_flight or batch), batch


def spill_dir(llm, asset: str, partition: str | None) -> Path:
    """The step's local staging folder for finished chunks: under the LLM cache folder (machine-local, like the
    request cache, also when the lake is remote), ``staging/<asset>/<partition>``."""
    from resources.lineage.writer import path_component
    from resources.llm.backends.builtin import cache_dir

    return cache_dir(getattr(llm, "cache_dir", "") or None) / "staging" / asset / path_component(partition)


def _columns(questions: object) -> list[str] | None:
    """``QUESTION_COLUMNS`` for a batched input (read only those), all columns of a table (tests hand partial ones)."""
    return None if isinstance(questions, pa.Table) else QUESTION_COLUMNS


def _questions(questions: object, chunk_size: int):
    """The open questions of ``questions`` (a table or a batched input) in order, converted one chunk at a time."""
    for chunk in input_chunks(questions, chunk_size, _columns(questions)):
        for row in chunk.to_pylist():
            yield to_open_question(row)


QUARANTINE_CHUNK_SCHEMA = pa.schema([("question_id", pa.string()), ("reason", pa.string()), ("raw", pa.string())])


def quarantine_record(row: dict) -> QuarantineRecord:
    return QuarantineRecord(SOURCE, row["question_id"], row["reason"], row["raw"])


def chunk_output(results: list[TraceResult], llm, config: LoopConfig) -> tuple[pa.Table, pa.Table, dict]:
    """One chunk's results as Arrow: (trace rows, quarantine rows, additive counts)."""
    accepted = [r for r in results if r.accepted]
    failed = [r for r in results if not r.accepted]
    table = pa.Table.from_pylist([trace_row(r, llm, config) for r in accepted], schema=TRACE_SCHEMA)
    bad = pa.Table.from_pylist(
        [{"question_id": q.source_locator, "reason": q.reason, "raw": q.raw} for q in map(quarantine_row, failed)],
        schema=QUARANTINE_CHUNK_SCHEMA,
    )
    calls = [c for r in results for c in r.calls]
    steps = [s for r in results for a in r.attempts for s in a.steps]
    counts = {
        "questions": len(results),
        "accepted": len(accepted),
        "failed": len(failed),
        "llm_calls": len(calls),
        "cache_hits": sum(1 for c in calls if c["cached"]),
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "feedback_redactions": sum(1 for s in steps if s["feedback_redacted"]),
        "unparsed_ratings": sum(1 for s in steps if not s["rating_parsed"]),
        "degenerate_steps": sum(1 for s in steps if s.get("degenerate")),
        "early_stops": sum(1 for r in results for a in r.attempts if a.status == "complete"),
        "rounds_histogram": _histogram(r.final.rounds for r in results),
        "attempts_histogram": _histogram(len(r.attempts) for r in results),
        "failure_reasons": _histogram(_reason_code(r.reason) for r in failed),
    }
    return table, bad, counts


def merge_counts(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for k, v in p.items():
            if isinstance(v, dict):
                h = out.setdefault(k, {})
                for kk, vv in v.items():
                    h[kk] = h.get(kk, 0) + vv
            else:
                out[k] = out.get(k, 0) + v
    for k, v in out.items():
        if isinstance(v, dict):
            out[k] = dict(sorted(v.items()))
    return out


def finish_stats(counts: dict, batches: int) -> dict:
    keys = (
        "questions",
        "accepted",
        "failed",
        "llm_calls",
        "cache_hits",
        "prompt_tokens",
        "completion_tokens",
        "feedback_redactions",
        "unparsed_ratings",
        "degenerate_steps",
        "early_stops",
    )
    stats = {k: counts.get(k, 0) for k in keys}
    for k in ("rounds_histogram", "attempts_histogram", "failure_reasons"):
        stats[k] = counts.get(k, {})
    n, n_acc = stats["questions"], stats["accepted"]
    stats["acceptance_rate"] = round(n_acc / n, 4) if n else 0.0
    stats["llm_batches"] = batches
    stats["calls_per_accepted"] = round(stats["llm_calls"] / n_acc, 2) if n_acc else None
    stats["tokens_per_accepted"] = (
        round((stats["prompt_tokens"] + stats["completion_tokens"]) / n_acc, 1) if n_acc else None
    )
    return stats


def fingerprint(questions: object, llm, config: LoopConfig, chunk_size: int) -> str:
    """What a spilled chunk depends on: the questions (ids, in order), model, loop config, prompts, chunk size
    (``resources.lake.chunk_fingerprint``, the one home of chunk keys)."""
    return chunk_fingerprint([questions], [llm], config.to_json(), R.prompt_set_hash(), str(chunk_size))


class ChunkSpill:
    """Finished chunks on local disk, one set per fingerprint: ``<dir>/<fingerprint>/chunk-NNNNNN.{traces,quarantine}
    .arrow`` + ``.json`` (the counts; written last, so it marks the chunk complete). Other fingerprints' folders
    (a changed partition or config) are removed when a run starts."""

    def __init__(self, root: str | Path, key: str) -> None:
        self.root = Path(root)
        self.dir = self.root / key
        if self.root.is_dir():
            for other in self.root.iterdir():
                if other.is_dir() and other.name != key:
                    shutil.rmtree(other, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, k: int, suffix: str) -> Path:
        return self.dir / f"chunk-{k:06d}.{suffix}"

    def done(self) -> dict[int, Path]:
        out = {}
        for marker in sorted(self.dir.glob("chunk-*.json")):
            k = int(marker.name[6:12])
            if self._path(k, "traces.arrow").exists() and self._path(k, "quarantine.arrow").exists():
                out[k] = marker
        return out

    def write(self, k: int, table: pa.Table, bad: pa.Table, counts: dict) -> None:
        for t, suffix in ((table, "traces.arrow"), (bad, "quarantine.arrow")):
            tmp = self._path(k, suffix + ".tmp")
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
                w.write_table(t, max_chunksize=512)
            os.replace(tmp, self._path(k, suffix))
        tmp = self._path(k, "json.tmp")
        tmp.write_text(json.dumps(counts, sort_keys=True))
        os.replace(tmp, self._path(k, "json"))

    def read_all(self) -> list[tuple[pa.Table, pa.Table, dict]]:
        """Every finished chunk in order, the Arrow tables memory-mapped (not copied into the heap)."""

        def mapped(path: Path) -> pa.Table:
            return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()

        return [
            (
                mapped(self._path(k, "traces.arrow")),
                mapped(self._path(k, "quarantine.arrow")),
                json.loads(self._path(k, "json").read_text()),
            )
            for k in sorted(self.done())
        ]

    def counts(self) -> list[dict]:
        return [json.loads(self._path(k, "json").read_text()) for k in sorted(self.done())]

    def staged(self) -> StagedParquet:
        """The finished chunks' trace rows as one ``StagedParquet`` output (removed by the IO manager once published)."""
        return StagedParquet(
            tuple(str(self._path(k, "traces.arrow")) for k in sorted(self.done())), TRACE_SCHEMA, cleanup=str(self.root)
        )

    def quarantine_tables(self) -> Iterator[pa.Table]:
        """The quarantined questions of every finished chunk, in order, read batch by batch as Arrow tables with
        ``QUARANTINE_RECORD_SCHEMA``'s columns (what ``quarantine_record`` makes of each row; ``Lake.write_quarantine``
        writes them without turning the transcripts into Python strings)."""
        paths = tuple(str(self._path(k, "quarantine.arrow")) for k in sorted(self.done()))
        for t in StagedParquet(paths, QUARANTINE_CHUNK_SCHEMA).tables():
            source = pa.array([SOURCE] * t.num_rows, pa.string())
            cols = [source, t.column("question_id"), t.column("reason"), t.column("raw")]
            yield pa.table(cols, schema=QUARANTINE_RECORD_SCHEMA)

    def quarantine_records(self) -> Iterator[QuarantineRecord]:
        """``quarantine_tables`` as records."""
        for t in self.quarantine_tables():
            yield from (QuarantineRecord(*r.values()) for r in t.to_pylist())

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


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
