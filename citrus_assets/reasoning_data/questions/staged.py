"""``open_questions`` chunk by chunk (issue 17 goal 3): ``rewrite_seeds`` over one chunk of seeds at a time, each
chunk's rows and quarantine written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's. With a keyed stage
(``rewrite_key``), the chunks a crashed run finished are resumed, not asked again."""

from __future__ import annotations

from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.questions.rewrite import PROMPTS, RewriteResult, RewriteSettings, rewrite_seeds
from resources.canonical import canonical_json
from resources.lake import ChunkStage, chunk_fingerprint, input_chunks


def rewrite_key(seeds: object, llm, settings: RewriteSettings, chunk_size: int) -> str:
    """The stage key of ``stage_rewrites``: the seed ids in order, the model and revision, the settings, the
    prompts and the chunk size."""
    config = canonical_json(settings.model_dump(), strict=True)
    prompts = code_version("open-questions", *PROMPTS.values())
    return chunk_fingerprint([seeds], [llm], config, prompts, str(max(1, int(chunk_size))))


def stage_rewrites(
    seeds: object, llm, settings: RewriteSettings, stage: ChunkStage, chunk_size: int = 2000
) -> RewriteResult:
    """``rewrite_seeds`` over ``chunk_size`` seeds at a time, each chunk's rows and quarantine written to ``stage``
    (``stage.staged()`` is the output, ``stage.quarantine_records()`` the quarantine); the returned result has the
    counts but no rows. Every seed is rewritten on its own (same prompts and sampling per seed), so the rows, their
    ids and the quarantined records are those of one call over the whole partition; what differs is the number of
    batched calls (``llm_calls``: 1 + retries per chunk) and the quarantine's order when several chunks reject
    seeds both before and after asking the model (it is in chunk order). A chunk a keyed ``stage`` already holds
    (``ChunkStage.resume``) is not asked again: its saved counts are merged."""
    total = RewriteResult()
    for chunk in input_chunks(seeds, chunk_size):  # a table or the batched input (``resources.lake.input_tables``)
        total.seeds += chunk.num_rows
        saved = stage.resume()
        if saved is None:
            part = rewrite_seeds(chunk, llm, settings)
            saved = _counts(part)
            stage.add(part.table(), part.quarantine, saved)
        _merge(total, saved)
    return total


def _counts(part: RewriteResult) -> dict:
    """A chunk's additive counts (what a resumed chunk contributes), as JSON."""
    return {
        "counts": part.counts,
        "rejection_reasons": part.rejection_reasons,
        "llm_calls": part.llm_calls,
        "cache_hits": part.cache_hits,
        "generated_tokens": part.generated_tokens,
        "rounds": part.rounds,
        "refers_to_options": part.refers_to_options,
    }


def _merge(total: RewriteResult, part: dict) -> None:
    for k, v in part["counts"].items():
        total.counts[k] = total.counts.get(k, 0) + v
    for code, n in part["rejection_reasons"].items():
        total.rejection_reasons[code] = total.rejection_reasons.get(code, 0) + n
    total.llm_calls += part["llm_calls"]
    total.cache_hits += part["cache_hits"]
    total.generated_tokens += part["generated_tokens"]
    total.rounds = max(total.rounds, part["rounds"])
    total.refers_to_options += part["refers_to_options"]
