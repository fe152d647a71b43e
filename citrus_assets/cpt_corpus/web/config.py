"""Configuration and result types of the web curation of the CPT corpus.

Plain dataclasses (no Dagster): the asset shell turns ``WebCurationConfig`` into run config and
``ShardResult.metadata()`` / ``DedupResult.metadata()`` into Dagster metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions
from resources.lake import QuarantineRecord

# Names of the curation steps, in pipeline order; they are the ``filter`` column of reject rows.
STEP_READ = "read"
STEP_URL = "url_filter"
STEP_EXTRACT = "trafilatura"
STEP_LANGUAGE = "language"
STEP_GOPHER_REP = "gopher_repetition"
STEP_GOPHER_QUALITY = "gopher_quality"
STEP_C4 = "c4_quality"
STEP_FINEWEB = "fineweb_quality"
FILTER_STEPS = (STEP_URL, STEP_EXTRACT, STEP_LANGUAGE, STEP_GOPHER_REP, STEP_GOPHER_QUALITY, STEP_C4, STEP_FINEWEB)

RECORD_KIND = "webdoc"


def default_cache_dir() -> Path:
    """``$CITRUS_CACHE_DIR`` or ``~/.cache/citrus-lake`` (same rule as the LLM resource)."""
    return Path(os.environ.get("CITRUS_CACHE_DIR") or "~/.cache/citrus-lake").expanduser()


@dataclass
class WebCurationConfig:
    """Every knob of the web curation; defaults follow FineWeb's recipe (datatrove's defaults).

    Differences from FineWeb, on purpose: language id is py3langid (offline, shipped model) instead
    of fastText lid.176; Trafilatura's cross-document ``deduplicate`` is off so a document's
    extracted text (hence its record id) does not depend on the documents read before it -- exact and
    MinHash dedup remove duplicates later, across the whole source.
    """

    # -- execution (datatrove LocalPipelineExecutor by default; ``execution`` picks Ray or Slurm)
    # >1 runs dedup_source's per-shard stages that many datatrove tasks at a time, each in a fresh
    # ``python -m`` process under a deadline (web_exec / pool_watchdog: nothing forked from the caller, its
    # __main__ never re-imported). curate_shard always runs its one file as one task in the calling process.
    # With Ray or Slurm, ``workers`` is how many tasks run at once (<= 0: all).
    workers: int = 1
    execution: ExecutorOptions = field(default_factory=ExecutorOptions)  # which datatrove executor (web_exec)
    dedup_tasks: int = 1  # datatrove tasks of the per-shard stages of dedup_source (<= number of shards)
    keep_work_files: bool = False  # keep the datatrove folders (signatures, logs) under work_dir
    # -- input
    input_format: str = "auto"  # "auto" | "warc" | "wet" | "jsonl"
    jsonl_text_key: str = "text"
    jsonl_id_key: str = "id"
    # -- URL filter (datatrove's bundled block lists, used offline)
    url_filter: bool = True
    url_use_integrated_lists: bool = True
    url_extra_domains: tuple[str, ...] = ()
    url_extra_urls: tuple[str, ...] = ()
    url_banned_words: tuple[str, ...] = ()
    url_banned_subwords: tuple[str, ...] = ()
    url_soft_banned_words: tuple[str, ...] = ()
    url_soft_word_threshold: int = 2
    cache_dir: str | None = None  # where the domain block list index is cached (default_cache_dir())
    # -- extraction (WARC only)
    extract_timeout: float = 5.0  # seconds per document (datatrove default 1 s; the machine is shared)
    trafilatura_favour_precision: bool = True
    trafilatura_deduplicate: bool = False
    # -- language
    languages: tuple[str, ...] = ("en",)
    language_threshold: float = 0.65
    # -- quality filters (None disables a filter; dicts are passed to datatrove's constructors)
    gopher_repetition: dict[str, Any] | None = field(default_factory=dict)
    gopher_quality: dict[str, Any] | None = field(default_factory=dict)
    c4_quality: dict[str, Any] | None = field(default_factory=lambda: {"filter_no_terminal_punct": False})
    fineweb_quality: dict[str, Any] | None = field(default_factory=dict)
    tokenizer_language: str = "en"  # word tokenizer of the quality filters and MinHash (spaCy blank model)
    # -- output
    max_reject_text_chars: int = 20_000  # reject rows keep at most this much text (HTML of failed extractions)
    # -- dedup (dedup_source)
    exact_dedup: bool = True
    minhash_dedup: bool = True
    minhash_ngrams: int = 5
    minhash_buckets: int = 14
    minhash_hashes_per_bucket: int = 8
    minhash_seed: int = 1

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


@dataclass
class ShardResult:
    """Output of ``curate_shard`` for one input file."""

    uri: str
    input_format: str
    documents: pa.Table  # kept documents
    rejects: pa.Table  # dropped documents, with the step (`filter`) and `reason`
    funnel: list[dict[str, Any]]  # one entry per step, in order: step, documents_in, documents_out, dropped
    quarantine: list[QuarantineRecord]
    reader_stats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def metadata(self) -> dict[str, Any]:
        """JSON-ready summary for Dagster materialization metadata."""
        return funnel_metadata(self)


@dataclass
class DedupResult:
    """Output of ``dedup_source`` for all shards of one source."""

    kept: pa.Table
    duplicates: pa.Table  # record_id, kept_record_id, matched_record_id, method, cluster_id, cluster_size, ...
    stats: dict[str, Any]
    seconds: float = 0.0

    def metadata(self) -> dict[str, Any]:
        return {**self.stats, "seconds": round(self.seconds, 3)}


def funnel_metadata(result: ShardResult) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    by_filter: dict[str, int] = {}
    if result.rejects.num_rows:
        for f, r in zip(result.rejects.column("filter").to_pylist(), result.rejects.column("reason").to_pylist()):
            by_filter[f] = by_filter.get(f, 0) + 1
            reasons[f"{f}:{r}"] = reasons.get(f"{f}:{r}", 0) + 1
    first = result.funnel[0] if result.funnel else {"documents_in": 0}
    n_out = result.documents.num_rows
    return {
        "source_uri": result.uri,
        "input_format": result.input_format,
        "units_in": first["documents_in"],
        "documents_out": n_out,
        "rejected": result.rejects.num_rows,
        "quarantined": len(result.quarantine),
        "keep_rate": round(n_out / first["documents_in"], 4) if first["documents_in"] else 0.0,
        "funnel": result.funnel,
        "rejects_by_filter": by_filter,
        "rejects_by_reason": dict(sorted(reasons.items())),
        "reader": result.reader_stats,
        "chars_out": int(sum(result.documents.column("n_chars").to_pylist())) if n_out else 0,
        "seconds": round(result.seconds, 3),
    }
