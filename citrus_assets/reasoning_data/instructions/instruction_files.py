"""Instruction data for SFT stages 1 and 2: one inbox file -> normalized chat rows.

Accepted records (JSONL, or a ``.json`` list): OpenAI ``{"messages": [{"role", "content"}]}`` and
ShareGPT / Infinity-Instruct ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}`` (also
``user``/``assistant``). Both become ``MESSAGES_TYPE`` rows (rules in ``chat.normalize_turns``); a record
that breaks them, is not JSON or not UTF-8 is quarantined with its line and the reason. Exact duplicates
within the file (same normalized conversation, ``chat.conversation_key``) are skipped and counted; the
first occurrence is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.text.language import detect_language
from citrus_assets.reasoning_data.chat import (
    USER,
    BadChat,
    chat_from_record,
    keys,
    read_records,
    user_turns,
)
from citrus_assets.reasoning_data.schemas import MESSAGES_TYPE
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

INSTRUCTION_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [source line id]
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("instruction_set", pa.string()),  # the partition (file) key
        ("format", pa.string()),  # "messages" | "conversations"
        ("language", pa.string()),
        ("messages", MESSAGES_TYPE),
        ("n_user_turns", pa.int32()),
        ("conversation_key", pa.string()),  # exact-dedup key (normalized conversation hash)
        ("prompt_key", pa.string()),  # normalized user turns hash
    ]
)


@dataclass
class InstructionLoad:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    duplicates: int = 0
    formats: dict[str, int] = field(default_factory=dict)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=INSTRUCTION_SCHEMA)


def load_instruction_file(path: Path, instruction_set: str) -> InstructionLoad:
    out = InstructionLoad()
    uri = str(path)
    seen: set[str] = set()
    for locator, raw, record, error in read_records(path):
        try:
            if error:
                raise BadChat(error)
            messages, fmt = chat_from_record(record)
        except BadChat as e:
            out.quarantine.append(QuarantineRecord(uri, locator, str(e), raw.decode("utf-8", "replace")[:20000]))
            continue
        key, pkey = keys(messages)
        if key in seen:
            out.duplicates += 1
            continue
        seen.add(key)
        out.formats[fmt] = out.formats.get(fmt, 0) + 1
        out.rows.append(
            {
                RECORD_ID: record_id("inst", instruction_set, key),
                PARENT_IDS: [source_id(uri, raw)],
                SOURCE_URI: uri,
                SOURCE_LOCATOR: locator,
                "instruction_set": instruction_set,
                "format": fmt,
                "language": detect_language(" ".join(m["content"] for m in messages if m["role"] == USER)),
                "messages": messages,
                "n_user_turns": user_turns(messages),
                "conversation_key": key,
                "prompt_key": pkey,
            }
        )
    return out
