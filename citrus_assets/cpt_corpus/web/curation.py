"""Web curation of the CPT corpus, one input shard at a time (FineWeb-style, on datatrove).

``curate_shard(input_path, uri, work_dir, config)`` runs one datatrove pipeline on one WARC /
WARC.gz file, or a WET / CCNet-style JSONL file (these already hold text: no extraction):

    read (quarantining reader) -> URL filter -> Trafilatura (WARC only) -> language (py3langid)
    -> Gopher repetition -> Gopher quality -> C4 quality -> FineWeb quality

Every filter has an ``exclusion_writer``, so each dropped document comes back as a reject row with
the step that dropped it (``filter``) and datatrove's reason. Unreadable units come back as
``QuarantineRecord``s. Documents the reader reads but does not pass on (a repeated fetch of the same URL
with an identical payload, a non-HTML payload, an empty one) are reject rows of the ``read`` step.
Kept rows carry ``record_id`` (``record_id("webdoc", source_id, source_locator, url, text)``: the
locator makes ids unique by construction, even for two identical units of one file),
``parent_ids`` (``[source_id(uri, raw)]``: WARC payload bytes / JSONL line bytes), ``source_uri``,
``source_locator``, ``url``, ``text``, ``language``, ``language_score``, ``n_chars``.
Cross-shard exact + MinHash dedup is ``web_dedup.dedup_source``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.writers import JsonlWriter

from citrus_assets.cpt_corpus.web.config import (
    FILTER_STEPS,
    RECORD_KIND,
    STEP_C4,
    STEP_EXTRACT,
    STEP_FINEWEB,
    STEP_GOPHER_QUALITY,
    STEP_GOPHER_REP,
    STEP_LANGUAGE,
    STEP_READ,
    STEP_URL,
    ShardResult,
    WebCurationConfig,
)
from citrus_assets.cpt_corpus.web.filters import OfflineURLFilter, Py3LangidFilter, RecordingTrafilatura
from citrus_assets.cpt_corpus.web.pipelines import cleanup, iter_jsonl_folder, make_run_dir, run_pipeline
from citrus_assets.cpt_corpus.web.readers import (
    QuarantiningJsonlReader,
    QuarantiningWarcReader,
    detect_format,
    read_side_files,
    read_side_rejects,
)
from resources.lake import QuarantineRecord, describe_bytes
from resources.lineage.ids import record_id

_COMMON = [
    ("record_id", pa.string()),
    ("parent_ids", pa.list_(pa.string())),
    ("source_uri", pa.string()),
    ("source_locator", pa.string()),
    ("url", pa.string()),
    ("text", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float64()),
    ("n_chars", pa.int64()),
    ("source_doc_id", pa.string()),
    ("date", pa.string()),
]
DOCUMENT_SCHEMA = pa.schema(_COMMON)
REJECT_SCHEMA = pa.schema(_COMMON + [("filter", pa.string()), ("reason", pa.string()), ("text_truncated", pa.bool_())])


def build_steps(config: WebCurationConfig, fmt: str, exclusion) -> list[tuple[str, Any]]:
    """The (name, datatrove step) list after the reader; ``exclusion(name)`` gives a writer or None."""
    c = config
    steps: list[tuple[str, Any]] = []
    if c.url_filter:
        steps.append(
            (
                STEP_URL,
                OfflineURLFilter(
                    soft_word_threshold=c.url_soft_word_threshold,
                    extra_domains=c.url_extra_domains,
                    extra_urls=c.url_extra_urls,
                    banned_words=c.url_banned_words,
                    banned_subwords=c.url_banned_subwords,
                    soft_banned_words=c.url_soft_banned_words,
                    use_integrated_lists=c.url_use_integrated_lists,
                    exclusion_writer=exclusion(STEP_URL),
                    cache_dir=c.resolved_cache_dir(),
                ),
            )
        )
    if fmt == "warc":
        steps.append(
            (
                STEP_EXTRACT,
                RecordingTrafilatura(
                    exclusion_writer=exclusion(STEP_EXTRACT),
                    max_reject_chars=c.max_reject_text_chars,
                    favour_precision=c.trafilatura_favour_precision,
                    timeout=c.extract_timeout,
                    deduplicate=c.trafilatura_deduplicate,
                ),
            )
        )
    if c.languages:
        steps.append(
            (
                STEP_LANGUAGE,
                Py3LangidFilter(
                    languages=c.languages,
                    language_threshold=c.language_threshold,
                    exclusion_writer=exclusion(STEP_LANGUAGE),
                ),
            )
        )
    lang = c.tokenizer_language
    for name, cls, kwargs in (
        (STEP_GOPHER_REP, GopherRepetitionFilter, c.gopher_repetition),
        (STEP_GOPHER_QUALITY, GopherQualityFilter, c.gopher_quality),
        (STEP_C4, C4QualityFilter, c.c4_quality),
        (STEP_FINEWEB, FineWebQualityFilter, c.fineweb_quality),
    ):
        if kwargs is not None:
            steps.append((name, cls(exclusion_writer=exclusion(name), language=lang, **kwargs)))
    return steps


def _row(d: dict, cfg_max: int | None = None) -> dict[str, Any]:
    m = d.get("metadata") or {}
    text = d.get("text") or ""
    sid, url = m.get("source_id"), m.get("url")
    row = {
        "record_id": record_id(RECORD_KIND, sid, m.get("source_locator"), url, text),
        "parent_ids": [sid],
        "source_uri": m.get("source_uri"),
        "source_locator": m.get("source_locator"),
        "url": url if isinstance(url, str) else None,
        "text": text,
        "language": m.get("language"),
        "language_score": m.get("language_score"),
        "n_chars": len(text),
        "source_doc_id": str(d["id"]) if d.get("id") is not None else None,
        "date": str(m["date"]) if m.get("date") is not None else None,
    }
    if cfg_max is not None:
        row["text_truncated"] = len(text) > cfg_max
        row["text"] = text[:cfg_max]
    return row


def _empty_result(uri: str, fmt: str, quarantine: list[QuarantineRecord], t0: float) -> ShardResult:
    return ShardResult(
        uri=uri,
        input_format=fmt,
        documents=DOCUMENT_SCHEMA.empty_table(),
        rejects=REJECT_SCHEMA.empty_table(),
        funnel=[
            {"step": STEP_READ, "documents_in": 0, "documents_out": 0, "dropped": 0, "quarantined": len(quarantine)}
        ],
        quarantine=quarantine,
        reader_stats={},
        seconds=time.perf_counter() - t0,
    )


def curate_shard(
    input_path: str | Path, uri: str | None, work_dir: str | Path, config: WebCurationConfig | None = None
) -> ShardResult:
    """Curate one WARC / WARC.gz / WET / JSONL shard; see the module docstring. Never raises on bad input.

    ``uri`` is the input's address recorded in lineage (``None``: the path); ``work_dir`` gets a private
    temporary folder for datatrove's files, removed afterwards unless ``config.keep_work_files``.
    """
    t0 = time.perf_counter()
    config = config or WebCurationConfig()
    path = Path(input_path)
    uri = uri or str(path)
    if not path.is_file():
        reason = "unreadable file: not found or not a regular file"
        return _empty_result(uri, "unknown", [QuarantineRecord(uri, "file", reason, "")], t0)
    fmt = config.input_format if config.input_format != "auto" else detect_format(path)
    if fmt not in ("warc", "wet", "jsonl"):
        with open(path, "rb") as fh:  # not the expected type: its size and hash, never its bytes
            head = (
                describe_bytes(fh.read(1 << 16))
                if path.stat().st_size <= 1 << 16
                else f"[{path.stat().st_size} bytes; content not copied]"
            )
        reason = "unreadable file: neither WARC nor JSONL"
        return _empty_result(uri, fmt, [QuarantineRecord(uri, "file", reason, head)], t0)

    run_dir = make_run_dir(work_dir, "curate-")
    try:
        (run_dir / "paths.txt").write_text(path.name + "\n")
        side = run_dir / "side"
        common = dict(
            data_folder=str(path.parent.resolve()),
            side_folder=str(side),
            uri=uri,
            paths_file=str(run_dir / "paths.txt"),
        )
        if fmt in ("warc", "wet"):
            reader = QuarantiningWarcReader(**common)
        else:
            reader = QuarantiningJsonlReader(**common, text_key=config.jsonl_text_key, id_key=config.jsonl_id_key)

        def exclusion(name: str):
            return JsonlWriter(str(run_dir / "rejects" / name), compression=None)

        steps = build_steps(config, fmt, exclusion)
        pipeline = [reader, *(s for _, s in steps), JsonlWriter(str(run_dir / "kept"), compression=None)]
        run_pipeline(pipeline, run_dir / "logs", tasks=1, workers=1, options=config.execution)

        kept = pa.Table.from_pylist([_row(d) for d in iter_jsonl_folder(run_dir / "kept")], schema=DOCUMENT_SCHEMA)
        reject_rows = []
        for d in read_side_rejects(side):  # read but not passed on: duplicate fetches, non-HTML, empty
            r = _row(d, config.max_reject_text_chars)
            r["filter"], r["reason"] = STEP_READ, d["metadata"]["filter_reason"]
            reject_rows.append(r)
        dropped = {}
        for name, _ in steps:
            n0 = len(reject_rows)
            for d in iter_jsonl_folder(run_dir / "rejects" / name):
                r = _row(d, config.max_reject_text_chars)
                r["filter"], r["reason"] = name, (d.get("metadata") or {}).get("filter_reason") or "rejected"
                reject_rows.append(r)
            dropped[name] = len(reject_rows) - n0
        rejects = pa.Table.from_pylist(reject_rows, schema=REJECT_SCHEMA)
        q_rows, counts = read_side_files(side)
        quarantine = [QuarantineRecord(r["source_uri"], r["source_locator"], r["reason"], r["raw"]) for r in q_rows]
        funnel = build_funnel(counts, [name for name, _ in steps], dropped, kept.num_rows)
        return ShardResult(
            uri=uri,
            input_format=fmt,
            documents=kept,
            rejects=rejects,
            funnel=funnel,
            quarantine=quarantine,
            reader_stats=counts,
            seconds=time.perf_counter() - t0,
        )
    finally:
        cleanup(run_dir, config.keep_work_files)


def build_funnel(
    counts: dict[str, int], steps: list[str], dropped: dict[str, int], n_kept: int
) -> list[dict[str, Any]]:
    """Documents in/out per step, in pipeline order; the first entry is the reader (units -> documents)."""
    units, docs = counts.get("units", 0), counts.get("documents", 0)
    funnel = [
        {
            "step": STEP_READ,
            "documents_in": units,
            "documents_out": docs,
            "dropped": units - docs,
            "quarantined": counts.get("quarantined", 0),
            # read but not passed on, each a reject row of the read step (duplicate fetch, non-HTML, empty)
            "rejected": {
                k.removeprefix("rejected_"): v for k, v in sorted(counts.items()) if k.startswith("rejected_")
            },
            # records that are not documents (request, warcinfo, metadata)
            "skipped": {k.removeprefix("skipped_"): v for k, v in sorted(counts.items()) if k.startswith("skipped_")},
        }
    ]
    n = docs
    for name in steps:
        d = dropped.get(name, 0)
        funnel.append({"step": name, "documents_in": n, "documents_out": n - d, "dropped": d})
        n -= d
    if n != n_kept:  # a step dropped documents without recording them: show it rather than hide it
        funnel.append({"step": "unaccounted", "documents_in": n, "documents_out": n_kept, "dropped": n - n_kept})
    return funnel


__all__ = [
    "curate_shard",
    "build_steps",
    "build_funnel",
    "ShardResult",
    "WebCurationConfig",
    "DOCUMENT_SCHEMA",
    "REJECT_SCHEMA",
    "FILTER_STEPS",
]
