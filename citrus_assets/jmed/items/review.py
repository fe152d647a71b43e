"""Review of JMED items: automatic checks, three human tiers imported from files, the benchmark rows.

Review folder (``reviews_dir``; default env ``CITRUS_JMED_REVIEWS`` else ``sample/jmed_reviews``): one
file per tier, ``primary``, ``secondary``, ``chief`` (attending physicians; senior physicians; the chief
physician's final audit) as ``.csv`` or ``.json``/``.jsonl`` with columns ``item_id`` (the
consultation id), ``verdict`` (``approve``/``reject``; also ``approved``/``rejected``/``pass``/``fail``/
``通过``/``不通过``), ``reviewer``, ``reviewed_at``, optional ``comment`` and ``record_id``. A decision
carrying a ``record_id`` that is not the item's current one (the item was rebuilt since) is ignored
as stale. A later line for the same item in the same tier replaces an earlier one.

Status of an item: ``auto_rejected`` when an automatic check fails (``options.item_problems``);
otherwise tier by tier in order: a rejection stops it (``rejected_<tier>``), a missing decision leaves
it ``pending_<tier>``, three approvals make it ``approved``. Only approved items enter the benchmark.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pyarrow as pa

from citrus_assets.jmed.items.options import item_problems
from citrus_assets.jmed.schemas import BENCHMARK_SCHEMA, REVIEW_SCHEMA, TIERS
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID

APPROVE = {"approve", "approved", "accept", "accepted", "pass", "yes", "通过", "同意"}
REJECT = {"reject", "rejected", "fail", "no", "不通过", "驳回"}


def reviews_path(configured: str = "") -> Path:
    return Path(configured or os.environ.get("CITRUS_JMED_REVIEWS", "sample/jmed_reviews"))


def _rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    if path.suffix.lower() == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data if isinstance(data, list) else data.get("decisions", [])


def load_decisions(folder: Path) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """``{tier: {item_id: decision}}`` and the problems met (unknown verdicts, missing ids)."""
    out: dict[str, dict[str, dict]] = {t: {} for t in TIERS}
    problems = []
    for tier in TIERS:
        for path in sorted(folder.glob(f"{tier}.*")) if folder.is_dir() else []:
            for n, d in enumerate(_rows(path), 1):
                d = {str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in d.items()}
                verdict = d.get("verdict", "").lower()
                if not d.get("item_id") or verdict not in APPROVE | REJECT:
                    problems.append(f"{path.name} row {n}: needs item_id and verdict approve/reject")
                    continue
                d["verdict"] = "approve" if verdict in APPROVE else "reject"
                out[tier][d["item_id"]] = d
    return out, problems


def review_items(items: pa.Table, decisions: dict[str, dict[str, dict]]) -> pa.Table:
    rows = []
    for r in items.to_pylist():
        options = {o["letter"]: o["text"] for o in r["options"]}
        problems = item_problems(options, r["option_codes"], r["answer_letters"], r["question"], r["language"])
        row = {**r, "auto_problems": problems}
        status = "auto_rejected" if problems else None
        for tier in TIERS:
            d = decisions.get(tier, {}).get(r["dialogue_id"])
            if d and d.get("record_id") and d["record_id"] != r[RECORD_ID]:
                d = None  # a decision about an earlier build of the item
            for c in ("verdict", "reviewer", "reviewed_at", "comment"):
                row[f"{tier}_{c}"] = (d or {}).get(c) or None
            if status is None and d is None:
                status = f"pending_{tier}"
            elif status is None and d["verdict"] == "reject":
                status = f"rejected_{tier}"
        row["status"] = status or "approved"
        row["approved"] = row["status"] == "approved"
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=REVIEW_SCHEMA)


def benchmark_rows(reviewed: pa.Table) -> pa.Table:
    rows = []
    for r in reviewed.to_pylist():
        tiers = sum(r[f"{t}_verdict"] == "approve" for t in TIERS)
        if not r["approved"] or tiers != len(TIERS):
            continue
        rows.append(
            {
                RECORD_ID: record_id("jmed", r[RECORD_ID]),
                PARENT_IDS: [r[RECORD_ID]],
                "id": r["dialogue_id"],
                "department": r["department"],
                "question": r["question"],
                "options": r["options"],
                "answer": r["answer_letters"],
                "month": r["month"],
                "language": r["language"],
                "age": r["age"],
                "sex": r["sex"],
                "tiers_approved": tiers,
            }
        )
    return pa.Table.from_pylist(rows, schema=BENCHMARK_SCHEMA)


def jsonl_lines(benchmark: pa.Table) -> list[str]:
    """The release format (what ``reasoning_data.seeds.loaders.load_jmed`` reads): id, department, question,
    options {A..U: text}, answer "A" or "A,C"; plus month and language."""
    out = []
    for r in benchmark.to_pylist():
        out.append(
            json.dumps(
                {
                    "id": r["id"],
                    "department": r["department"],
                    "question": r["question"],
                    "options": {o["letter"]: o["text"] for o in r["options"]},
                    "answer": ",".join(r["answer"]),
                    "month": r["month"],
                    "language": r["language"],
                },
                ensure_ascii=False,
            )
        )
    return out


AGE_BANDS = (
    (0, 20, "≤20"),
    (21, 30, "21-30"),
    (31, 40, "31-40"),
    (41, 50, "41-50"),
    (51, 60, "51-60"),
    (61, 200, ">60"),
)


def age_band(age) -> str:
    if age is None:
        return "unknown"
    return next(label for lo, hi, label in AGE_BANDS if lo <= age <= hi)


def age_sex_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """``{age band: {male, female, unknown}}`` in band order (the paper's Figure 6 data)."""
    out = {label: {"male": 0, "female": 0, "unknown": 0} for *_, label in AGE_BANDS}
    out["unknown"] = {"male": 0, "female": 0, "unknown": 0}
    for age, sex in zip(table["age"].to_pylist(), table["sex"].to_pylist()):
        out[age_band(age)][sex if sex in ("male", "female") else "unknown"] += 1
    return {k: v for k, v in out.items() if sum(v.values())}
