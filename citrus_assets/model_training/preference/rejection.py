"""Rejection sampling (paper RL stage): n samples per open question from the stage-3 model, each
rewarded by a rule (answer correct vs the ground truth; no neural reward model).

Prompt: the Citrus expert system line (``citrus_system``) and ``citrus_open_user`` (the question in
``<Question>`` tags, the ``<think>``/``<answer>`` format). Every prompt of a partition goes to the
model in ONE batched ``llm.generate(prompts, SamplingParams(n=...))`` call; the request cache makes
re-runs free. Rewards:
- medical open questions: the last ``<answer>`` block is read by the project's one answer parser
  (``common.answers.extract_answer`` with the question's hidden options -- an answer naming an
  option's text counts; a bare letter does not, as the model never saw the options or their letters)
  and scored by ``is_correct`` against ``answer_letters``;
- non-medical problems: ``nonmedical.free_answer_matches`` (normalized exact / numeric equality).
Each row also carries its question's *reference* response when one exists and passes the same rule
(medical: a verified ``sft_examples`` trace of the question; non-medical: the line's worked solution);
``preference_pairs`` may use it as the chosen response when no sample is correct (``reference_chosen``).
Questions that cannot be verified (no options or no answer letters) are returned apart, to be
quarantined with the reason; they are never sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common.llm_task import LLMTask, Reply
from citrus_assets.common.prompts import load_prompt
from citrus_assets.common.text.answers import answer_span, extract_answer, is_correct
from citrus_assets.model_training.preference.nonmedical import Problem, free_answer_matches
from citrus_assets.model_training.schemas import REJECTION_SAMPLE_SCHEMA
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID
from resources.llm import Prompt, SamplingParams

SYSTEM_PROMPT = "citrus_system"
USER_PROMPT = "citrus_open_user"
MEDICAL, NONMEDICAL = "medical", "nonmedical"
CATEGORIES = (MEDICAL, NONMEDICAL)


def open_messages(question: str) -> list[dict]:
    """The Citrus open-ended prompt as chat messages (the question is always inside)."""
    return [
        {"role": "system", "content": load_prompt(SYSTEM_PROMPT).text},
        {"role": "user", "content": load_prompt(USER_PROMPT).render(question=question.strip())},
    ]


@dataclass(frozen=True)
class Item:
    """One question to sample: a medical open question or a non-medical problem."""

    parent_id: str  # open-question record id / source id of the non-medical line
    question_id: str
    category: str
    language: str
    question: str
    ground_truth: str
    answer_letters: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # (letter, text)
    source_uri: str | None = None
    source_locator: str | None = None
    reference: str = ""  # a verified reference response (medical: an sft_examples trace; non-medical: the solution)
    reference_id: str = ""  # its record id (sft example id / the non-medical source id)

    def checked_reference(self) -> tuple[str, str]:
        """(reference, its id) when the reference passes the same answer rule as a sample, else ("", "")."""
        if self.reference and self.score(self.reference)[3]:
            return self.reference, self.reference_id
        return "", ""

    def score(self, response: str) -> tuple[str, tuple[str, ...], str, bool]:
        """(answer span, extracted letters, method, correct) of one response."""
        span = answer_span(response)
        if self.category == MEDICAL:
            parsed = extract_answer(response, dict(self.options))
            ok = parsed.method == "option_text" and is_correct(parsed.letters, self.answer_letters)
            return span, parsed.letters, parsed.method, ok
        ok, method = free_answer_matches(span, self.ground_truth)
        return span, (), method, ok


@dataclass
class Items:
    items: list[Item] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)


def sft_references(sft_examples: pa.Table | None) -> dict[str, tuple[str, str]]:
    """open-question id -> (reference response, sft example id): the first verified first-person trace
    (by record id, so the choice is deterministic) of each question."""
    out: dict[str, tuple[str, str]] = {}
    if sft_examples is None or not sft_examples.num_rows:
        return out
    for r in sorted(sft_examples.to_pylist(), key=lambda r: r[RECORD_ID]):
        if r.get("response") and r.get("question_id") not in out:
            out[r["question_id"]] = (r["response"], r[RECORD_ID])
    return out


def medical_items(
    open_questions: pa.Table, source: str = "open_questions", references: dict[str, tuple[str, str]] | None = None
) -> Items:
    """Items for the open questions; unverifiable ones (no options / answer letters) go to quarantine.
    ``references`` (from :func:`sft_references`) attaches each question's verified trace, if any."""
    out = Items()
    references = references or {}
    for r in open_questions.to_pylist():
        options = tuple((o["letter"], o["text"]) for o in (r.get("options") or []))
        letters = tuple(r.get("answer_letters") or ())
        question = (r.get("open_question") or "").strip()
        reason = (
            "empty open question"
            if not question
            else "no options to verify the answer against"
            if not options
            else "no answer letters"
            if not letters
            else "answer letters not among the options"
            if not set(letters) <= {letter for letter, _ in options}
            else ""
        )
        if reason:
            out.quarantine.append(QuarantineRecord(source, r[RECORD_ID], reason, repr(r)[:2000]))
            continue
        ref, ref_id = references.get(r[RECORD_ID], ("", ""))
        out.items.append(
            Item(
                r[RECORD_ID],
                r.get("question_id") or r[RECORD_ID],
                MEDICAL,
                r.get("language") or "und",
                question,
                r.get("ground_truth") or "",
                letters,
                options,
                reference=ref,
                reference_id=ref_id,
            )
        )
    return out


def nonmedical_items(problems: Sequence[Problem]) -> list[Item]:
    """Items of ``nonmedical_reasoning`` records: the record is the samples' parent (and cites the file and
    line), so the samples carry no source_uri of their own, like the medical ones."""
    return [
        Item(
            p.record_id,
            p.record_id,
            NONMEDICAL,
            "und",
            p.problem,
            p.answer,
            (),
            (),
            reference=p.reference,
            reference_id=p.record_id if p.reference else "",
        )
        for p in problems
    ]


@dataclass
class SampleItems(LLMTask):
    """Rejection sampling as an ``LLMTask``: every sample of every item is a row, rewarded by the rule."""

    name: ClassVar[str] = "rejection_samples"
    prompts: ClassVar[tuple[str, ...]] = (SYSTEM_PROMPT, USER_PROMPT)
    schema: ClassVar[pa.Schema] = REJECTION_SAMPLE_SCHEMA
    per_sample: ClassVar[bool] = True

    def format_input(self, row: dict) -> Prompt:
        return open_messages(row["item"].question)

    def format_output(self, row: dict, reply: Reply) -> dict:
        it: Item = row["item"]
        span, letters, method, ok = it.score(reply.text)
        reference, reference_id = it.checked_reference()
        return {
            RECORD_ID: record_id(
                "rsample", it.parent_id, reply.model_id, reply.model_revision, reply.sampling, reply.index, reply.text
            ),
            PARENT_IDS: [it.parent_id],
            "source_uri": it.source_uri,
            "source_locator": it.source_locator,
            "question_id": it.question_id,
            "category": it.category,
            "language": it.language,
            "question": it.question,
            "ground_truth": it.ground_truth,
            "answer_letters": list(it.answer_letters),
            "options": [{"letter": letter, "text": t} for letter, t in it.options],
            "sample_index": reply.index,
            "prompt_messages": self.format_input(row),
            "finish_reason": reply.generation.finish_reason,
            "predicted": span,
            "extracted_letters": list(letters),
            "extraction": method,
            "reward": 1.0 if ok else 0.0,
            "reference": reference,
            "reference_id": reference_id,
        }


def sample_items(items: Sequence[Item], llm, params: SamplingParams) -> pa.Table:
    """``params.n`` rewarded samples per item, in ONE batched generate call (REJECTION_SAMPLE_SCHEMA)."""
    return SampleItems().run([{RECORD_ID: it.parent_id, "item": it} for it in items], llm, params).table


def rescore(row: dict) -> bool:
    """Re-check one stored sample row by the rule (what the pair checks use)."""
    it = Item(
        row[PARENT_IDS][0] if row.get(PARENT_IDS) else "",
        row.get("question_id") or "",
        row["category"],
        row.get("language") or "",
        row.get("question") or "",
        row.get("ground_truth") or "",
        tuple(row.get("answer_letters") or ()),
        tuple((o["letter"], o["text"]) for o in row.get("options") or []),
    )
    return it.score(row.get("response") or "")[3]
