"""One chat format for every SFT table: ``[{"role", "content"}]`` with roles system/user/assistant.

Input conversations come as OpenAI ``messages`` (``role``/``content``) or ShareGPT / Infinity-Instruct
``conversations`` (``from``/``value``, with ``human``/``gpt`` or ``user``/``assistant``). ``normalize_turns``
maps both to the one format and rejects (``BadChat`` with the reason) what a trainer must not see:

* a turn that is not an object, has an unknown role, or whose content is not a string or is empty
  (after stripping surrounding whitespace, which is removed);
* a system turn anywhere but first; a conversation whose first non-system turn is not a user turn,
  whose user/assistant turns do not alternate, or that does not end with an assistant turn.

The reasoning format of SFT stage 3 is ``<think>…</think><answer>…</answer>`` (``think_answer``,
``is_think_answer``: the one validator, ``common.reasoning_format``); ``wrap_reasoning`` turns a plain worked
solution into it (rule in its docstring).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from citrus_assets.common.text.reasoning_format import has_tags, is_think_answer, think_answer
from resources.lineage.ids import content_hash

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
ROLES = (SYSTEM, USER, ASSISTANT)
ROLE_ALIASES = {
    "system": SYSTEM,
    "human": USER,
    "user": USER,
    "gpt": ASSISTANT,
    "assistant": ASSISTANT,
}

_BOXED = "\\boxed{"
_WS = re.compile(r"\s+")


class BadChat(ValueError):
    """A conversation that cannot become a training row; the message is the quarantine reason."""


def normalize_turns(turns, *, role_key: str = "role", content_key: str = "content") -> list[dict]:
    """Validated chat turns ``[{"role", "content"}]`` (raises ``BadChat``)."""
    if not isinstance(turns, list) or not turns:
        raise BadChat("no turns")
    out: list[dict] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise BadChat(f"turn {i} is not an object")
        raw_role = turn.get(role_key)
        role = ROLE_ALIASES.get(raw_role.strip().lower()) if isinstance(raw_role, str) else None
        if role is None:
            raise BadChat(f"turn {i} has unknown role {raw_role!r}")
        content = turn.get(content_key)
        if not isinstance(content, str):
            raise BadChat(f"turn {i} ({role}) has no text content")
        content = content.strip()
        if not content:
            raise BadChat(f"turn {i} ({role}) is empty")
        out.append({"role": role, "content": content})
    check_structure(out)
    return out


def check_structure(messages: list[dict]) -> None:
    """Raise ``BadChat`` unless: optional leading system, then user/assistant alternating, ending with assistant."""
    body = messages[1:] if messages and messages[0]["role"] == SYSTEM else messages
    if any(m["role"] == SYSTEM for m in body):
        raise BadChat("system turn not first")
    if not body or body[0]["role"] != USER:
        raise BadChat("no user turn before the first assistant turn")
    for prev, cur in zip(body, body[1:]):
        if prev["role"] == cur["role"]:
            raise BadChat(f"two {cur['role']} turns in a row")
    if body[-1]["role"] != ASSISTANT:
        raise BadChat("no assistant turn at the end")


def chat_from_record(record: dict) -> tuple[list[dict], str]:
    """(messages, format) of a ``messages`` or ``conversations`` record (raises ``BadChat``)."""
    if "messages" in record:
        return normalize_turns(record["messages"]), "messages"
    if "conversations" in record:
        turns = record["conversations"]
        if isinstance(turns, list) and turns and all(isinstance(t, dict) and "role" in t for t in turns):
            return normalize_turns(turns), "conversations"  # role/content spelled the OpenAI way
        return normalize_turns(turns, role_key="from", content_key="value"), "conversations"
    raise BadChat("neither 'messages' nor 'conversations'")


def is_well_formed(messages) -> bool:
    """Roles known, contents non-empty strings, structure valid (what the mix checks test row by row)."""
    try:
        turns = [dict(m) for m in messages]
        if any(
            m.get("role") not in ROLES or not isinstance(m.get("content"), str) or not m["content"].strip()
            for m in turns
        ):
            return False
        check_structure(turns)
    except (BadChat, TypeError, ValueError):
        return False
    return True


# -- identity ----------------------------------------------------------------------------------------
def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: two texts that differ only in these are the same."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def conversation_key(messages) -> str:
    """Hash of the normalized conversation (roles + normalized contents): the exact-dedup key."""
    return content_hash([[m["role"], normalize_text(m["content"])] for m in messages])


def prompt_key(messages) -> str:
    """Hash of the normalized user turns alone: two rows with this key ask the same thing."""
    return content_hash([normalize_text(m["content"]) for m in messages if m["role"] == USER])


def keys(messages) -> tuple[str, str]:
    """(``conversation_key``, ``prompt_key``), normalizing every content once."""
    norm = [(m["role"], normalize_text(m["content"])) for m in messages]
    return content_hash([[r, t] for r, t in norm]), content_hash([t for r, t in norm if r == USER])


def user_turns(messages) -> int:
    return sum(1 for m in messages if m["role"] == USER)


# -- reasoning format --------------------------------------------------------------------------------
__all__ = ["think_answer", "is_think_answer"]  # re-exported from common.reasoning_format (the one rule)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (braces balanced), or None."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, i = 1, start + len(_BOXED)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip() or None
    return None


def wrap_reasoning(text: str) -> str:
    """A plain worked solution in the stage-3 format.

    Kept as-is when already well-formed. Otherwise ``<think>`` holds the whole text and ``<answer>`` the
    value of its last ``\\boxed{…}``, or, without one, its last non-empty line (minus a leading
    "Answer:"/"Final answer:"/"答案：" label). Raises ``BadChat`` when the text uses the tags but not
    well-formed (we do not guess where a broken block ends).
    """
    if is_think_answer(text):
        return text.strip()
    if has_tags(text):
        raise BadChat("malformed <think>/<answer> tags")
    answer = last_boxed(text)
    if answer is None:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        answer = re.sub(r"^(final answer|answer|答案)\s*[:：]\s*", "", lines[-1], flags=re.I) if lines else ""
    if not answer:
        raise BadChat("no answer found in the solution")
    return think_answer(text, answer)


# -- reading -----------------------------------------------------------------------------------------
def read_records(path) -> Iterator[tuple[str, bytes, dict | None, str | None]]:
    """``(locator, raw, record, error)`` for every record of a JSONL file (or a ``.json`` list of records).

    ``error`` (a quarantine reason) is set for a non-UTF-8 or non-JSON line or a record that is not an
    object; blank lines are skipped.
    """
    data = Path(path).read_bytes()
    if Path(path).suffix.lower() == ".json" and data.lstrip()[:1] == b"[":
        try:
            items = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            yield "file", data[:2000], None, f"unreadable JSON list: {e}"
            return
        for i, item in enumerate(items):
            raw = json.dumps(item, ensure_ascii=False).encode("utf-8")
            yield (
                (f"item {i}", raw, item, None)
                if isinstance(item, dict)
                else (f"item {i}", raw, None, "record is not a JSON object")
            )
        return
    for no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield f"line {no}", raw, None, f"not UTF-8 ({e.reason} at byte {e.start})"
            continue
        except ValueError as e:
            yield f"line {no}", raw, None, f"bad JSON: {e}"
            continue
        yield (
            (f"line {no}", raw, rec, None)
            if isinstance(rec, dict)
            else (f"line {no}", raw, None, "record is not a JSON object")
        )
