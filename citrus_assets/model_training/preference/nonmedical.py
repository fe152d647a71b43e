"""Non-medical problems for the RL mix (paper: 45K medical + 5K non-medical pairs) and their answer rule.

Source: the ``nonmedical_reasoning`` asset (``reasoning_data/mixes/nonmedical_assets.py``), the same records
the SFT stage-3 mix reads, each citing its file and line; that asset quarantines the folder's bad lines.
A record becomes a problem when it *states* its answer (the asset's ``answer`` column: an ``answer`` field,
or the ``<answer>`` block its chat row already had; "" when the answer was only inferred from the last line,
no guessing: the answer is the reward's ground truth); the others are counted (``unanswered``). The
problem is the last user turn; the record's worked solution (its assistant turn, ``<think>…</think><answer>…
</answer>``) is kept as the *reference* answer, which ``preference_pairs`` may use as the chosen response
(``reference_chosen``). The problem's id is the record's id: samples cite it as their parent, so lineage goes
sample -> ``nonmedical_reasoning`` record -> file and line.

Answer rule (free-text answers, no options): the model's answer span (``common.answers.answer_span``:
the last ``<answer>`` block) and the ground truth are *normalized* -- ``\\boxed{x}`` unwrapped, ``$``
and ``\\text{}`` removed, case folded, whitespace collapsed, surrounding quotes/punctuation and a
leading ``x =``/"the answer is" dropped -- then the answer is correct if
1. the normalized strings are equal (method ``exact``), or
2. both parse as numbers (thousands commas, a trailing ``%``, fractions ``a/b``) and are equal to a
   relative tolerance of 1e-6 (method ``numeric``: "0.50" = "1/2" = ".5").
Anything else is wrong (``none``). No containment, no partial credit: a wrong answer that mentions the
right one is wrong.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from citrus_assets.common.text.reasoning_format import is_think_answer
from resources.lake import QuarantineRecord

_BOXED = re.compile(r"\\boxed\s*\{(.*)\}", re.DOTALL)
_TEXT = re.compile(r"\\(?:text|mathrm|textbf)\s*\{([^{}]*)\}")
_LEAD = re.compile(r"^(?:the\s+(?:final\s+)?answer\s+is|answer\s*:|[a-z]\s*=)\s*", re.IGNORECASE)
_STRIP = " \t\n.,;:!?\"'`“”‘’()[]"
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$", re.IGNORECASE)


def normalize_answer(text: str) -> str:
    s = (text or "").strip()
    m = _BOXED.search(s)
    if m:
        s = m.group(1)
    s = _TEXT.sub(r"\1", s).replace("$", "")
    s = re.sub(r"\s+", " ", s).strip().casefold()
    s = _LEAD.sub("", s).strip(_STRIP)
    return s


def parse_number(text: str) -> Fraction | None:
    s = normalize_answer(text).replace(" ", "")
    s = re.sub(r"(?<=\d),(?=\d{3}(?:\D|$))", "", s)
    if s.endswith("%"):
        s = s[:-1]
    if "/" in s:
        num, _, den = s.partition("/")
        if _NUMBER.match(num) and _NUMBER.match(den) and float(den) != 0:
            return Fraction(num) / Fraction(den)
        return None
    if _NUMBER.match(s):
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return None
    return None


def free_answer_matches(predicted: str, truth: str) -> tuple[bool, str]:
    """(correct, method) of a free-text answer span against the ground truth (rule in the module doc)."""
    p, t = normalize_answer(predicted), normalize_answer(truth)
    if not p or not t:
        return False, "none"
    if p == t:
        return True, "exact"
    a, b = parse_number(predicted), parse_number(truth)
    if a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12):
        return True, "numeric"
    return False, "none"


@dataclass(frozen=True)
class Problem:
    record_id: str  # the nonmedical_reasoning record it comes from
    source_uri: str
    source_locator: str
    problem: str
    answer: str
    reference: str = ""  # a worked solution as ``<think>…</think><answer>…</answer>`` ("" when there is none)


@dataclass
class ProblemSet:
    problems: list[Problem] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    unanswered: int = 0  # records without a stated answer: not RL problems
    available: int = 0  # problems found before the share was picked
    files: list[str] = field(default_factory=list)


def problems_from_rows(rows: list[dict], pattern: str = "*") -> ProblemSet:
    """The RL problems of ``nonmedical_reasoning`` rows whose file name matches ``pattern``, in row order."""
    out = ProblemSet()
    for row in rows:
        name = Path(row.get("source_uri") or "").name
        if not fnmatch.fnmatch(name, pattern):
            continue
        if name not in out.files:
            out.files.append(name)
        messages = row.get("messages") or []
        users = [m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
        assistant = [
            m["content"] for m in messages if m.get("role") == "assistant" and isinstance(m.get("content"), str)
        ]
        answer = (row.get("answer") or "").strip()
        if not users or not users[-1].strip() or not normalize_answer(answer):
            out.unanswered += 1
            continue
        reference = assistant[-1].strip() if assistant and is_think_answer(assistant[-1]) else ""
        out.problems.append(
            Problem(
                row["record_id"],
                row.get("source_uri") or "",
                row.get("source_locator") or "",
                users[-1].strip(),
                answer,
                reference,
            )
        )
    return out


def share_count(n_medical: int, share: float) -> int:
    """How many non-medical items make them ``share`` of the whole: round(share / (1 - share) * n_medical)."""
    if share <= 0 or n_medical <= 0:
        return 0
    if share >= 1:
        raise ValueError(f"nonmedical_share must be < 1, got {share}")
    return int(math.floor(share / (1.0 - share) * n_medical + 0.5))


def pick(items: list, key, k: int, salt: str) -> list:
    """``k`` items chosen by a seeded hash of ``salt`` and each item's key (stable, order-independent)."""
    ranked = sorted(items, key=lambda x: hashlib.sha256(f"{salt}:{key(x)}".encode()).hexdigest())
    return ranked[: max(0, k)]
