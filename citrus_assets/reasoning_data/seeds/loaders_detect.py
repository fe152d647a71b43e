"""Which loader reads a seed file: decided from its content (first record or header), then its name.

Rules, in order (keys compared case-insensitively):
- a hidden sidecar ``.<name>.mapping.json`` beside the file -> ``mapped``
- CSV (by suffix, or content not starting with ``[``/``{``), on the header row:
  ``opa``+``cop`` -> medmcqa; ``op1``+``cop`` -> careqa; ``opa``+``answer_idx``/``answer`` -> medbullets;
  ``question``+``options``+``answer`` -> jmed with ``department``, else cmexam;
  ``question,a,b,c,d,answer`` -> cmmlu when the first column is the unnamed index or the text is
  Chinese, else mmlu_csv; 6 columns ending in a letter (no header) -> mmlu_csv
- JSON / JSON Lines, on the first record (for an object of records, its first value):
  ``question``+``contexts`` (or ``context``+``final_decision``) -> pubmedqa; ``opa``+``cop`` -> medmcqa;
  ``op1``+``cop`` -> careqa; ``department``+``options`` or more than 10 options -> jmed;
  ``opa``+``answer_idx`` -> medbullets; ``realidx``+``question``+``options`` (an object)+``answer_idx`` ->
  medagentsbench (the MedAgentsBench packaging of AfriMed-QA, MedQA, MedMCQA, PubMedQA, MMLU, MMLU-Pro,
  MedBullets, MedExQA, MedXpertQA: ``medagents_benchmark`` tells which benchmark the file holds);
  ``question``+``options``/``choices``: MMLU-Pro keys
  (``category``, ``src``, ``realidx``, ``question_id``, ``answer_index``, ``cot_content``) or more than
  5 options -> mmlu_pro, only ``choices`` -> mmlu_json, else medqa_jsonl.
A PubMedQA split-id file (id -> yes/no/maybe) is refused with a hint; anything else raises BadRecord
(an open-ended QA file -- cases with question-answer pairs and no options -- is named as such).

Packaging and benchmark are two things: a format key says how a file is laid out (its loader); for a
repackaged file ``medagents_benchmark`` says which benchmark it holds, from the published folder or file
name (``data/<benchmark>/test_hard.jsonl``), else from the fields only one benchmark has (MMLU-Pro
``category``+``src``, PubMedQA ``answer_rationale`` or yes/no/maybe options, MedQA ``meta_info`` step).
"""

from __future__ import annotations

import re
from itertools import islice
from pathlib import Path

from citrus_assets.common.text.language import detect_language
from citrus_assets.reasoning_data.seeds import loaders_io as io
from citrus_assets.reasoning_data.seeds.seed_files import BadRecord

_CSV_SUFFIXES = (".csv", ".tsv", ".tab")
_MMLU_PRO_KEYS = {"category", "src", "realidx", "question_id", "answer_index", "cot_content"}
MEDAGENTSBENCH = "medagentsbench"
# benchmarks MedAgentsBench repackages (folder names of its data/ tree, normalized); longer names first
MEDAGENTS_BENCHMARKS = (
    "mmlu_pro",
    "medxpertqa",
    "medexqa",
    "afrimedqa",
    "medbullets",
    "medmcqa",
    "pubmedqa",
    "medqa",
    "mmlu",
)
_OPEN_QA_KEYS = {"qa_pairs", "qas", "questions", "qa"}


def is_medagentsbench(rec: dict) -> bool:
    """MedAgentsBench's packaging: ``realidx``, ``question``, ``options`` (letter -> text), ``answer_idx``."""
    k = {str(x).lower() for x in rec}
    opts = rec.get("options", rec.get("Options"))
    return {"realidx", "question", "options", "answer_idx"} <= k and isinstance(opts, dict)


def benchmark_from_path(path: Path) -> str | None:
    """The benchmark a file or folder name names (``medqa_5options`` -> medqa, ``mmlu-pro`` -> mmlu_pro)."""
    path = Path(path)
    for part in (path.name.split(".")[0], *(p.name for p in list(path.parents)[:3])):
        norm = re.sub(r"[^a-z0-9]+", "_", part.lower()).strip("_")
        for name in MEDAGENTS_BENCHMARKS:
            if norm == name or norm.startswith(name + "_") or norm.endswith("_" + name):
                return name
    return None


def benchmark_from_fields(rec: dict) -> str | None:
    """The benchmark fields only it has tell, else None."""
    rec = {str(k).lower(): v for k, v in rec.items()}
    if {"category", "src"} <= set(rec):
        return "mmlu_pro"
    opts = rec.get("options")
    values = sorted(str(v).strip().lower() for v in opts.values()) if isinstance(opts, dict) else []
    if "answer_rationale" in rec or values == ["maybe", "no", "yes"]:
        return "pubmedqa"
    if str(rec.get("meta_info") or "").lower().startswith("step"):
        return "medqa"
    return None


def medagents_benchmark(path: Path, rec: dict | None = None) -> tuple[str, str]:
    """(benchmark, how it was told: ``path`` / ``fields`` / ``unknown``) of a MedAgentsBench-packaged file."""
    name = benchmark_from_path(path)
    if name:
        return name, "path"
    rec = rec if rec is not None else _first_record(Path(path))
    name = benchmark_from_fields(rec) if rec else None
    return (name, "fields") if name else ("unknown", "unknown")


def mapping_sidecar(path: Path) -> Path:
    """``.<name>.mapping.json`` beside a file: FieldMapping keys plus optional ``source``/``language``
    (hidden, so the seed inbox does not take it for a seed file)."""
    return path.with_name(f".{path.name}.mapping.json")


def sniff_format(path: Path) -> str:
    path = Path(path)
    if mapping_sidecar(path).is_file():
        return "mapped"
    if path.suffix.lower() in _CSV_SUFFIXES or io.first_char(path) not in ("[", "{"):
        return _sniff_csv(path)
    return _sniff_json(path)


def _unknown(path: Path, what: str) -> BadRecord:
    return BadRecord(f"unrecognized seed file format: {path.name} ({what})")


def _sniff_csv(path: Path) -> str:
    rows = [u.value for u in islice((u for u in io.csv_units(path, header=False) if u.value), 2)]
    if not rows:
        raise _unknown(path, "no readable CSV row")
    head = [io.text(c).lower() for c in rows[0]]
    keys = set(head)
    if {"opa", "cop"} <= keys:
        return "medmcqa"
    if {"op1", "cop"} <= keys:
        return "careqa"
    if "opa" in keys and keys & {"answer_idx", "answer"}:
        return "medbullets"
    if {"question", "options", "answer"} <= keys:
        return "jmed" if "department" in keys else "cmexam"
    if {"question", "a", "b", "c", "d", "answer"} <= keys:
        chinese = len(rows) > 1 and detect_language(" ".join(map(io.text, rows[1]))) == "zh"
        return "cmmlu" if head[0] == "" or chinese else "mmlu_csv"
    if len(head) == 6 and re.fullmatch(r"[a-u]", head[5]):
        return "mmlu_csv"
    raise _unknown(path, f"CSV header/first row {rows[0][:8]!r}")


def _first_record(path: Path) -> dict | None:
    if path.suffix.lower() == ".jsonl" or io._looks_like_jsonl(path):
        return next((u.value for u in io.jsonl_units(path) if u.value), None)
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        try:
            entry = next(io._JsonStream(fh).entries(), None)
        except ValueError:
            return None
    if entry is None:
        return None
    if isinstance(entry[1], str) and entry[1].lower() in ("yes", "no", "maybe"):
        raise BadRecord(
            f"{path.name} is a PubMedQA split-id file (id -> decision), not a question file: "
            "pass it to load_pubmedqa as split_ids_file"
        )
    return entry[1] if isinstance(entry[1], dict) else None


def _sniff_json(path: Path) -> str:
    rec = _first_record(path)
    if rec is None:
        raise _unknown(path, "no JSON object record")
    rec = {str(k).lower(): v for k, v in rec.items()}
    k = set(rec)
    opts = rec.get("options") if rec.get("options") is not None else rec.get("choices")
    n_opts = len(opts) if isinstance(opts, (dict, list)) else 0
    if "question" in k and ("contexts" in k or {"context", "final_decision"} <= k):
        return "pubmedqa"
    if {"opa", "cop"} <= k:
        return "medmcqa"
    if {"op1", "cop"} <= k:
        return "careqa"
    if {"department", "options"} <= k or n_opts > 10:
        return "jmed"
    if {"opa", "answer_idx"} <= k:
        return "medbullets"
    if is_medagentsbench(rec):
        return MEDAGENTSBENCH
    if "question" in k and ("options" in k or "choices" in k):
        if k & _MMLU_PRO_KEYS or n_opts > 5:
            return "mmlu_pro"
        return "mmlu_json" if "options" not in k else "medqa_jsonl"
    if k & _OPEN_QA_KEYS or ("answer" in k and "question" in k):
        raise _unknown(
            path,
            f"open-ended QA (questions with free-text answers, no options; fields "
            f"{sorted(k)[:12]}): not a multiple-choice seed file",
        )
    raise _unknown(path, f"first record has fields {sorted(k)[:12]}")
