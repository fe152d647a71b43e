"""Non-medical problems for the RL mix (paper: 45K medical + 5K non-medical pairs) and their answer rule.

Source: a folder of JSONL files -- by default the one the SFT mix reads
(``reasoning_data.mixes.nonmedical.nonmedical_dir``: ``$CITRUS_NONMEDICAL_DIR``, else ``sample/reasoning``).
Unlike the SFT loader, no ``solution`` is needed, and a chat row must state its answer in an
``<answer>`` block (no guessing from the last line: the answer is the reward's ground truth).
Each line is either
- ``{"problem": ..., "answer": ...}`` (``question`` for ``problem``; ``ground_truth``/``final_answer``
  for ``answer``), or
- a chat row ``{"messages": [..., {"role": "user", ...}, {"role": "assistant", ...}]}``: the problem
  is the last user turn, the answer the content of the assistant turn's last ``<answer>`` block (or
  an ``answer`` field next to ``messages``).
A line's worked solution (``solution`` field, or the chat row's assistant turn) is kept as the problem's
*reference* answer, which ``preference_pairs`` may use as the chosen response (``reference_chosen``).
Rows marked ``"category": "medical"`` (or ``domain``) are skipped (counted); rows that give no problem
or no answer are quarantined with the reason.

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

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from citrus_assets.common.answers import answer_span
from citrus_assets.common.reasoning_format import is_think_answer, think_answer
from resources.lake import QuarantineRecord
from resources.lineage.ids import source_id

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
    record_id: str  # the source id of the input line
    source_uri: str
    source_locator: str
    problem: str
    answer: str
    reference: str = ""  # a worked solution as ``<think>…</think><answer>…</answer>`` ("" when the line has none)


@dataclass
class ProblemSet:
    problems: list[Problem] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    skipped_medical: int = 0
    available: int = 0  # problems found before the share was picked
    files: list[str] = field(default_factory=list)


class _Bad(ValueError):
    pass


def _reference(obj: dict, answer: str) -> str:
    """The line's worked solution in the reasoning format: ``solution`` + ``answer`` fields, or the chat
    row's assistant turn when it has an ``<answer>`` block ("" otherwise)."""
    solution = obj.get("solution")
    if isinstance(solution, str) and solution.strip():
        return think_answer(solution, answer)
    if isinstance(obj.get("messages"), list):
        turns = [m["content"] for m in obj["messages"]
                 if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str)]
        if turns and is_think_answer(turns[-1]):
            return turns[-1].strip()
    return ""


def _parse(obj: dict) -> tuple[str, str]:
    if not isinstance(obj, dict):
        raise _Bad("line is not a JSON object")
    answer = next((obj[k] for k in ("answer", "ground_truth", "final_answer") if isinstance(obj.get(k), str)), "")
    if isinstance(obj.get("messages"), list):
        msgs = [m for m in obj["messages"] if isinstance(m, dict) and isinstance(m.get("content"), str)]
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        if not users:
            raise _Bad("messages row without a user turn")
        problem = users[-1]
        if not answer:
            assistant = [m["content"] for m in msgs if m.get("role") == "assistant"]
            if assistant and re.search(r"<answer>", assistant[-1], re.IGNORECASE):
                answer = answer_span(assistant[-1])
    else:
        problem = next((obj[k] for k in ("problem", "question") if isinstance(obj.get(k), str)), "")
    if not problem.strip():
        raise _Bad("no problem text")
    if not normalize_answer(answer):
        raise _Bad("no verifiable answer (no answer field, no <answer> block)")
    return problem.strip(), answer.strip()


def load_problems(folder: str | Path, pattern: str = "*.jsonl") -> ProblemSet:
    """Every problem of the JSONL files matching ``pattern`` in ``folder`` (sorted by file, then line)."""
    out = ProblemSet()
    root = Path(folder)
    if not root.is_dir():
        return out
    seen: set[str] = set()
    for path in sorted(root.glob(pattern)):
        out.files.append(path.name)
        for n, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if not raw.strip():
                continue
            loc = f"line {n}"
            try:
                obj = json.loads(raw)
                if isinstance(obj, dict) and str(obj.get("category") or obj.get("domain") or "").lower() == "medical":
                    out.skipped_medical += 1
                    continue
                problem, answer = _parse(obj)
            except (ValueError, _Bad) as e:
                reason = str(e) if isinstance(e, _Bad) else f"invalid JSON: {e}"
                out.quarantine.append(QuarantineRecord(str(path), loc, reason, raw.decode("utf-8", "replace")[:2000]))
                continue
            rid = source_id(str(path), raw)
            if rid in seen:
                continue
            seen.add(rid)
            out.problems.append(Problem(rid, str(path), loc, problem, answer, _reference(obj, answer)))
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
