"""Evol-Instruct expansion of textbook chunks into grounded medical Q/A (plain Python, no Dagster).

The paper (CPT) turns the few, precious textbooks into many varied medical questions, WizardLM Evol-Instruct
style, so they are not drowned by the other CPT sources. Every chunk x operator is one prompt (the shared
system prompt ``evol_system`` + the operator's prompt ``evol_<operator>`` with the heading path and the chunk
text); all prompts go to the LLM in one batched call. Each generation is parsed as ``Question: ... Answer: ...``
and dropped, with a reason code, when it is ``empty``, ``unparseable`` (no question or no answer),
``refusal`` ("I cannot ...", "As an AI ...") or ``off_topic`` (no medical term shared with the chunk and
lexical overlap below ``min_overlap``), ``degenerate`` (the question or the answer fails the one degeneration
filter, ``common.degeneration``: repetition, minimum content, language), or a ``duplicate`` of a kept pair
of the same chunk.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common.llm_task import LLMTask, Reject, Reply
from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.degeneration import DEGENERATE, first_degenerate
from citrus_assets.common.text.language import detect_language
from citrus_assets.cpt_corpus.corpus.labelling import MedicalVocabularyScorer
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI
from resources.llm import Prompt, SamplingParams

KIND = "tbq"
SYSTEM_PROMPT = "evol_system"
OPERATORS = ("deepen", "concretize", "constraints", "reasoning", "broaden")
PROMPT_NAMES = (SYSTEM_PROMPT, *(f"evol_{op}" for op in OPERATORS))
DROP_REASONS = ("empty", "unparseable", "refusal", "degenerate", "off_topic", "duplicate")

QUESTION_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("chunk_id", pa.string()),
        ("heading_path", pa.string()),
        ("operator", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("finish_reason", pa.string()),
        ("shared_medical_terms", pa.int64()),
        ("lexical_overlap", pa.float64()),
        *GEN_FIELDS,
        ("cached", pa.bool_()),
    ]
)

_QMARK = re.compile(r"(?im)^[ \t>#*_-]*(?:question|q)(?:[ \t]*\d+)?[ \t]*[:.)][*_ \t]*")
_AMARK = re.compile(r"(?im)(?:[*_]{2})?\banswer[ \t]*:[*_ \t]*|^[ \t>*_-]*a[ \t]*:[*_ \t]*")
_REFUSAL_RE = re.compile(
    r"(?i)\b(?:as an ai\b|as a language model|i(?:'m| am) (?:sorry|unable|not able)|i (?:cannot|can't|can not|"
    r"won't|will not) (?:help|answer|provide|assist|write|create|do)|sorry, (?:but )?i)"
)
_WORD_RE = re.compile(r"[a-z][a-z\-]{3,}")
STOPWORDS = frozenset(
    """about above after again against also among because been before being below between both
could does doing down during each from further have having here into itself just more most other over same
should some such than that their them then there these they this those through under until very were what
when where which while will with would your answer question passage patient patients following describe""".split()
)


def operator_prompt(operator: str) -> str:
    if operator not in OPERATORS:
        raise ValueError(f"unknown evolution operator {operator!r}; expected one of {OPERATORS}")
    return f"evol_{operator}"


def evol_messages(operator: str, heading_path: str, chunk: str) -> list[dict]:
    user = load_prompt(operator_prompt(operator)).render(heading=heading_path, chunk=chunk.strip())
    return [{"role": "system", "content": load_prompt(SYSTEM_PROMPT).text}, {"role": "user", "content": user}]


def operator_prompt_hash(operator: str) -> str:
    return prompt_hash(SYSTEM_PROMPT, operator_prompt(operator))


def _clean(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().strip("*_").strip())


def parse_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) from ``Question: ... Answer: ...`` ("Q:"/"A:", markdown bold accepted; a bare
    question ending in "?" before "Answer:" too), or None. Only the first pair is kept."""
    text = text or ""
    q = _QMARK.search(text)
    a = _AMARK.search(text, q.end() if q else 0)
    if a is None:
        return None
    question = text[q.end() : a.start()] if q else text[: a.start()]
    if not q and not question.strip().endswith("?"):
        return None
    answer = text[a.end() :]
    nxt = _QMARK.search(answer)
    if nxt:
        answer = answer[: nxt.start()]
    question, answer = _clean(question), _clean(answer)
    return (question, answer) if question and answer else None


def content_words(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.lower()) if w not in STOPWORDS}


@dataclass
class TopicFilter:
    """Off-topic test: a Q/A is on topic when it shares ``min_shared_terms`` medical terms with its chunk
    (``MedicalVocabularyScorer`` vocabulary) or ``min_overlap`` of its content words occur in the chunk."""

    min_shared_terms: int = 1
    min_overlap: float = 0.3
    scorer: MedicalVocabularyScorer | None = None

    def __post_init__(self) -> None:
        self.scorer = self.scorer or MedicalVocabularyScorer()

    def measure(self, qa_text: str, chunk: str) -> tuple[int, float]:
        shared = set(self.scorer.matched_terms(qa_text)) & set(self.scorer.matched_terms(chunk))
        words = content_words(qa_text)
        overlap = len(words & content_words(chunk)) / len(words) if words else 0.0
        return len(shared), round(overlap, 4)

    def on_topic(self, shared: int, overlap: float) -> bool:
        return shared >= self.min_shared_terms or overlap >= self.min_overlap


def judge(text: str, chunk: str, topic: TopicFilter) -> tuple[str | None, str, tuple[str, str] | None, int, float]:
    """(drop reason or None, detail, (question, answer), shared terms, overlap) for one generation."""
    if not (text or "").strip():
        return "empty", "no text", None, 0, 0.0
    if _REFUSAL_RE.search(text[:300]):
        return "refusal", _REFUSAL_RE.search(text[:300]).group(0), None, 0, 0.0
    qa = parse_qa(text)
    if qa is None:
        return "unparseable", "no 'Question: ... Answer: ...' pair", None, 0, 0.0
    bad = first_degenerate(
        {"question": qa[0], "answer": qa[1]},
        kinds={"question": "question", "answer": "answer"},
        language=detect_language(chunk),
    )
    if bad:
        return DEGENERATE, f"{bad[0]} {bad[1]}", qa, 0, 0.0
    shared, overlap = topic.measure(f"{qa[0]}\n{qa[1]}", chunk)
    if not topic.on_topic(shared, overlap):
        return "off_topic", f"shared medical terms {shared}, lexical overlap {overlap}", qa, shared, overlap
    return None, "", qa, shared, overlap


@dataclass
class EvolResult:
    table: pa.Table
    rejects: list[QuarantineRecord]
    stats: dict


@dataclass
class Evolve(LLMTask):
    """Evol-Instruct as an ``LLMTask``: a row is a chunk x operator job; every sample is judged on its own."""

    name: ClassVar[str] = "textbook_questions"
    prompts: ClassVar[tuple[str, ...]] = PROMPT_NAMES
    schema: ClassVar[pa.Schema] = QUESTION_SCHEMA
    per_sample: ClassVar[bool] = True
    topic: TopicFilter = field(default_factory=TopicFilter)
    seen: set[str] = field(default_factory=set)  # record ids kept so far (duplicates)

    def template(self, row: dict) -> tuple[str, ...]:
        return (SYSTEM_PROMPT, operator_prompt(row["operator"]))

    def format_input(self, row: dict) -> Prompt:
        return evol_messages(row["operator"], row["heading_path"], row["text"])

    def format_output(self, c: dict, reply: Reply) -> dict | Reject:
        gen = reply.generation
        self.counts["uncached_tokens"] += 0 if gen.cached else gen.completion_tokens
        reason, detail, qa, shared, overlap = judge(gen.text, c["text"], self.topic)
        rid = record_id(KIND, c[RECORD_ID], c["operator"], *(qa or ("", "")))
        if reason is None and rid in self.seen:
            reason, detail = "duplicate", "the same question and answer as another operator's"
        if reason is not None:
            return Reject(f"{reason}: {detail}", raw=gen.text[:4000])
        self.seen.add(rid)
        return {
            RECORD_ID: rid,
            PARENT_IDS: [c[RECORD_ID]],
            SOURCE_URI: c[SOURCE_URI],
            SOURCE_LOCATOR: f"chunk {c[RECORD_ID]}",
            "chunk_id": c[RECORD_ID],
            "heading_path": c["heading_path"],
            "operator": c["operator"],
            "question": qa[0],
            "answer": qa[1],
            "finish_reason": gen.finish_reason,
            "shared_medical_terms": shared,
            "lexical_overlap": overlap,
        }


def evolve_chunks(
    chunks: pa.Table, llm, params: SamplingParams, operators: Sequence[str], topic: TopicFilter | None = None
) -> EvolResult:
    """Every chunk x operator in ONE batched ``llm.generate`` call; kept Q/A rows, rejects and stats."""
    ops = list(operators)
    for op in ops:
        operator_prompt(op)  # unknown operators fail before any generation
    rows = chunks.select([RECORD_ID, SOURCE_URI, "heading_path", "text"]).to_pylist()
    jobs = [{**c, SOURCE_LOCATOR: f"chunk {c[RECORD_ID]} operator {op}", "operator": op} for c in rows for op in ops]
    task = Evolve(topic=topic or TopicFilter())
    table, rejects, st = task.run(jobs, llm, params)
    kept_per_chunk = Counter(table.column("chunk_id").to_pylist())
    n_gen = st["accepted"] + st["quarantined"]
    stats = {
        "chunks": len(rows),
        "operators": ops,
        "prompts": len(jobs),
        "generations": n_gen,
        "kept": table.num_rows,
        "dropped": n_gen - table.num_rows,
        "dropped_by_reason": {r: st["rejections"].get(r, 0) for r in DROP_REASONS},
        "kept_per_chunk": {
            "mean": round(table.num_rows / len(rows), 3) if rows else 0.0,
            "chunks_without_questions": sum(1 for c in rows if not kept_per_chunk[c[RECORD_ID]]),
        },
        "kept_by_operator": dict(Counter(table.column("operator").to_pylist())),
        "generated_tokens": st["counts"].get("uncached_tokens", 0),
        "cache_hits": st["cache_hits"],
    }
    return EvolResult(table, rejects, stats)
