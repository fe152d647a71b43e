"""The project's one decontamination index: training text vs. evaluation benchmark items.

Every training-bound text (SFT mixes, preference pairs, CPT documents including textbook questions, users'
own files through ``citrus decontam check``) is checked against ONE :class:`NGramIndex`, built by
:func:`eval_index` from every benchmark folder :func:`benchmark_data.benchmark_data_dirs` returns — the
project's bundled evaluation sample first, then ``$CITRUS_EVAL_DATA`` / ``$CITRUS_DATA`` / ``../shared/data``.

How an item is indexed
----------------------
* **Tokens.** Text is NFKC-normalised, case-folded, diacritics dropped; a token is a run of letters or a run
  of digits (``45,X`` = ``45X`` = ``45 x``; apostrophes inside a word are dropped: ``don't`` = ``dont``);
  every Han/kana character is a token of its own (Chinese has no spaces: character n-grams, see below). Punctuation
  and whitespace only separate tokens,
  so case, whitespace and punctuation edits do not change the token stream.
* **Numbers are content.** ``45`` stays ``45``. (datatrove's ``simplify_text`` turns every number into ``0``,
  which made vignette boilerplate — "a 0 year old woman is brought to the emergency department because of" —
  and tables of numbers ("0 0 0 0 0 ...") look identical across unrelated texts. That is the one normalisation
  difference from datatrove's ``NGramsDecontIndexer``; ``test_decontamination`` pins it.)
* **Long items** (the stem, plus the context, e.g. a PubMedQA abstract) are indexed as word n-grams
  (``n`` = 13 for Latin-script items, ``n_cjk`` characters for Chinese items), hashed with datatrove's
  64-bit xxhash (``HashConfig()``). Options are not part of the n-gram stream, so the project's MCQ rendering
  ("A. text" option lines), re-lettered and re-ordered options do not break the stem's n-grams.
* **Evidence rules.** An n-gram counts only if at least half its tokens contain a letter (or are Chinese
  characters): a match never rests on numbers/punctuation alone. An n-gram found in more than ``max_df``
  items of the index is boilerplate and not evidence (document-frequency cutoff, measured in
  ``benchmarks/decontamination.py``); the shape of an n-gram (its numbers as 0) counts too, so vitals and
  ages do not make boilerplate unique. A document matches an item when it holds at least
  ``min(min_hits, E)`` and at least ``min_coverage * E`` of the item's ``E`` evidence n-grams: a whole
  or partial copy (a fifth of a vignette or more), not a shared clinical phrase.
* **Short items** (stem shorter than ``n``) are matched whole: the whole stem as one contiguous token run,
  followed within ``ANSWER_WINDOW`` tokens by the whole correct option text (any letter, any order), and
  only when stem + answer have at least ``min_tokens`` tokens (the floor, measured).

A match reports the benchmark, the item id and the matched span (the document's own text).
datatrove's classes are not used directly: its indexer always loads lighteval tasks (downloads) and its
filter only reports the task, not the item; its ``ngrams`` helper and hash function are used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from datatrove.utils.hashing import HashConfig, create_hash_func

log = logging.getLogger(__name__)

DEFAULT_N = 13  # word n-grams for Latin-script items (the GPT-3 / datatrove default)
# character n-grams for Chinese items (benchmarks/results/decontamination.md): false positives start at n=5
# (n=4: 5/1200), none from 6 up; 8 keeps a margin and still catches 33/36 items with 1 character in 12 replaced
DEFAULT_N_CJK = 8
DEFAULT_MAX_DF = 4  # an n-gram in more than this many benchmark items is boilerplate (measured: alone, 1000 -> 4
# cuts false positives 231 -> 108 of 2627; with the coverage rule below they are 0 at any cutoff)
DEFAULT_MIN_HITS = 2  # evidence n-grams needed from one item (measured, coverage rule off: 1 -> 268, 2 -> 108
# false positives of 2627)
DEFAULT_MIN_COVERAGE = 0.2  # ... and this share of the item's evidence n-grams (measured: 0 -> 4.1%, 0.1 -> 0.1%,
# 0.2 -> 0% false positives; recall 100% at each; real MedBullets near-copies of MedQA items cover 0.22-0.74)
DEFAULT_MIN_TOKENS = 4  # floor for whole short items, stem + answer tokens (measured: 3 and 4 lose no item and
# flag no clean text; 6 loses 1 MMLU-Pro item, 8 loses 12, 10 loses 41)
ANSWER_WINDOW = 400  # tokens after a short item's stem in which its answer must appear
FORMAT_VERSION = 2
SPAN_CHARS = 300
REMOVED_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("benchmark", pa.string()),
        ("matched_item_id", pa.string()),
        ("matched_span", pa.string()),
        ("column", pa.string()),
        ("reason", pa.string()),
    ]
)
# file names in a benchmarks/ folder that are documentation, not items
_DOC_FILES = re.compile(r"^(readme|license|licence|sources|changelog)(\.\w+)?$|\.(md|txt\.sig)$", re.I)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|\d+|[^\W\d_{_CJK}]+(?:['\u2019][^\W\d_{_CJK}]+)*")
_CJK_RE = re.compile(rf"[{_CJK}]")


def _fold(tok: str) -> str:
    tok = unicodedata.normalize("NFKD", tok.casefold())  # casefold: "ß" = "SS".lower() = "ss"
    return "".join(c for c in tok if not unicodedata.combining(c)).replace("'", "").replace("\u2019", "")


def _base(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """(normalised tokens, their character spans in ``_base(text)``, the NFKC form of ``text``)."""
    if not text:
        return [], []
    toks, spans = [], []
    for m in _TOKEN_RE.finditer(_base(text)):
        t = m.group()
        toks.append(t.lower().replace("'", "") if t.isascii() else _fold(t))
        spans.append(m.span())
    return toks, spans


def _is_cjk(tok: str) -> bool:
    return len(tok) == 1 and _CJK_RE.match(tok) is not None


def _evidence(toks: Sequence[str]) -> bool:
    """At least half the tokens hold a letter (or are Chinese characters): not numbers/punctuation only."""
    return sum(1 for t in toks if not t.isdigit()) * 2 >= len(toks)


def _mostly_cjk(toks: Sequence[str]) -> bool:
    return bool(toks) and sum(map(_is_cjk, toks)) * 2 >= len(toks)


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str  # stem (+ context): what is n-grammed
    answer: str = ""  # the correct option's text (short items are matched as stem + answer)


@dataclass(frozen=True)
class Match:
    benchmark: str
    item_id: str
    span: str  # the document's own text that matched (first SPAN_CHARS characters)
    kind: str = "ngram"  # "ngram" | "whole" (a short item matched whole)
    hits: int = 1  # evidence n-grams of this item found in the document


def items_from_seeds(rows: Iterable[dict], benchmark: str) -> list[BenchmarkItem]:
    """One item per seed row (``record_id`` is the item id): stem + context, and the first correct option."""
    items = []
    for row in rows:
        text = "\n".join(p for p in (row.get("stem") or "", row.get("context") or "") if p)
        opts = {o.get("letter"): o.get("text") or "" for o in row.get("options") or []}
        answer = next((opts[a] for a in row.get("answer_letters") or [] if opts.get(a)), "")
        items.append(BenchmarkItem(benchmark, str(row["record_id"]), text, answer))
    return items


class NGramIndex:
    """Evidence n-gram hashes of benchmark items (with the item and document frequency of each), plus
    whole short items. See the module docstring for the rules."""

    def __init__(
        self,
        n: int = DEFAULT_N,
        n_cjk: int = DEFAULT_N_CJK,
        max_df: int = DEFAULT_MAX_DF,
        min_hits: int = DEFAULT_MIN_HITS,
        min_coverage: float = DEFAULT_MIN_COVERAGE,
        min_tokens: int = DEFAULT_MIN_TOKENS,
    ):
        if n < 2 or n_cjk < 2:
            raise ValueError(f"n and n_cjk must be >= 2, got {n}, {n_cjk}")
        self.n, self.n_cjk, self.max_df = n, n_cjk, max_df
        self.min_hits, self.min_coverage, self.min_tokens = max(1, min_hits), min_coverage, min_tokens
        self._hash = create_hash_func(HashConfig())  # 64-bit xxhash, datatrove's default
        self._refs: dict[int, int] = {}  # n-gram hash -> first item holding it
        self._df: dict[int, int] = {}  # n-gram hash -> number of items holding it
        self._sdf: dict[int, int] = {}  # n-gram shape (numbers as 0) hash -> number of items holding it
        self._shape_of: dict[int, int] = {}  # n-gram hash -> its shape hash
        self._items: list[tuple[str, str]] = []  # (benchmark, item_id)
        self._ngrams: list[int] = []  # evidence n-grams per item
        self._short: dict[int, list[int]] = {}  # whole-stem hash -> items
        self._answer: dict[int, tuple[int, int]] = {}  # item -> (answer hash, answer tokens); short items only
        self._short_lengths: set[int] = set()
        self._has_cjk = False
        self._eff: list[int] | None = None
        self._boiler: set[int] = set()
        self.skipped = 0  # items with no evidence at all (too short for the floor, or numbers only)

    # -- text -----------------------------------------------------------------------------------------
    @staticmethod
    def words(text: str) -> list[str]:
        return tokenize(text)[0]

    def _gram_hashes(self, toks: Sequence[str], n: int) -> Iterable[tuple[int, int]]:
        """(start, hash) of every evidence n-gram."""
        h = self._hash
        for i in range(len(toks) - n + 1):
            g = toks[i : i + n]
            if _evidence(g):
                yield i, h(" ".join(g))

    def _shape(self, toks: Sequence[str]) -> int:
        """Hash of the n-gram with every number as 0: vitals and ages differ, the boilerplate is the same."""
        return self._hash(" ".join("0" if t.isdigit() else t for t in toks))

    # -- building -------------------------------------------------------------------------------------
    def add(self, items: Iterable[BenchmarkItem]) -> int:
        """Index items; returns how many were indexed (the others are counted in ``skipped``)."""
        added = 0
        for item in items:
            toks = self.words(item.text)
            cjk = _mostly_cjk(toks)
            n = self.n_cjk if cjk else self.n
            ref = len(self._items)
            if len(toks) >= n:
                grams = {h: i for i, h in self._gram_hashes(toks, n)}
                if not grams:
                    self.skipped += 1
                    continue
                hashes = set(grams)
                for sh in {self._shape(toks[i : i + n]) for i in grams.values()}:
                    self._sdf[sh] = self._sdf.get(sh, 0) + 1
                for h, i in grams.items():
                    if h in self._df:
                        self._df[h] += 1
                    else:
                        self._df[h], self._refs[h] = 1, ref
                        self._shape_of[h] = self._shape(toks[i : i + n])
                self._ngrams.append(len(hashes))
            else:
                ans = self.words(item.answer)
                if len(toks) + len(ans) < self.min_tokens or not _evidence(toks + ans) or not toks:
                    self.skipped += 1
                    continue
                self._short.setdefault(self._hash(" ".join(toks)), []).append(ref)
                self._answer[ref] = (self._hash(" ".join(ans)) if ans else 0, len(ans))
                self._short_lengths.add(len(toks))
                self._ngrams.append(0)
            self._has_cjk |= cjk
            self._items.append((item.benchmark, item.item_id))
            self._eff = None
            added += 1
        return added

    def __len__(self) -> int:
        """Number of distinct n-gram hashes plus whole short stems."""
        return len(self._refs) + len(self._short)

    @property
    def n_items(self) -> int:
        return len(self._items)

    @property
    def benchmarks(self) -> list[str]:
        return sorted({b for b, _ in self._items})

    def df_histogram(self) -> dict[str, int]:
        """How many n-grams occur in 1, 2, 3-4, 5-10, 11-100, >100 items (what the cutoff is chosen from)."""
        bins = {"1": 0, "2": 0, "3-4": 0, "5-10": 0, "11-100": 0, ">100": 0}
        for d in map(self.doc_freq, self._refs):
            k = (
                "1"
                if d == 1
                else "2"
                if d == 2
                else "3-4"
                if d <= 4
                else "5-10"
                if d <= 10
                else "11-100"
                if d <= 100
                else ">100"
            )
            bins[k] += 1
        return bins

    # -- querying -------------------------------------------------------------------------------------
    def match(self, text: str, limit: int = 5) -> list[Match]:
        """Items ``text`` contains (at most ``limit``), most evidence first."""
        if not self._items or not text:
            return []
        toks, spans = tokenize(text)
        text = _base(text)  # the spans' coordinates
        found: dict[int, list[int]] = {}  # item -> [hits, first token, last token]
        sizes = {self.n}
        if self._has_cjk and any(map(_is_cjk, toks)):
            sizes.add(self.n_cjk)
        eff = self._effective()
        for n in sizes:
            for i, h in self._gram_hashes(toks, n):
                ref = self._refs.get(h)
                if ref is None or h in self._boiler:
                    continue
                f = found.get(ref)
                if f is None:
                    found[ref] = [1, i, i + n]
                else:
                    f[0] += 1
                    f[2] = i + n
        out = []
        for ref, (hits, a, b) in found.items():
            if eff[ref] and hits >= self.needed(eff[ref]):
                out.append(Match(*self._items[ref], self._span(text, spans, a, b), "ngram", hits))
        out.sort(key=lambda m: -m.hits)
        if len(out) < limit and self._short:
            out += self._match_short(text, toks, spans, {(m.benchmark, m.item_id) for m in out})
        return out[:limit]

    def needed(self, evidence: int) -> int:
        """Evidence n-grams a document must hold from an item that has ``evidence`` of them."""
        return max(min(self.min_hits, evidence), math.ceil(self.min_coverage * evidence - 1e-9))

    def doc_freq(self, h: int) -> int:
        """Items holding the n-gram, or its shape with other numbers, whichever is more."""
        return max(self._df[h], self._sdf.get(self._shape_of.get(h), 0))

    def _effective(self) -> list[int]:
        """Per item: its evidence n-grams that are attributed to it and under the document-frequency cutoff."""
        if getattr(self, "_eff", None) is None or len(self._eff) != len(self._items):
            eff = [0] * len(self._items)
            self._boiler = set()
            for h, ref in self._refs.items():
                if self.doc_freq(h) <= self.max_df:
                    eff[ref] += 1
                else:
                    self._boiler.add(h)
            self._eff = eff
        return self._eff

    def _match_short(self, text, toks, spans, seen) -> list[Match]:
        out = []
        grams: dict[int, dict[int, list[int]]] = {}  # answer length -> hash -> starts

        def starts(length: int, h: int) -> list[int]:
            if length not in grams:
                table: dict[int, list[int]] = {}
                for i in range(len(toks) - length + 1):
                    table.setdefault(self._hash(" ".join(toks[i : i + length])), []).append(i)
                grams[length] = table
            return grams[length].get(h, [])

        for L in sorted(self._short_lengths, reverse=True):
            for i in range(len(toks) - L + 1):
                refs = self._short.get(self._hash(" ".join(toks[i : i + L])))
                if not refs:
                    continue
                for ref in refs:
                    ah, alen = self._answer[ref]
                    end = i + L
                    if alen:
                        after = [s for s in starts(alen, ah) if i + L <= s <= i + L + ANSWER_WINDOW]
                        if not after:
                            continue
                        end = after[0] + alen
                    key = self._items[ref]
                    if key not in seen:
                        seen.add(key)
                        out.append(Match(*key, self._span(text, spans, i, end), "whole", 1))
        return out

    @staticmethod
    def _span(text: str, spans, a: int, b: int) -> str:
        return text[spans[a][0] : spans[b - 1][1]][:SPAN_CHARS]

    def contaminated(self, text: str) -> bool:
        return bool(self.match(text, limit=1))

    def params(self) -> dict:
        return {
            "n": self.n,
            "n_cjk": self.n_cjk,
            "max_df": self.max_df,
            "min_hits": self.min_hits,
            "min_coverage": self.min_coverage,
            "min_tokens": self.min_tokens,
        }

    # -- persistence (numpy .npz, no pickle) ----------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        hashes = np.fromiter(self._refs.keys(), dtype=np.uint64, count=len(self._refs))
        short_pairs = [(h, r) for h, refs in self._short.items() for r in refs]
        ans = [self._answer.get(i, (0, -1)) for i in range(len(self._items))]
        meta = {
            "format": FORMAT_VERSION,
            **self.params(),
            "short_lengths": sorted(self._short_lengths),
            "skipped": self.skipped,
            "has_cjk": self._has_cjk,
            "hash": "xxhash64",
            "extra": extra or {},
        }
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                hashes=hashes,
                refs=np.fromiter(self._refs.values(), dtype=np.int64, count=len(self._refs)),
                df=np.fromiter((self._df[h] for h in self._refs), dtype=np.int64, count=len(self._refs)),
                shapes=np.fromiter((self._shape_of[h] for h in self._refs), dtype=np.uint64, count=len(self._refs)),
                shape_keys=np.fromiter(self._sdf.keys(), dtype=np.uint64, count=len(self._sdf)),
                shape_df=np.fromiter(self._sdf.values(), dtype=np.int64, count=len(self._sdf)),
                benchmarks=np.array([b for b, _ in self._items], dtype=np.str_),
                item_ids=np.array([i for _, i in self._items], dtype=np.str_),
                ngrams=np.array(self._ngrams, dtype=np.int64),
                short_hashes=np.array([h for h, _ in short_pairs], dtype=np.uint64),
                short_refs=np.array([r for _, r in short_pairs], dtype=np.int64),
                answer_hashes=np.array([a for a, _ in ans], dtype=np.uint64),
                answer_lens=np.array([n for _, n in ans], dtype=np.int64),
                meta=np.array(json.dumps(meta)),
            )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> NGramIndex:
        index, _ = cls.load_with_extra(path)
        return index

    @classmethod
    def load_with_extra(cls, path: str | Path) -> tuple[NGramIndex, dict]:
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported decontamination index format {meta.get('format')!r} in {path}")
            index = cls(
                n=meta["n"],
                n_cjk=meta["n_cjk"],
                max_df=meta["max_df"],
                min_hits=meta["min_hits"],
                min_coverage=meta["min_coverage"],
                min_tokens=meta["min_tokens"],
            )
            hashes = z["hashes"].tolist()
            index._refs = dict(zip(hashes, z["refs"].tolist()))
            index._df = dict(zip(hashes, z["df"].tolist()))
            index._shape_of = dict(zip(hashes, z["shapes"].tolist()))
            index._sdf = dict(zip(z["shape_keys"].tolist(), z["shape_df"].tolist()))
            index._items = list(zip(z["benchmarks"].tolist(), z["item_ids"].tolist()))
            index._ngrams = z["ngrams"].tolist()
            for h, r in zip(z["short_hashes"].tolist(), z["short_refs"].tolist()):
                index._short.setdefault(h, []).append(r)
            for i, (a, n) in enumerate(zip(z["answer_hashes"].tolist(), z["answer_lens"].tolist())):
                if n >= 0:
                    index._answer[i] = (a, n)
        index._short_lengths = set(meta["short_lengths"])
        index.skipped, index._has_cjk = meta["skipped"], meta["has_cjk"]
        return index, meta.get("extra") or {}


# -- training tables ----------------------------------------------------------------------------------
_NOT_CONTENT = {"role", "from", "name", "letter", "id", "type"}


def cell_text(value) -> str:
    """A cell's content as text: strings as-is, lists joined, structs by their content fields (a chat
    message's ``content``/``value``, not its ``role``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(cell_text(v) for k, v in value.items() if k not in _NOT_CONTENT)
    if isinstance(value, (list, tuple)):
        return "\n".join(cell_text(v) for v in value)
    return ""


def decontaminate(
    table: pa.Table,
    text_columns: str | Sequence[str],
    index: NGramIndex,
) -> tuple[pa.Table, pa.Table]:
    """Split ``table`` into (kept, removed). The text columns of a row are checked together (a short item's
    stem in the prompt and its answer in the completion is one match); ``removed`` follows
    ``REMOVED_SCHEMA``: the benchmark, item id and matched span of the first match."""
    cols = [text_columns] if isinstance(text_columns, str) else list(text_columns)
    missing = [c for c in ["record_id", *cols] if c not in table.column_names]
    if missing:
        raise ValueError(f"table has no column(s) {missing}")
    values = {c: table.column(c).to_pylist() for c in cols}
    ids = table.column("record_id").to_pylist()
    keep = np.ones(table.num_rows, dtype=bool)
    removed: list[dict] = []
    for i in range(table.num_rows):
        texts = [cell_text(values[c][i]) for c in cols]
        hits = index.match("\n".join(texts), limit=1)
        if hits:
            m = hits[0]
            col = next((c for c, t in zip(cols, texts) if m.span and m.span in t), "+".join(cols))
            keep[i] = False
            removed.append(
                {
                    "record_id": ids[i],
                    "benchmark": m.benchmark,
                    "matched_item_id": m.item_id,
                    "matched_span": m.span,
                    "column": col,
                    "reason": f"benchmark item {m.benchmark}/{m.item_id} ({m.kind} match, {m.hits} "
                    f"evidence n-gram(s)) in column {col!r}",
                }
            )
    kept = table.filter(pa.array(keep))
    return kept, pa.Table.from_pylist(removed, schema=REMOVED_SCHEMA)


def removed_per_benchmark(removed: pa.Table) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in removed["benchmark"].to_pylist():
        out[b] = out.get(b, 0) + 1
    return dict(sorted(out.items()))


# -- building the project's index ---------------------------------------------------------------------
@dataclass
class IndexReport:
    """What went into an index: data dirs, files read (items each) and files that could not be read."""

    data_dirs: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    unreadable: list[dict] = field(default_factory=list)  # {"file", "benchmark", "reason"}
    auxiliary: list[dict] = field(default_factory=list)  # files the loader names as not question files

    def as_dict(self) -> dict:
        return {
            "data_dirs": self.data_dirs,
            "files": self.files,
            "unreadable_files": self.unreadable,
            "auxiliary_files": self.auxiliary,
        }


def _benchmark_files(data_dir: Path) -> list[tuple[Path, str]]:
    """(file, benchmark) under ``<data_dir>/benchmarks`` (or ``data_dir`` itself when it has no such folder)."""
    root = Path(data_dir) / "benchmarks"
    if not root.is_dir():
        root = Path(data_dir)
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts) or _DOC_FILES.search(p.name):
            continue
        out.append((p, rel.parts[0] if len(rel.parts) > 1 else p.stem))
    return out


def index_dirs(data_dirs: Sequence[str | Path], index: NGramIndex | None = None) -> tuple[NGramIndex, IndexReport]:
    """Index every benchmark file under ``<dir>/benchmarks`` of each dir. A file that cannot be read is
    named in the report (``unreadable``) and the index is built from the others."""
    from citrus_assets.reasoning_data.seeds.loaders import load_seed_file

    index = index or NGramIndex()
    report = IndexReport(data_dirs=[str(d) for d in data_dirs])
    for d in data_dirs:
        for path, bench in _benchmark_files(Path(d)):
            name = str(path)
            try:
                result = load_seed_file(path, seed_set=f"decont-{bench}")
                if not result.rows:
                    raise ValueError(f"no readable items ({len(result.quarantine)} bad records)")
            except Exception as e:  # noqa: BLE001 - any unreadable file is reported, never fatal
                entry = {"file": name, "benchmark": bench, "reason": f"{type(e).__name__}: {e}"[:300]}
                if "not a question file" in str(e):  # e.g. PubMedQA's split-id file: named, not quarantined
                    report.auxiliary.append(entry)
                    continue
                report.unreadable.append(entry)
                log.warning("decontamination: cannot read %s (%s)", path, e)
                continue
            report.files[name] = index.add(items_from_seeds(result.rows, bench))
    return index, report


def default_eval_index(data_dir: str | Path, **params) -> NGramIndex:
    """The index of one data dir's ``benchmarks/`` folder (no bundled sample, no environment)."""
    return index_dirs([Path(data_dir)], NGramIndex(**params))[0]


def _fingerprint(dirs: Sequence[Path], params: dict) -> str:
    parts = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for d in dirs for p, _ in _benchmark_files(d)]
    blob = json.dumps([FORMAT_VERSION, params, [str(d) for d in dirs], parts], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def eval_index(
    configured: str | Path = "",
    cache_dir: str | Path | None = None,
    include_bundled: bool = True,
    extra_dirs: Sequence[str | Path] = (),
    **params,
) -> tuple[NGramIndex, IndexReport]:
    """THE project's index: every dir of ``benchmark_data_dirs(configured)`` (the bundled evaluation sample
    first). Cached as ``.npz`` under ``cache_dir`` keyed by the files' names, sizes and mtimes and the
    parameters."""
    from citrus_assets.common.decontamination.benchmark_data import benchmark_data_dirs

    dirs = benchmark_data_dirs(configured, include_bundled=include_bundled)
    dirs += [Path(d) for d in extra_dirs if Path(d).resolve() not in {x.resolve() for x in dirs}]
    proto = NGramIndex(**params)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"eval-index-{_fingerprint(dirs, proto.params())}.npz"
        if path.is_file():
            try:
                index, extra = NGramIndex.load_with_extra(path)
                return index, IndexReport(
                    extra.get("data_dirs", []),
                    extra.get("files", {}),
                    extra.get("unreadable_files", []),
                    extra.get("auxiliary_files", []),
                )
            except (OSError, ValueError, KeyError):
                pass  # rebuilt below
    index, report = index_dirs(dirs, proto)
    if path is not None:
        index.save(path, extra=report.as_dict())
    return index, report


UNREADABLE_ASSET = "decontamination_index"  # quarantine folder of benchmark files the index could not read


def quarantine_unreadable(lake, report: IndexReport) -> str | None:
    """Benchmark files the index could not read, as quarantine records of ``decontamination_index`` in the
    lake (file, reason); returns the quarantine table's address (None when every file was read)."""
    from resources.lake import QuarantineRecord

    records = [
        QuarantineRecord(u["file"], "file", f"unreadable benchmark file ({u['benchmark']}): {u['reason']}", "")
        for u in report.unreadable
    ]
    address, _ = lake.write_quarantine(UNREADABLE_ASSET, None, records)
    return address


def decontamination_metadata(
    index: NGramIndex, report: IndexReport, removed: pa.Table | None, allow_no_decontamination: bool
) -> dict:
    """What an asset records about its decontamination (the blocking check and the data card read it)."""
    on = index.n_items > 0
    return {
        "status": "on"
        if on
        else ("OFF (allow_no_decontamination)" if allow_no_decontamination else "FAILED: empty index"),
        "allow_no_decontamination": bool(allow_no_decontamination),
        "index_items": index.n_items,
        "benchmarks": index.benchmarks,
        "eval_data_dirs": report.data_dirs,
        "unreadable_benchmark_files": report.unreadable,
        "auxiliary_benchmark_files": [a["file"] for a in report.auxiliary],
        "removed": removed.num_rows if removed is not None else 0,
        "removed_per_benchmark": removed_per_benchmark(removed) if removed is not None else {},
        "params": index.params(),
    }


def decontamination_ok(meta: dict | None) -> tuple[bool, str]:
    """(passed, why) of a materialization's ``decontamination`` metadata: an empty index fails unless the
    run config opted out explicitly."""
    if not meta:
        return False, "no decontamination metadata recorded"
    if meta.get("index_items", 0) > 0:
        return True, f"{meta['index_items']} benchmark items indexed, {meta.get('removed', 0)} rows removed"
    if meta.get("allow_no_decontamination"):
        return True, "decontamination explicitly turned off (allow_no_decontamination: true)"
    return False, "the decontamination index is empty and allow_no_decontamination is not set"


def decontaminate_table(
    table: pa.Table,
    text_columns: str | Sequence[str],
    configured: str | Path = "",
    allow_no_decontamination: bool = False,
    cache_dir: str | Path | None = None,
    lake=None,
    **params,
) -> tuple[pa.Table, pa.Table, dict]:
    """(kept, removed, metadata) of ``table`` against THE project's index (:func:`eval_index`): what every
    training-bound asset calls. With an empty index nothing is removed and the metadata says so (the
    asset's blocking check then fails unless ``allow_no_decontamination``). With ``lake``, benchmark files
    that could not be read are written to its quarantine (:func:`quarantine_unreadable`)."""
    index, report = eval_index(configured, cache_dir, **params)
    if index.n_items:
        kept, removed = decontaminate(table, text_columns, index)
    else:
        log.warning("the decontamination index is empty (no benchmark items in %s)", report.data_dirs)
        kept, removed = table, REMOVED_SCHEMA.empty_table()
    meta = decontamination_metadata(index, report, removed, allow_no_decontamination)
    if lake is not None:  # unreadable benchmark files -> the lake's quarantine (decontamination_index)
        meta["unreadable_quarantine"] = quarantine_unreadable(lake, report)
    return kept, removed, meta
