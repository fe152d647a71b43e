"""Ground-truth leakage: the one list of give-away phrases and the checks that use it.

Two different leaks matter for synthesized reasoning:

* A *process* leak: a training trace that reveals it was written with help — it mentions a
  reviewer, expert feedback, a given/reference answer or the "ground truth". Such a trace teaches
  the model to expect an answer key. :data:`PROCESS_LEAK_PHRASES` lists them (English and Chinese);
  :func:`find_process_leaks` finds them in a text.
* An *answer* leak: a message that must steer without naming the answer (the reflection expert's
  feedback) names it anyway, by quoting the ground-truth text or by an answer-revealing phrase
  ("the correct answer is ..."). :func:`redact_answer_leaks` removes every sentence that does so and
  records what it removed.

Matching is case-insensitive on whitespace-normalised text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Phrases that reveal the trace was produced with an answer key or a second expert.
PROCESS_LEAK_PHRASES: tuple[str, ...] = (
    "ground truth",
    "ground-truth",
    "the correct answer is given",
    "the given answer",
    "given answer",
    "answer key",
    "reference answer",
    "the provided answer",
    "the expected answer",
    "i was told",
    "i've been told",
    "i have been told",
    "reviewer",
    "reflection expert",
    "reasoning expert",
    "expert feedback",
    "feedback says",
    "according to the feedback",
    "the feedback i received",
    "received feedback",
    "as instructed",
    "标准答案",
    "参考答案",
    "正确答案已给出",
    "给定答案",
    "题目给出的答案",
    "专家反馈",
    "根据反馈",
    "审阅者",
    "评审专家",
)

# Phrases that announce an answer; in steering feedback they are a leak even without the answer text.
ANSWER_REVEAL_PHRASES: tuple[str, ...] = (
    "the correct answer is",
    "the right answer is",
    "the answer is",
    "correct diagnosis is",
    "the diagnosis is",
    "final answer",
    "ground truth",
    "ground-truth",
    "答案是",
    "正确答案",
    "诊断是",
)

REDACTED = "[redacted]"
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*\n?|\n")


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip().casefold()


def _found(text: str, phrases: Iterable[str]) -> list[str]:
    t = normalize(text)
    return [p for p in phrases if p and normalize(p) in t]


def find_process_leaks(text: str, extra: Sequence[str] = ()) -> list[str]:
    """The process-leak phrases present in ``text`` (empty when clean)."""
    return _found(text, (*PROCESS_LEAK_PHRASES, *extra))


def answer_texts(ground_truth: str, min_chars: int = 3) -> list[str]:
    """The ground truth's answer texts ("; "-joined for several correct options), too-short ones left out."""
    return [t.strip() for t in (ground_truth or "").split(";") if len(t.strip()) >= min_chars]


def find_answer_leaks(text: str, ground_truth: str) -> list[str]:
    """What in ``text`` names the answer: the ground-truth text(s) and answer-revealing phrases."""
    return _found(text, answer_texts(ground_truth)) + _found(text, (*ANSWER_REVEAL_PHRASES, *PROCESS_LEAK_PHRASES))


@dataclass(frozen=True)
class Redaction:
    text: str  # the sanitized text
    leaks: tuple[str, ...] = field(default=())  # what was found (empty: nothing redacted)

    @property
    def redacted(self) -> bool:
        return bool(self.leaks)


def redact_answer_leaks(text: str, ground_truth: str) -> Redaction:
    """Replace every sentence of ``text`` that names the answer by ``[redacted]``; record the leaks."""
    leaks = find_answer_leaks(text, ground_truth)
    if not leaks:
        return Redaction(text or "")
    out = []
    for sentence in _SENTENCE.findall(text):
        if sentence.strip() and find_answer_leaks(sentence, ground_truth):
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            out.append(lead + REDACTED + ("\n" if sentence.endswith("\n") else " "))
        else:
            out.append(sentence)
    clean = re.sub(r"(?:\[redacted\]\s*)+", REDACTED + " ", "".join(out)).strip()
    # Belt and braces: anything a sentence split could not isolate goes as well.
    for t in answer_texts(ground_truth):
        clean = re.sub(re.escape(t), REDACTED, clean, flags=re.IGNORECASE)
    return Redaction(clean, tuple(dict.fromkeys(leaks)))
