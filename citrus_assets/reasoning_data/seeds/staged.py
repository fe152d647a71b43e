"""``judge_answers`` chunk by chunk (issue 17 goal 3): each judge of the panel answers ``chunk_size`` seeds at a
time, and each chunk's answers are written to local disk (``ChunkStage``) and handed to the IO manager as a
``StagedParquet``, so the step holds one chunk's Python rows, never the partition's answers. With a keyed stage
(``judge_key``), the chunks a crashed run finished are resumed, not asked again."""

from __future__ import annotations

import json
from collections.abc import Sequence

from citrus_assets.common.prompts import code_version
from citrus_assets.reasoning_data.seeds.judging import SYSTEM_PROMPT, USER_PROMPT, JudgeTally, answer_seeds
from resources.lake import ChunkStage, chunk_fingerprint, input_chunks
from resources.llm import SamplingParams


def judge_key(seeds: object, judges: Sequence[tuple[str, object]], params: SamplingParams, chunk_size: int) -> str:
    """The stage key of ``stage_panel_answers``: the seed ids in order, every judge's name, model and revision, the
    sampling, the prompts and the chunk size."""
    names = json.dumps([name for name, _ in judges])
    prompts = code_version("judge", SYSTEM_PROMPT, USER_PROMPT)
    llms = [llm for _, llm in judges]
    return chunk_fingerprint([seeds], llms, names, params.to_json(), prompts, str(max(1, int(chunk_size))))


def stage_panel_answers(
    seeds: object,
    judges: Sequence[tuple[str, object]],
    params: SamplingParams,
    stage: ChunkStage,
    chunk_size: int = 2000,
) -> JudgeTally:
    """``answer_with_panel`` over ``chunk_size`` seeds at a time, each chunk's answers written to ``stage``
    (``stage.staged()`` is the output). The chunks go judge by judge, so the rows are in the one-call order
    (every seed of the first judge, then the next judge's). Every seed is answered on its own (same prompt and
    sampling per seed), so the rows and their record ids are those of the one call. What differs is the number of
    batched calls: one per judge and chunk. ``AnswerSeeds`` rejects nothing, so there is no quarantine, as in the
    one call. A chunk a keyed ``stage`` already holds (``ChunkStage.resume``) is not asked again: its statistics
    are rebuilt from its saved rows. Returns the statistics of the rows (``JudgeTally``)."""
    chunk_size = max(1, int(chunk_size))
    tally = JudgeTally()
    for name, llm in judges:
        for chunk in input_chunks(seeds, chunk_size):  # a table or the batched input, read again per judge
            k = stage.n
            if stage.resume() is not None:
                tally.add(stage.rows(k))
                continue
            table = answer_seeds(chunk, llm, params, judge=name)
            stage.add(table)
            tally.add(table)
    return tally
