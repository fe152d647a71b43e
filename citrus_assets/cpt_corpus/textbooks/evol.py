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
from dataclasses import dataclass

import pyarrow as pa

from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.degeneration import DEGENERATE, first_degenerate
from citrus_assets.common.text.language import detect_language
from citrus_assets.cpt_corpus.corpus.labelling import MedicalVocabularyScorer
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI, gen_columns
from resources.llm import SamplingParams

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


def evolve_chunks(
    chunks: pa.Table, llm, params: SamplingParams, operators: Sequence[str], topic: TopicFilter | None = None
) -> EvolResult:
    """Every chunk x operator in ONE batched ``llm.generate`` call; kept Q/A rows, rejects and stats."""
    topic = topic or TopicFilter()
    ops = list(operators)
    for op in ops:
        operator_prompt(op)  # unknown operators fail before any generation
    rows = chunks.select([RECORD_ID, SOURCE_URI, "heading_path", "text"]).to_pylist()
    jobs = [(c, op) for c in rows for op in ops]
    prompts = [evol_messages(op, c["heading_path"], c["text"]) for c, op in jobs]
    results = llm.generate(prompts, params) if prompts else []
    sampling = params.to_json()
    out, rejects, seen = [], [], set()
    reasons: Counter = Counter()
    kept_per_chunk: Counter = Counter()
    for (c, op), messages, gens in zip(jobs, prompts, results):
        for gen in gens:
            reason, detail, qa, shared, overlap = judge(gen.text, c["text"], topic)
            rid = record_id(KIND, c[RECORD_ID], op, *(qa or ("", "")))
            if reason is None and rid in seen:
                reason, detail = "duplicate", "the same question and answer as another operator's"
            if reason is not None:
                reasons[reason] += 1
                rejects.append(
                    QuarantineRecord(
                        c[SOURCE_URI], f"chunk {c[RECORD_ID]} operator {op}", f"{reason}: {detail}", gen.text[:4000]
                    )
                )
                continue
            seen.add(rid)
            kept_per_chunk[c[RECORD_ID]] += 1
            out.append(
                {
                    RECORD_ID: rid,
                    PARENT_IDS: [c[RECORD_ID]],
                    SOURCE_URI: c[SOURCE_URI],
                    SOURCE_LOCATOR: f"chunk {c[RECORD_ID]}",
                    "chunk_id": c[RECORD_ID],
                    "heading_path": c["heading_path"],
                    "operator": op,
                    "question": qa[0],
                    "answer": qa[1],
                    "prompt": llm.render(messages),
                    "response": gen.text,
                    "finish_reason": gen.finish_reason,
                    "shared_medical_terms": shared,
                    "lexical_overlap": overlap,
                    **gen_columns(
                        llm,
                        template=f"{SYSTEM_PROMPT}+{operator_prompt(op)}",
                        prompt_hash=operator_prompt_hash(op),
                        sampling=sampling,
                        prompt_tokens=gen.prompt_tokens,
                        completion_tokens=gen.completion_tokens,
                    ),
                    "cached": gen.cached,
                }
            )
    n_gen = sum(len(g) for g in results)
    stats = {
        "chunks": len(rows),
        "operators": list(ops),
        "prompts": len(prompts),
        "generations": n_gen,
        "kept": len(out),
        "dropped": n_gen - len(out),
        "dropped_by_reason": {r: reasons.get(r, 0) for r in DROP_REASONS},
        "kept_per_chunk": {
            "mean": round(len(out) / len(rows), 3) if rows else 0.0,
            "chunks_without_questions": sum(1 for c in rows if not kept_per_chunk[c[RECORD_ID]]),
        },
        "kept_by_operator": dict(Counter(r["operator"] for r in out)),
        "generated_tokens": sum(g.completion_tokens for gs in results for g in gs if not g.cached),
        "cache_hits": sum(1 for gs in results for g in gs if g.cached),
    }
    return EvolResult(pa.Table.from_pylist(out, schema=QUESTION_SCHEMA), rejects, stats)
