"""``sft_examples`` chunk by chunk (issue 17 goal 3): ``build_sft_examples`` over one chunk of traces at a time,
each chunk's rows and drops written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's."""

from __future__ import annotations

from resources.lake import ChunkStage, RowsById, input_chunks

# the open-question columns the rewrite's check reads (``sft_rewrite.RewriteTask``): a batched input reads only these
QUESTION_COLUMNS = ["options", "answer_letters", "ground_truth", "language"]


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
    (the traces follow the open questions' order), so neither input is held whole."""
    chunk_size = max(1, int(chunk_size))
    lookup = RowsById(questions, QUESTION_COLUMNS)
    stats: dict = {"traces": 0, "kept": 0, "dropped": 0, "dropped_by_reason": {}, "llm_calls": 0}
    stats.update(cache_hits=0, completion_tokens=0, n_tokens=[])
    for chunk in input_chunks(traces, chunk_size):
        mine = lookup.take(chunk.column("question_id").to_pylist())
        table, dropped, part = build(chunk, mine, llm, config)
        stage.add(table, dropped)
        for k, v in part.items():
            if k == "dropped_by_reason":
                for code, n in v.items():
                    stats[k][code] = stats[k].get(code, 0) + n
            else:
                stats[k] += v
    stats["question_rescans"] = lookup.rescans
    return stats
