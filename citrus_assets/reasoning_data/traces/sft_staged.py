"""``sft_examples`` chunk by chunk (issue 17 goal 3): ``build_sft_examples`` over one chunk of traces at a time,
each chunk's rows and drops written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from resources.lake import ChunkStage
from resources.lineage.schema import RECORD_ID


def stage_sft_examples(
    traces: pa.Table, questions: pa.Table, llm, config, stage: ChunkStage, build, chunk_size: int = 2000
) -> dict:
    """``build`` (the asset module's ``build_sft_examples``, passed in so this module does not import the asset
    module that imports it) over ``chunk_size`` traces at a time, each chunk's rows and drops written to ``stage``
    (``stage.staged()`` is the output, ``stage.quarantine_tables()`` the drops): the same rows, drops and
    statistics as one call over the whole partition (every trace is rewritten on its own; attempts differ only by
    seed), with only one chunk's Python rows in memory. The drops are in chunk order."""
    chunk_size = max(1, int(chunk_size))
    qids = questions.column(RECORD_ID)
    stats: dict = {"traces": 0, "kept": 0, "dropped": 0, "dropped_by_reason": {}, "llm_calls": 0}
    stats.update(cache_hits=0, completion_tokens=0, n_tokens=[])
    for lo in range(0, traces.num_rows, chunk_size):
        chunk = traces.slice(lo, chunk_size)
        mine = questions.filter(pc.is_in(qids, value_set=pc.unique(chunk.column("question_id"))))
        table, dropped, part = build(chunk, mine, llm, config)
        stage.add(table, dropped)
        for k, v in part.items():
            if k == "dropped_by_reason":
                for code, n in v.items():
                    stats[k][code] = stats[k].get(code, 0) + n
            else:
                stats[k] += v
    return stats
