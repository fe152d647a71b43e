"""The evaluation benchmarks of the paper (§6), where their files are, and how items are selected.

Every benchmark is a set of glob patterns under ``<data dir>/benchmarks/`` (the same folder the
n-gram decontamination index reads: ``common/decontamination.default_eval_index``), read with the
project's seed loaders (``reasoning_data.seeds.load_seed_file``: format detected from content),
then filtered (PubMedQA: the standard 500-id test split, abstracts as context; MMLU-Pro: health and
biology) and cut to ``max_items`` (a stable subset: the items with the smallest question ids).

Data dir: the configured one, else ``$CITRUS_EVAL_DATA``, else ``$CITRUS_DATA``, else ``../shared/data``
(the first that has a ``benchmarks/`` folder). A benchmark with no file is *skipped*, with a message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from citrus_assets.reasoning_data.seeds import SEED_SCHEMA, BadRecord, load_seed_file
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


_MMLU_MED = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
             "professional_medicine")

BENCHMARKS: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in [
        BenchmarkSpec("medqa", "MedQA USMLE test (4 options)", ("medqa/*4_option*test*",),
                      fallback_globs=("medqa/*test*",), paper_n=1273),
        BenchmarkSpec("pubmedqa", "PubMedQA PQA-L, standard 500-id test split, abstracts as context",
                      ("pubmedqa/ori_pqal.json",), keep=_test_split, requires=("pubmedqa/test_ground_truth.json",),
                      paper_n=500),
        BenchmarkSpec("medmcqa", "MedMCQA dev", ("medmcqa/dev*",), paper_n=4183),
        BenchmarkSpec("medbullets_op4", "MedBullets, 4 options", ("medbullets/*op4*",), paper_n=308),
        BenchmarkSpec("medbullets_op5", "MedBullets, 5 options", ("medbullets/*op5*",), paper_n=308),
        BenchmarkSpec("mmlu_medical", "MMLU medical subjects (test)", tuple(f"mmlu/{s}_test*" for s in _MMLU_MED)),
        BenchmarkSpec("mmlu_pro", "MMLU-Pro health + biology (up to 10 options)",
                      ("mmlu_pro/*health*", "mmlu_pro/*biology*"), fallback_globs=("mmlu_pro/*",),
                      keep=_health_biology),
        BenchmarkSpec("careqa", "CareQA (English)", ("careqa/*[eE][nN]*",), fallback_globs=("careqa/*",),
                      paper_n=5410),
        BenchmarkSpec("jmed", "JMED (21 options, possibly several correct)", ("jmed/*",), paper_n=1000),
    ]
}
BENCHMARK_NAMES = list(BENCHMARKS)


def resolve_data_dir(configured: str = "") -> Path | None:
    """The folder holding ``benchmarks/``: configured, $CITRUS_EVAL_DATA, $CITRUS_DATA, ../shared/data."""
    candidates = [configured, os.environ.get("CITRUS_EVAL_DATA", ""), os.environ.get("CITRUS_DATA", ""),
                  str(Path("..") / "shared" / "data")]
    for c in candidates:
        if c and (Path(c) / "benchmarks").is_dir():
            return Path(c)
    return None


def _glob(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    found = {p for g in patterns for p in root.glob(g) if p.is_file() and not p.name.startswith(".")}
    return sorted(found)


def benchmark_files(spec: BenchmarkSpec, data_dir: Path | None) -> tuple[list[Path], str]:
    """(files, "") or ([], why the benchmark is skipped)."""
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
    files: list[str] = field(default_factory=list)
    available: int = 0  # items after filtering, before max_items
    duplicates: int = 0  # identical records in the files, counted once (the loaders' rule)
    skipped: str = ""  # why nothing was loaded ("" when loaded)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=EVAL_ITEM_SCHEMA)


def load_benchmark(name: str, data_dir: Path | None, max_items: int | None = None) -> BenchmarkLoad:
    """The benchmark's items as ``EVAL_ITEM_SCHEMA`` rows. ``max_items``: None = the registry's demo
    size, 0 = all; the subset is the items with the smallest question ids (stable across runs)."""
    spec = BENCHMARKS[name]
    out = BenchmarkLoad(name)
    files, why = benchmark_files(spec, data_dir)
    if why:
        out.skipped = why
        return out
    rows: dict[str, dict] = {}
    for path in files:
        out.files.append(str(path.relative_to(data_dir / "benchmarks")))
        try:
            res = load_seed_file(path, seed_set=f"eval-{name}")
        except (BadRecord, OSError, UnicodeDecodeError) as e:
            out.quarantine.append(QuarantineRecord(path.name, "file", f"unreadable benchmark file: {e}", ""))
            continue
        out.quarantine += res.quarantine
        out.duplicates += res.duplicates
        for r in res.rows:
            if spec.keep is None or spec.keep(r):
                rows.setdefault(r[RECORD_ID], r)
    out.available = len(rows)
    limit = spec.max_items if max_items is None else max_items
    chosen = sorted(rows)[:limit] if limit and limit > 0 else sorted(rows)
    for qid in chosen:
        r = rows[qid]
        out.rows.append({**r, RECORD_ID: record_id("evalq", name, qid), "benchmark": name, "question_id": qid})
    if not out.rows and not out.skipped:
        out.skipped = f"{name}: no readable items in {out.files}"
    return out
