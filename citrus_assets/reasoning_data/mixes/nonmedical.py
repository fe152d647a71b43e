"""Non-medical reasoning data (logic, math) for SFT stage 3, normalized to chat rows.

Every ``*.jsonl`` / ``*.json`` file of a source folder (default ``sample/reasoning``, or
``$CITRUS_NONMEDICAL_DIR``) is read. A record is either

* ``{"problem": …, "solution": …, "answer": …}`` (``question`` is accepted for ``problem``): the row is
  ``user = problem`` and ``assistant = <think>{solution}</think><answer>{answer}</answer>``; or
* ``{"messages": [...]}`` in OpenAI chat format: kept, with its *last* assistant turn put in the
  reasoning format by ``chat.wrap_reasoning`` when it lacks the tags (think = the whole text,
  answer = the last ``\\boxed{…}`` value, else the last non-empty line).

Bad records are quarantined with file, line and reason; exact duplicates (same normalized conversation)
are skipped and counted.

Each row also keeps ``answer``: the answer the record *states* (its ``answer``/``ground_truth``/
``final_answer`` field, or the ``<answer>`` block its assistant turn already had), "" when the answer in
the chat row was only inferred by ``wrap_reasoning`` (last ``\boxed{}`` or last line). The RL stage
(``rejection_samples``) uses only rows with a stated answer: it is the reward's ground truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from citrus_assets.common.text.answers import answer_span
from citrus_assets.common.text.reasoning_format import has_tags, is_think_answer
from citrus_assets.reasoning_data.chat import (
    ASSISTANT,
    BadChat,
    conversation_key,
    normalize_turns,
    read_records,
    think_answer,
    wrap_reasoning,
)
from resources.inbox import partition_key_for
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id, source_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

NONMEDICAL = "nonmedical"
DEFAULT_DIR = "sample/reasoning"


def nonmedical_dir(configured: str = "") -> Path:
    """The configured folder, else ``$CITRUS_NONMEDICAL_DIR``, else the bundled sample."""
    return Path(configured or os.environ.get("CITRUS_NONMEDICAL_DIR", "") or DEFAULT_DIR)


@dataclass
class NonMedicalLoad:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    duplicates: int = 0
    files: list[str] = field(default_factory=list)


def _text(record: dict, *keys: str) -> str:
    for k in keys:
        v = record.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return ""


def to_messages(record: dict) -> list[dict]:
    """The record as chat messages in the stage-3 reasoning format (raises ``BadChat``)."""
    if "messages" in record:
        messages = normalize_turns(record["messages"])
        last = messages[-1]
        assert last["role"] == ASSISTANT  # normalize_turns guarantees it
        messages[-1] = {"role": ASSISTANT, "content": wrap_reasoning(last["content"])}
        return messages
    if "problem" in record or "question" in record:
        problem, solution, answer = (
            _text(record, "problem", "question"),
            _text(record, "solution"),
            _text(record, "answer"),
        )
        missing = [k for k, v in (("problem", problem), ("solution", solution), ("answer", answer)) if not v]
        if missing:
            raise BadChat(f"empty or missing {', '.join(missing)}")
        if has_tags(solution):
            raise BadChat("solution already contains <think>/<answer> tags")
        return [{"role": "user", "content": problem}, {"role": ASSISTANT, "content": think_answer(solution, answer)}]
    raise BadChat("neither 'messages' nor 'problem'/'solution'/'answer'")


def stated_answer(record: dict) -> str:
    """The answer a record states (see the module doc), "" when there is none."""
    given = _text(record, "answer", "ground_truth", "final_answer")
    if given or not isinstance(record.get("messages"), list):
        return given
    turns = [m.get("content") for m in record["messages"] if isinstance(m, dict) and m.get("role") == ASSISTANT]
    last = turns[-1] if turns and isinstance(turns[-1], str) else ""
    return answer_span(last) if is_think_answer(last) else ""


def load_nonmedical(folder: Path) -> NonMedicalLoad:
    """Every record of every JSONL/JSON file in ``folder`` (sorted by name) as a chat row."""
    out = NonMedicalLoad()
    if not folder.is_dir():
        return out
    seen: set[str] = set()
    for path in sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in (".jsonl", ".json") and not p.name.startswith(".")
    ):
        out.files.append(path.name)
        uri = str(path)
        for locator, raw, record, error in read_records(path):
            try:
                if error:
                    raise BadChat(error)
                messages = to_messages(record)
            except BadChat as e:
                out.quarantine.append(
                    QuarantineRecord(uri, f"{path.name} {locator}", str(e), raw.decode("utf-8", "replace")[:20000])
                )
                continue
            key = conversation_key(messages)
            if key in seen:
                out.duplicates += 1
                continue
            seen.add(key)
            out.rows.append(
                {
                    RECORD_ID: record_id("nonmed", key),
                    PARENT_IDS: [source_id(uri, raw)],
                    "messages": messages,
                    "source": f"{NONMEDICAL}:{partition_key_for(path)}",
                    "category": NONMEDICAL,
                    "answer": stated_answer(record),
                    SOURCE_URI: uri,
                    SOURCE_LOCATOR: locator,
                }
            )
    return out
