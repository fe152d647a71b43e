"""The one record-id scheme of the lake.

Every record of every asset carries a ``record_id`` derived from its content, so
the same content always gets the same id (re-runs, re-ordered input files) and
different content gets a different id. Ids read ``<kind>-<20 hex chars>``: the
kind is a short prefix naming what the record is (``src``, ``qseed``, ``ans``...),
the hex is an 80-bit BLAKE2b digest of the canonical JSON of the parts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from resources.canonical import canonical_json
from resources.lineage.schema import PARENT_IDS, RECORD_ID

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}-[0-9a-f]{20}$")


def content_hash(value: Any, digest_size: int = 10) -> str:
    data = value if isinstance(value, bytes) else canonical_json(value).encode("utf-8")  # the lenient mode
    return hashlib.blake2b(data, digest_size=digest_size).hexdigest()


# Every record-id prefix of the lake, with what a record of that kind is (the asset that makes it).
# record_id refuses any other prefix: a new kind of record is added here first, with its meaning.
KINDS: dict[str, str] = {
    # inputs
    "src": "one unit of an input file (a line, a page, a WARC record): source_id",
    # CPT corpus
    "pdfdoc": "a document extracted from one PDF (pdf_documents)",
    "webdoc": "a web page kept by the web curation pipeline (web_documents)",
    "tbchunk": "a heading-bounded chunk of a textbook (textbook_chunks)",
    "tbq": "a question/answer pair generated from a textbook chunk (textbook_questions)",
    "cptdoc": "a labelled CPT corpus document (cpt_documents)",
    "cptshard": "a token-budgeted shard of the CPT corpus (cpt_shards)",
    # reasoning data
    "qseed": "a seed multiple-choice question read from a benchmark file (question_seeds)",
    "ans": "a policy model's answer to a seed question, judged (judge_answers)",
    "qdiff": "a question's difficulty verdict from the judges (question_difficulty)",
    "openq": "a seed question rewritten as an open-ended question (open_questions)",
    "trace": "a dual-expert reasoning trace for a question (reasoning_traces)",
    "sft": "a first-person SFT example rewritten from a trace (sft_examples)",
    "inst": "an instruction-following chat record (instruction_examples)",
    "nonmed": "a non-medical logic/math chat record (nonmedical_reasoning)",
    "s1mix": "an example of the stage-1 SFT mix (sft_stage1_mix)",
    "s2mix": "an example of the stage-2 SFT mix (sft_stage2_mix)",
    "s3mix": "an example of the stage-3 SFT mix (sft_stage3_mix)",
    # training
    "rsample": "a sampled answer of the policy for preference data (rejection_samples)",
    "pref": "a chosen/rejected preference pair (preference_pairs)",
    "ckpt": "a model checkpoint (cpt_checkpoint, sft_stage*_checkpoint, rl_checkpoint)",
    "datacard": "the data card of a checkpoint (cpt_data_card, sft_stage*_data_card, rl_data_card)",
    # evaluation
    "evalq": "an evaluation item of a benchmark (eval_items)",
    "evalpred": "a model's prediction on an evaluation item (eval_predictions)",
    "evalscore": "a model's score on a benchmark (eval_scores)",
    "evalreport": "a row of the evaluation report (eval_report)",
    "jmeditem": "a stand-in JMED evaluation item (evaluation.standins: measuring one evaluation asset alone, never in the code location)",
    # JMED
    "dlg": "a doctor-patient dialogue read from an input file (dialogues)",
    "deid": "a de-identified dialogue (deidentified_dialogues)",
    "emr": "an electronic medical record extracted from a dialogue (emr_records)",
    "jmedq": "a question generated from an EMR (jmed_questions)",
    "jmedo": "a question with its answer options (jmed_options)",
    "jmed": "a JMED benchmark item with its human review (jmed_benchmark)",
}


def record_id(kind: str, *parts: Any) -> str:
    """Stable content-derived id: ``record_id("qseed", source, stem, options)``; ``kind`` is one of ``KINDS``."""
    if not _KIND_RE.match(kind):
        raise ValueError(f"record kind must match {_KIND_RE.pattern!r}, got {kind!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}: add it to resources.lineage.ids.KINDS with its meaning")
    if not parts:
        raise ValueError("record_id needs at least one content part")
    return f"{kind}-{content_hash(list(parts))}"


def source_id(uri: str, raw: bytes | str) -> str:
    """Id of one unit of an input file (a line, a page, a WARC record).

    Derived from the file's base name and the unit's raw content, not from its
    position, so re-ordering a file keeps ids; the position goes in the locator.
    """
    name = uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    return record_id("src", name, hashlib.sha256(raw_bytes).hexdigest())


def is_record_id(value: str) -> bool:
    return bool(ID_RE.match(value))


def keep_first_by_id(kept: dict[str, dict], row: dict) -> bool:
    """Keep ``row`` in ``kept`` (record id -> row) unless a row with its record id is kept already; a repeat only
    adds its parent ids to the kept row (an identical document from a second file). True when ``row`` was kept."""
    seen = kept.get(row[RECORD_ID])
    if seen is None:
        kept[row[RECORD_ID]] = row
        return True
    seen[PARENT_IDS] = sorted(set(seen[PARENT_IDS]) | set(row[PARENT_IDS]))
    return False
