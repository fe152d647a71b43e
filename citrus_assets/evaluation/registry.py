"""The evaluation benchmarks of the paper (§6), where their files are, and how items are selected.

Every benchmark is a set of glob patterns under ``<data dir>/benchmarks/`` (the same folders the
n-gram decontamination index reads), read with the project's seed loaders
(``reasoning_data.seeds.seed_files.load_seed_file``: format detected from content), then filtered (PubMedQA: the
standard 500-id test split, abstracts as context; MMLU-Pro: health and biology) and cut to ``max_items``.

Data dirs: ``common.benchmark_data.benchmark_data_dirs(configured)``: the project's bundled evaluation
sample (``sample/benchmarks``) first, then the configured one, ``$CITRUS_EVAL_DATA`` and ``$CITRUS_DATA``
(else ``../shared/data``); real files are added next to the bundled ones, never instead. Each item records
the data dir and file it came from. A benchmark with no file in any dir is *skipped*, with a message.

``max_items`` subset: items are taken data dir by data dir in that order (the bundled sample first), within
a dir the smallest question ids (stable across runs). So the demo's 8 items are the bundled ones on every
machine (comparable numbers with or without the real data), and ``max_items=0`` takes every item of
every dir. An item present in two dirs (same content, same question id) is kept once, from the first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.decontamination.benchmark_data import benchmark_data_dirs, data_dir_label
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from citrus_assets.reasoning_data.seeds.seed_files import SEED_SCHEMA, BadRecord
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID

DEMO_MAX_ITEMS = 8

EVAL_ITEM_SCHEMA = pa.schema(
    [
        *[SEED_SCHEMA.field(n) for n in (RECORD_ID, PARENT_IDS)],
        ("benchmark", pa.string()),
        ("question_id", pa.string()),  # the seed loader's record id: the decontamination index's item id
        *[f for f in SEED_SCHEMA if f.name not in (RECORD_ID, PARENT_IDS)],
        ("data_dir", pa.string()),  # "sample" (the bundled evaluation sample) or the real data dir
        ("benchmark_file", pa.string()),  # the file, relative to <data_dir>/benchmarks
    ]
)


def _meta(row: dict) -> dict:
    try:
        return json.loads(row.get("meta") or "{}")
    except json.JSONDecodeError:
        return {}


def _test_split(row: dict) -> bool:
    return row.get("split") == "test"


def _health_biology(row: dict) -> bool:
    cat = str(_meta(row).get("category", "")).lower()
    return not cat or cat in ("health", "biology")


@dataclass(frozen=True)
class BenchmarkSpec:
    """``globs`` (relative to ``benchmarks/``) are all loaded; ``fallback_globs`` only when ``globs``
    match nothing; ``keep`` filters loaded rows; ``requires`` names files that must exist."""

    name: str
    description: str
    globs: tuple[str, ...]
    fallback_globs: tuple[str, ...] = ()
    keep: Callable[[dict], bool] | None = None
    requires: tuple[str, ...] = ()
    max_items: int = DEMO_MAX_ITEMS
    paper_n: int | None = None  # the size the paper evaluated on


_MMLU_MED = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)

BENCHMARKS: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in [
        BenchmarkSpec(
            "medqa",
            "MedQA USMLE test (4 options)",
            ("medqa/*4_option*test*",),
            fallback_globs=("medqa/*test*",),
            paper_n=1273,
        ),
        BenchmarkSpec("medqa_op5", "MedQA USMLE test (5 options)", ("medqa/*5_option*test*",)),
        BenchmarkSpec(
            "pubmedqa",
            "PubMedQA PQA-L, standard 500-id test split, abstracts as context",
            ("pubmedqa/ori_pqal.json",),
            keep=_test_split,
            requires=("pubmedqa/test_ground_truth.json",),
            paper_n=500,
        ),
        BenchmarkSpec("medmcqa", "MedMCQA dev", ("medmcqa/dev*",), paper_n=4183),
        BenchmarkSpec("medbullets_op4", "MedBullets, 4 options", ("medbullets/*op4*",), paper_n=308),
        BenchmarkSpec("medbullets_op5", "MedBullets, 5 options", ("medbullets/*op5*",), paper_n=308),
        BenchmarkSpec("mmlu_medical", "MMLU medical subjects (test)", tuple(f"mmlu/{s}_test*" for s in _MMLU_MED)),
        BenchmarkSpec(
            "mmlu_pro",
            "MMLU-Pro health + biology (up to 10 options)",
            ("mmlu_pro/*health*", "mmlu_pro/*biology*"),
            fallback_globs=("mmlu_pro/*",),
            keep=_health_biology,
        ),
        BenchmarkSpec("careqa", "CareQA (English)", ("careqa/*[eE][nN]*",), fallback_globs=("careqa/*",), paper_n=5410),
        BenchmarkSpec("jmed", "JMED (21 options, possibly several correct)", ("jmed/*",), paper_n=1000),
        BenchmarkSpec(
            "cmexam",
            "CMExam (Chinese medical licensing exam, CSV; possibly several correct)",
            ("cmexam/*test*",),
            fallback_globs=("cmexam/*",),
        ),
    ]
}
BENCHMARK_NAMES = list(BENCHMARKS)


DataDirs = Path | Sequence[Path] | None


def data_dirs_of(data_dirs: DataDirs) -> list[Path]:
    """A single dir (exactly that one), a list, or None (none)."""
    if data_dirs is None:
        return []
    return [Path(data_dirs)] if isinstance(data_dirs, (str, os.PathLike)) else [Path(d) for d in data_dirs]


def default_data_dirs(configured: str = "") -> list[Path]:
    """Where evaluation reads by default: the bundled sample, then the real data dirs."""
    return benchmark_data_dirs(configured)


def _glob(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    found = {p for g in patterns for p in root.glob(g) if p.is_file() and not p.name.startswith(".")}
    return sorted(found)


def benchmark_files(spec: BenchmarkSpec, data_dir: Path | None) -> tuple[list[Path], str]:
    """One data dir's files of the benchmark: (files, "") or ([], why there are none)."""
    if data_dir is None:
        return [], "no benchmarks folder found (set CITRUS_EVAL_DATA or the data_dir config)"
    root = data_dir / "benchmarks"
    missing = [r for r in spec.requires if not (root / r).is_file()]
    if missing:
        return [], f"{spec.name}: required file(s) {missing} missing under {root}"
    files = _glob(root, spec.globs) or _glob(root, spec.fallback_globs)
    if not files:
        return [], f"{spec.name}: no file matching {list(spec.globs + spec.fallback_globs)} under {root}"
    return files, ""


@dataclass
class BenchmarkLoad:
    benchmark: str
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # "<data dir label>/benchmarks/<file>"
    data_dirs: list[str] = field(default_factory=list)  # the data dirs that gave files, in reading order
    available: int = 0  # items after filtering, before max_items (every data dir)
    available_by_dir: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # identical records, counted once (the loaders' rule; also across data dirs)
    skipped: str = ""  # why nothing was loaded ("" when loaded)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=EVAL_ITEM_SCHEMA)

    def selected_by_dir(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["data_dir"]] = out.get(r["data_dir"], 0) + 1
        return out


def load_benchmark(name: str, data_dirs: DataDirs, max_items: int | None = None) -> BenchmarkLoad:
    """The benchmark's items as ``EVAL_ITEM_SCHEMA`` rows from ``data_dirs`` (a dir or a list, read in
    order; ``default_data_dirs()`` = bundled sample first, then the real data). ``max_items``: None = the
    registry's demo size, 0 = all; the subset fills dir by dir, each dir's items by smallest question id."""
    spec = BENCHMARKS[name]
    out = BenchmarkLoad(name)
    dirs = data_dirs_of(data_dirs)
    if not dirs:
        out.skipped = benchmark_files(spec, None)[1]
        return out
    by_dir: list[tuple[str, dict[str, dict]]] = []
    seen: set[str] = set()
    reasons = []
    for data_dir in dirs:
        files, why = benchmark_files(spec, data_dir)
        if why:
            reasons.append(why)
            continue
        label = data_dir_label(data_dir)
        out.data_dirs.append(label)
        rows: dict[str, dict] = {}
        for path in files:
            rel = str(path.relative_to(data_dir / "benchmarks"))
            out.files.append(f"{label}/benchmarks/{rel}")
            try:
                res = load_seed_file(path, seed_set=f"eval-{name}")
            except (BadRecord, OSError, UnicodeDecodeError) as e:
                out.quarantine.append(
                    QuarantineRecord(f"{label}/benchmarks/{rel}", "file", f"unreadable benchmark file: {e}", "")
                )
                continue
            out.quarantine += res.quarantine
            out.duplicates += res.duplicates
            for r in res.rows:
                if spec.keep is not None and not spec.keep(r):
                    continue
                if r[RECORD_ID] in seen:
                    out.duplicates += 1
                    continue
                seen.add(r[RECORD_ID])
                rows[r[RECORD_ID]] = {**r, "data_dir": label, "benchmark_file": rel}
        out.available_by_dir[label] = len(rows)
        by_dir.append((label, rows))
    out.available = len(seen)
    limit = spec.max_items if max_items is None else max_items
    ordered = [rows[qid] for _, rows in by_dir for qid in sorted(rows)]
    chosen = ordered[:limit] if limit and limit > 0 else ordered
    for r in chosen:
        qid = r[RECORD_ID]
        out.rows.append({**r, RECORD_ID: record_id("evalq", name, qid), "benchmark": name, "question_id": qid})
    if not out.data_dirs:
        out.skipped = "; ".join(reasons)
    elif not out.rows:
        out.skipped = f"{name}: no readable items in {out.files}"
    return out
