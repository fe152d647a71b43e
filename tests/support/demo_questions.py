"""Open questions made by simply stripping the options of seed questions (benchmark and tests stand-in
for the ``open_questions`` asset; OPEN_QUESTION_SCHEMA rows with ``rewrite_method="rule"``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID


def open_question_rows(seeds: list[dict]) -> list[dict]:
    rows = []
    for s in seeds:
        question = (f"{s['context'].strip()}\n\n" if s.get("context") else "") + s["stem"].strip()
        truth = "; ".join(o["text"] for o in s["options"] if o["letter"] in s["answer_letters"])
        rows.append(
            {
                RECORD_ID: record_id("openq", s[RECORD_ID], "rule", question),
                PARENT_IDS: [s[RECORD_ID]],
                "question_id": s[RECORD_ID],
                "language": s["language"],
                "closed_stem": question,
                "open_question": question,
                "ground_truth": truth,
                "answer_letters": list(s["answer_letters"]),
                "options": list(s["options"]),
                "rewrite_method": "rule",
                "rewrite_rejections": [],
                "prompt": "",
                **{name: None for name, _ in GEN_FIELDS},
            }
        )
    return rows


def open_questions_from_seed_file(path: str | Path, limit: int | None = None) -> pa.Table:
    rows = load_seed_file(Path(path), seed_set=Path(path).stem).rows[:limit]
    return pa.Table.from_pylist(open_question_rows(rows), schema=OPEN_QUESTION_SCHEMA)
