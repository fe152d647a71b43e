"""``sft_examples`` chunk by chunk (issue 17 goal 3): ``build_sft_examples`` over one chunk of traces at a time,
each chunk's rows and drops written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's. With a keyed stage
(``sft_key``), the chunks a crashed run finished are resumed, not asked again."""

from __future__ import annotations

from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.traces.sft_rewrite import REWRITE_PROMPT, SYSTEM_PROMPT, USER_PROMPT
from resources.canonical import canonical_json
from resources.lake import ChunkStage, RowsById, chunk_fingerprint, input_chunks

# the open-question columns the rewrite's check reads (``sft_rewrite.RewriteTask``): a batched input reads only these
QUESTION_COLUMNS = ["options", "answer_letters", "ground_truth", "language"]


def sft_key(traces: object, questions: object, llm, config, chunk_size: int) -> str:
    """The stage key of ``stage_sft_examples``: the trace and open-question ids in order, the model and revision,
    the config, the prompts and the chunk size."""
    settings = canonical_json(config.model_dump(), strict=True)
    prompts = code_version("sft-examples", REWRITE_PROMPT, SYSTEM_PROMPT, USER_PROMPT)
    return chunk_fingerprint([traces, questions], [llm], settings, prompts, str(max(1, int(chunk_size))))


def stage_sft_examples(
    traces: object, questions: object, llm, config, stage: ChunkStage, build, chunk_size: int = 2000
) -> dict:
    """``build`` (the asset module's ``build_sft_examples``, passed in so this module does not import the asset
    module that imports it) over ``chunk_size`` traces at a time, each chunk's rows and drops written to ``stage``
    (``stage.staged()`` is the output, ``stage.quarantine_tables()`` the drops): the same rows, drops and
    statistics as one call over the whole partition (every trace is rewritten on its own; attempts differ only by
    seed), with only one chunk's Python rows in memory. The drops are in chunk order.

    ``traces`` and ``questions``: tables or the IO manager's batched inputs (``resources.lake.input_tables``), read
    chunk by chunk; each chunk's open questions are found by ``RowsById`` in one forward pass over ``questions``
    (the traces follow the open questions' order), so neither input is held whole. A chunk a keyed ``stage``
    already holds (``ChunkStage.resume``) is not rewritten again: its saved statistics are merged."""
    chunk_size = max(1, int(chunk_size))
    lookup = RowsById(questions, QUESTION_COLUMNS)
    stats: dict = {"traces": 0, "kept": 0, "dropped": 0, "dropped_by_reason": {}, "llm_calls": 0}
    stats.update(cache_hits=0, completion_tokens=0, n_tokens=[])
    for chunk in input_chunks(traces, chunk_size):
        part = stage.resume()
        if part is None:
            mine = lookup.take(chunk.column("question_id").to_pylist())
            table, dropped, part = build(chunk, mine, llm, config)
            stage.add(table, dropped, part)
        for k, v in part.items():
            if k == "dropped_by_reason":
                for code, n in v.items():
                    stats[k][code] = stats[k].get(code, 0) + n
            else:
                stats[k] += v
    stats["question_rescans"] = lookup.rescans
    return stats
