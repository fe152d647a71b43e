"""Shared pieces of the SFT mixes: deterministic sampling, token counts, prompt dedup, decontamination,
exports.

Every mix row follows ``MIX_SCHEMA``: ``schemas.SFT_MIX_SCHEMA`` with ``source_uri``/``source_locator``
appended (set for rows read straight from files, e.g. non-medical reasoning, so lineage reaches the input
line; null for rows derived from a lake asset, whose ``parent_ids`` carry the lineage).

Sampling is by hash, never by random state: ``hash_rank(id, seed)`` orders records by a keyed hash of
their id and ``take(ids, k, seed)`` keeps the ``k`` lowest ranks — the same input and seed always give the
same selection, and adding records changes it only where the new ones rank in.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.decontamination.index import NGramIndex, decontaminate, removed_per_benchmark  # noqa: F401
from citrus_assets.reasoning_data.chat import ASSISTANT, prompt_key
from citrus_assets.reasoning_data.schemas import SFT_MIX_SCHEMA
from resources.lake import Lake, QuarantineRecord
from resources.lineage.ids import content_hash
from resources.lineage.schema import RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

MEDICAL_HARD, MEDICAL_EASY, NONMEDICAL, INSTRUCTION = "medical_hard", "medical_easy", "nonmedical", "instruction"
CATEGORIES = (MEDICAL_HARD, MEDICAL_EASY, NONMEDICAL, INSTRUCTION)
MIX_SCHEMA = SFT_MIX_SCHEMA.append(pa.field(SOURCE_URI, pa.string())).append(pa.field(SOURCE_LOCATOR, pa.string()))
DUPLICATE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        ("duplicate_of", pa.string()),
        ("source", pa.string()),
        ("reason", pa.string()),
    ]
)
REPORT_COLUMNS = ("category", "source")  # appended to decontamination.REMOVED_SCHEMA in the removal report


# -- deterministic selection -------------------------------------------------------------------------
def hash_rank(rid: str, seed: int = 0) -> int:
    return int(content_hash([seed, rid], digest_size=8), 16)


def take(ids: Iterable[str], k: int, seed: int = 0) -> list[str]:
    """The ``k`` ids of lowest ``hash_rank`` (all of them when there are fewer), in rank order."""
    return sorted(ids, key=lambda r: hash_rank(r, seed))[: max(0, k)]


def share_count(n: int, share: float) -> int:
    """How many of ``n`` a share selects (rounded half up, within [0, n])."""
    return min(n, max(0, int(n * share + 0.5)))


# -- dedup -------------------------------------------------------------------------------------------
def dedup_prompts(rows: Sequence[dict], source_of=lambda r: r.get("source", "")) -> tuple[list[dict], list[dict]]:
    """Keep the first row per user prompt (``chat.prompt_key``); the rest are reported as duplicates."""
    first: dict[str, str] = {}
    kept, dups = [], []
    for r in rows:
        key = prompt_key(r["messages"])
        if key in first:
            dups.append(
                {
                    RECORD_ID: r[RECORD_ID],
                    "duplicate_of": first[key],
                    "source": source_of(r),
                    "reason": "same user prompt",
                }
            )
        else:
            first[key] = r[RECORD_ID]
            kept.append(r)
    return kept, dups


# -- tokens ------------------------------------------------------------------------------------------
def load_tokenizer(name: str):
    from citrus_assets.cpt_corpus.corpus.assets import load_tokenizer as _load

    return _load(name)


TOKEN_CHUNK = 1000  # conversations tokenized per tokenizer call (only their token ids are held at once)


def token_counts(
    tokenizer, conversations: Sequence[Sequence[dict]], chunk: int = TOKEN_CHUNK
) -> tuple[list[int], list[int]]:
    """(all-turn tokens, assistant-turn tokens) per conversation: content tokens, no template or specials.
    Tokenized ``chunk`` conversations at a time (each text is tokenized on its own, so the counts do not depend
    on ``chunk``): the token ids of the whole mix are never held at once."""
    total, assistant = [0] * len(conversations), [0] * len(conversations)
    for lo in range(0, len(conversations), max(1, chunk)):
        flat = [
            (i, m["role"], m["content"])
            for i in range(lo, min(lo + chunk, len(conversations)))
            for m in conversations[i]
        ]
        if not flat:
            continue
        lengths = [len(x) for x in tokenizer([c for _, _, c in flat], add_special_tokens=False)["input_ids"]]
        for (i, role, _), n in zip(flat, lengths):
            total[i] += n
            if role == ASSISTANT:
                assistant[i] += n
    return total, assistant


def token_stats(table: pa.Table) -> dict:
    """Rows and token statistics per category (and ``all``)."""
    by: dict[str, list[int]] = {}
    for cat, n in zip(table["category"].to_pylist(), table["n_tokens"].to_pylist()):
        by.setdefault(cat, []).append(n)
        by.setdefault("all", []).append(n)
    return {
        c: {
            "rows": len(v),
            "tokens": sum(v),
            "mean": round(statistics.fmean(v), 1),
            "median": statistics.median(v),
            "max": max(v),
        }
        for c, v in sorted(by.items())
    }


# -- decontamination ---------------------------------------------------------------------------------
def index_cache_dir(lake: Lake) -> Path | None:
    return Path(lake.join("_cache", "decontamination")) if lake.is_local else None


DECONTAMINATION_CHUNK = 2000  # rows whose texts are checked (held as Python strings) at a time


def decontaminate_mix(
    table: pa.Table, index: NGramIndex, chunk: int = DECONTAMINATION_CHUNK
) -> tuple[pa.Table, pa.Table]:
    """(kept, removal report): every turn of every row against the index; the report adds category/source.
    Checked ``chunk`` rows at a time (each row is matched on its own: the same rows as one call over the table)."""
    kept_parts, removed_parts = [], []
    for lo in range(0, max(table.num_rows, 1), max(1, chunk)):  # one (empty) call for an empty table
        part = table.slice(lo, chunk)
        kept, removed = decontaminate(part, ["messages"], index)
        ids = removed[RECORD_ID].to_pylist()
        gone = set(ids)
        info = {
            r: (c, s)
            for r, c, s in zip(part[RECORD_ID].to_pylist(), part["category"].to_pylist(), part["source"].to_pylist())
            if r in gone
        }
        for i, col in enumerate(REPORT_COLUMNS):
            removed = removed.append_column(col, pa.array([info[r][i] for r in ids], pa.string()))
        kept_parts.append(kept)
        removed_parts.append(removed)
    return pa.concat_tables(kept_parts), pa.concat_tables(removed_parts)


# -- export ------------------------------------------------------------------------------------------
EXPORT_BATCH_ROWS = 2000  # rows rendered to JSONL at a time


def jsonl_chunks(table: pa.Table, batch_rows: int = EXPORT_BATCH_ROWS) -> Iterator[bytes]:
    """The JSONL export (one ``{"messages": [...]}`` per line) ``batch_rows`` rows at a time."""
    for batch in table.select(["messages"]).to_batches(max_chunksize=max(1, batch_rows)):
        yield b"".join(
            json.dumps({"messages": m}, ensure_ascii=False).encode("utf-8") + b"\n" for m in batch.column(0).to_pylist()
        )


def jsonl_bytes(table: pa.Table) -> bytes:
    """One ``{"messages": [...]}`` per line: what TRL's SFTTrainer (and most trainers) read."""
    return b"".join(jsonl_chunks(table))


def write_chunks(lake: Lake, path: str, chunks: Iterable[bytes]) -> tuple[str, str]:
    """Atomic streamed write (temp name + rename) of a side file in the lake; returns (path, sha256 of it)."""
    parent = path.rsplit("/", 1)[0]
    lake.fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}"
    digest = hashlib.sha256()
    with lake.fs.open(tmp, "wb") as fh:
        for data in chunks:
            digest.update(data)
            fh.write(data)
    if lake.is_local:
        os.replace(tmp, path)
    else:
        lake.fs.mv(tmp, path)
    return path, digest.hexdigest()


def write_bytes(lake: Lake, path: str, data: bytes) -> str:
    """Atomic write (temp name + rename) of a side file in the lake."""
    return write_chunks(lake, path, [data])[0]


def write_side_files(
    lake: Lake, asset: str, table: pa.Table, removed: pa.Table | None, duplicates: pa.Table | None = None
) -> dict[str, str]:
    """``export.jsonl`` (streamed, ``jsonl_chunks``) (+ ``decontaminated.parquet``, ``duplicates.parquet``) next to
    the asset's data."""
    export, sha = write_chunks(lake, lake.data_path(asset, None, "export.jsonl"), jsonl_chunks(table))
    paths = {"export_jsonl": export}
    if removed is not None:
        paths["decontaminated"] = lake.write_table(removed, lake.data_path(asset, None, "decontaminated.parquet"))
    if duplicates is not None:
        paths["duplicates"] = lake.write_table(duplicates, lake.data_path(asset, None, "duplicates.parquet"))
    out = {k: lake.url(v) for k, v in paths.items()}
    out["export_sha256"] = sha
    return out


def quarantine_record(source: str, rid: str, reason: str, row: dict) -> QuarantineRecord:
    return QuarantineRecord(source, rid, reason, json.dumps(row, ensure_ascii=False, default=str)[:20000])
