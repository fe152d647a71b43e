"""``open_questions`` chunk by chunk (issue 17 goal 3): ``rewrite_seeds`` over one chunk of seeds at a time, each
chunk's rows and quarantine written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's."""

from __future__ import annotations

from citrus_assets.reasoning_data.questions.rewrite import RewriteResult, RewriteSettings, rewrite_seeds
from resources.lake import ChunkStage, input_chunks


def stage_rewrites(
    seeds: object, llm, settings: RewriteSettings, stage: ChunkStage, chunk_size: int = 2000
) -> RewriteResult:
    """``rewrite_seeds`` over ``chunk_size`` seeds at a time, each chunk's rows and quarantine written to ``stage``
    (``stage.staged()`` is the output, ``stage.quarantine_records()`` the quarantine); the returned result has the
    counts but no rows. Every seed is rewritten on its own (same prompts and sampling per seed), so the rows, their
    ids and the quarantined records are those of one call over the whole partition; what differs is the number of
    batched calls (``llm_calls``: 1 + retries per chunk) and the quarantine's order when several chunks reject
    seeds both before and after asking the model (it is in chunk order)."""
    total = RewriteResult()
    for chunk in input_chunks(seeds, chunk_size):  # a table or the batched input (``resources.lake.input_tables``)
        part = rewrite_seeds(chunk, llm, settings)
        total.seeds += chunk.num_rows
        stage.add(part.table(), part.quarantine)
        for k, v in part.counts.items():
            total.counts[k] += v
        for code, n in part.rejection_reasons.items():
            total.rejection_reasons[code] = total.rejection_reasons.get(code, 0) + n
        total.llm_calls += part.llm_calls
        total.cache_hits += part.cache_hits
        total.generated_tokens += part.generated_tokens
        total.rounds = max(total.rounds, part.rounds)
        total.refers_to_options += part.refers_to_options
    return total
