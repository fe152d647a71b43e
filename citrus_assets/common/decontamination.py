"""The project's one n-gram decontamination index (training text vs. evaluation benchmark items).

Text is normalized exactly like datatrove's ``NGramsDecontIndexer``/``NGramsDecontFilter`` do it:
``datatrove.utils.text.simplify_text`` (lowercase, numbers -> 0, punctuation -> space, whitespace and
diacritics normalized), then datatrove's English word tokenizer, then word n-grams hashed with datatrove's
64-bit xxhash (``HashConfig()``). datatrove's own classes are not used directly: the indexer always loads
lighteval tasks (lighteval + downloads) and its filter only reports the task, not the matched item.

An index maps every n-gram hash of every benchmark item to that item (the first item added wins when two
items share an n-gram). Items with fewer than ``n`` words but at least ``min_words`` are indexed as one
whole-item "n-gram" of their own length; items shorter than ``min_words`` are skipped (``index.skipped``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
from datatrove.utils.hashing import HashConfig, create_hash_func
from datatrove.utils.text import TextNormConfig, ngrams, simplify_text
from datatrove.utils.word_tokenizers import load_word_tokenizer

log = logging.getLogger(__name__)

DEFAULT_N = 13
FORMAT_VERSION = 1
REMOVED_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("benchmark", pa.string()),
        ("matched_item_id", pa.string()),
        ("matched_ngram", pa.string()),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str


@dataclass(frozen=True)
class Match:
    benchmark: str
    item_id: str
    ngram: str  # the normalized words of the document that matched


def items_from_seeds(rows: Iterable[dict], benchmark: str) -> list[BenchmarkItem]:
    """One item per seed row: stem, context and option texts (``record_id`` is the item id)."""
    items = []
    for row in rows:
        parts = [row.get("stem") or "", row.get("context") or ""]
        parts += [o.get("text") or "" for o in row.get("options") or []]
        items.append(BenchmarkItem(benchmark, str(row["record_id"]), "\n".join(p for p in parts if p)))
    return items


class NGramIndex:
    """Word n-gram hashes of benchmark items, with the item each hash came from."""

    def __init__(self, n: int = DEFAULT_N, min_words: int | None = None, language: str = "en",
                 norm_config: TextNormConfig | None = None):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.min_words = n if min_words is None else min(max(1, min_words), n)
        self.language = language
        self.norm_config = norm_config or TextNormConfig()
        self._tokenizer = load_word_tokenizer(language)
        self._hash = create_hash_func(HashConfig())  # 64-bit xxhash, datatrove's default
        self._refs: dict[int, int] = {}  # n-gram hash -> position in self._items
        self._items: list[tuple[str, str]] = []  # (benchmark, item_id)
        self._short_lengths: set[int] = set()  # lengths (< n) of whole short items that were indexed
        self.skipped = 0

    # -- text -----------------------------------------------------------------------------------------
    def words(self, text: str) -> list[str]:
        """datatrove normalization + word tokenization (what n-grams are made of)."""
        if not text:
            return []
        return [w for w in self._tokenizer.word_tokenize(simplify_text(text, self.norm_config)) if w.strip()]

    def _ngram_strings(self, words: list[str], n: int) -> Iterable[str]:
        return map(" ".join, ngrams(words, n))

    # -- building -------------------------------------------------------------------------------------
    def add(self, items: Iterable[BenchmarkItem]) -> int:
        """Index items; returns how many were indexed (too-short items are counted in ``skipped``)."""
        added = 0
        for item in items:
            words = self.words(item.text)
            if len(words) < self.min_words:
                self.skipped += 1
                continue
            ref = len(self._items)
            self._items.append((item.benchmark, item.item_id))
            if len(words) < self.n:
                self._short_lengths.add(len(words))
                grams: Iterable[str] = [" ".join(words)]
            else:
                grams = self._ngram_strings(words, self.n)
            for g in grams:
                self._refs.setdefault(self._hash(g), ref)
            added += 1
        return added

    def __len__(self) -> int:
        """Number of distinct n-gram hashes."""
        return len(self._refs)

    @property
    def n_items(self) -> int:
        return len(self._items)

    @property
    def benchmarks(self) -> list[str]:
        return sorted({b for b, _ in self._items})

    # -- querying -------------------------------------------------------------------------------------
    def match(self, text: str, limit: int = 5) -> list[Match]:
        """The first ``limit`` n-grams of ``text`` found in the index (in document order)."""
        words = self.words(text)
        out: list[Match] = []
        for n in (self.n, *sorted(self._short_lengths, reverse=True)):
            if len(words) < n:
                continue
            for g in self._ngram_strings(words, n):
                ref = self._refs.get(self._hash(g))
                if ref is not None:
                    bench, item_id = self._items[ref]
                    out.append(Match(bench, item_id, g))
                    if len(out) >= limit:
                        return out
        return out

    def contaminated(self, text: str) -> bool:
        return bool(self.match(text, limit=1))

    # -- persistence (numpy .npz, no pickle) ----------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        hashes = np.fromiter(self._refs.keys(), dtype=np.uint64, count=len(self._refs))
        refs = np.fromiter(self._refs.values(), dtype=np.int64, count=len(self._refs))
        order = np.argsort(hashes)
        meta = {"format": FORMAT_VERSION, "n": self.n, "min_words": self.min_words, "language": self.language,
                "norm_config": asdict(self.norm_config), "short_lengths": sorted(self._short_lengths),
                "skipped": self.skipped, "hash": "xxhash64"}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                hashes=hashes[order],
                refs=refs[order],
                benchmarks=np.array([b for b, _ in self._items], dtype=np.str_),
                item_ids=np.array([i for _, i in self._items], dtype=np.str_),
                meta=np.array(json.dumps(meta)),
            )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NGramIndex":
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported decontamination index format {meta.get('format')!r} in {path}")
            index = cls(n=meta["n"], min_words=meta["min_words"], language=meta["language"],
                        norm_config=TextNormConfig(**meta["norm_config"]))
            index._items = list(zip(z["benchmarks"].tolist(), z["item_ids"].tolist()))
            index._refs = dict(zip(z["hashes"].tolist(), z["refs"].tolist()))
        index._short_lengths = set(meta["short_lengths"])
        index.skipped = meta["skipped"]
        return index


def _cell_text(value) -> str:
    """A cell as text: strings as-is, lists joined (structs contribute their string fields)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_cell_text(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return "\n".join(_cell_text(v) for v in value)
    return ""


def decontaminate(table: pa.Table, text_columns: str | Sequence[str], index: NGramIndex,
                  ) -> tuple[pa.Table, pa.Table]:
    """Split ``table`` into (kept, removed); each text column is checked on its own.

    ``removed`` has ``record_id``, ``benchmark``, ``matched_item_id``, ``matched_ngram`` and ``reason``.
    """
    cols = [text_columns] if isinstance(text_columns, str) else list(text_columns)
    missing = [c for c in ["record_id", *cols] if c not in table.column_names]
    if missing:
        raise ValueError(f"table has no column(s) {missing}")
    values = {c: table.column(c).to_pylist() for c in cols}
    ids = table.column("record_id").to_pylist()
    keep = np.ones(table.num_rows, dtype=bool)
    removed: list[dict] = []
    for i in range(table.num_rows):
        for c in cols:
            hits = index.match(_cell_text(values[c][i]), limit=1)
            if hits:
                m = hits[0]
                keep[i] = False
                removed.append({"record_id": ids[i], "benchmark": m.benchmark, "matched_item_id": m.item_id,
                                "matched_ngram": m.ngram, "reason": f"{index.n}-gram overlap in column {c!r}"})
                break
    kept = table.filter(pa.array(keep))
    return kept, pa.Table.from_pylist(removed, schema=REMOVED_SCHEMA)


def default_eval_index(data_dir: str | Path, n: int = DEFAULT_N, min_words: int | None = None) -> NGramIndex:
    """Index every readable benchmark file under ``<data_dir>/benchmarks``.

    The benchmark name is the file's first folder under ``benchmarks`` (``medqa``, ``mmlu``, ...), or the
    file's stem when it lies directly there; files whose format cannot be detected are skipped.
    """
    from citrus_assets.reasoning_data.seeds import BadRecord, load_seed_file

    root = Path(data_dir) / "benchmarks"
    index = NGramIndex(n=n, min_words=min_words)
    if not root.is_dir():
        log.warning("no benchmarks folder at %s; the decontamination index is empty", root)
        return index
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(root)
        bench = rel.parts[0] if len(rel.parts) > 1 else path.stem
        try:
            result = load_seed_file(path, seed_set=f"decont-{bench}")
        except (BadRecord, KeyError, ValueError, OSError, UnicodeDecodeError) as e:
            log.info("decontamination: skipping %s (%s)", rel, e)
            continue
        added = index.add(items_from_seeds(result.rows, bench))
        log.info("decontamination: %s -> %d items (%s)", rel, added, bench)
    return index
