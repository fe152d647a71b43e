"""Easy/hard labels of question seeds from the judge panel's closed-form answers.

Correctness is re-derived from each stored response with the project's one answer parser
(``citrus_assets.common.text.answers``, option-count aware, A-U) against the seed's answer letters.
Rules (``rule``):

- ``all_correct`` (the paper's): easy iff every judge of the panel answered it correctly;
- ``any_correct``: easy iff at least one judge did;
- ``min_correct``: easy iff at least ``min_correct`` judges did;
- ``strong_vs_weak``: easy iff every judge named in ``weak_judges`` did; the other (strong)
  judges are only reported (how often they solve the items the weak ones miss).

A judge "of the panel" is one that appears anywhere in the answers table. A judge that has no
answer row for a seed counts as not correct. A seed without any judge answer is labelled hard
with empty ``judges``/``judges_correct``; these are counted as ``unjudged`` in the metadata, with
their ids (the reason: no judge answered them, e.g. they were added after ``judge_answers`` ran).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from citrus_assets.common.text.answers import extract_answer, is_correct
from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, EASY, HARD
from resources.lake import input_tables
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID

RULES = ("all_correct", "any_correct", "min_correct", "strong_vs_weak")
# The only columns the labels read: the step reads just these of its inputs (memory flat in partition size).
SEED_COLUMNS = [RECORD_ID, "options", "answer_letters"]
ANSWER_COLUMNS = [RECORD_ID, "question_id", "judge", "response"]


@dataclass
class DifficultyResult:
    rows: list[dict] = field(default_factory=list)
    judges: list[str] = field(default_factory=list)
    per_judge: dict = field(default_factory=dict)  # name -> {n, correct, no_answer, accuracy}
    unjudged: list[str] = field(default_factory=list)
    answers_without_seed: int = 0
    strong_correct_on_hard: int = 0

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=DIFFICULTY_SCHEMA)

    def counts(self) -> dict[str, int]:
        return {
            EASY: sum(r["difficulty"] == EASY for r in self.rows),
            HARD: sum(r["difficulty"] == HARD for r in self.rows),
        }


def _decide(rule: str, correct: dict[str, bool], panel: Sequence[str], weak: Sequence[str], min_correct: int) -> bool:
    """True = easy. ``correct`` holds the judges that answered; missing panel judges count as wrong."""
    votes = [correct.get(j, False) for j in panel]
    if rule == "all_correct":
        return all(votes)
    if rule == "any_correct":
        return any(votes)
    if rule == "min_correct":
        return sum(votes) >= min_correct
    return all(correct.get(j, False) for j in weak)


def _seed_rows(seeds: object) -> tuple[set[str], Iterator[dict]]:
    """(the seed ids, the seed rows in order, one per id): the rows are read batch by batch from a batched input
    (``resources.lake.input_tables``), so only one batch of seeds is Python at a time. Ids that repeat (never from
    the seed loader) keep the first position and the last row, as a dict by id does."""
    ids = [i for t in input_tables(seeds, [RECORD_ID]) for i in t.column(RECORD_ID).to_pylist()]
    known = set(ids)
    if len(known) != len(ids):
        whole = {r[RECORD_ID]: r for t in input_tables(seeds, SEED_COLUMNS) for r in t.to_pylist()}
        return known, iter(whole.values())
    return known, (r for t in input_tables(seeds, SEED_COLUMNS) for r in t.to_pylist())


def label_difficulty(
    seeds: object, answers: object, rule: str = "all_correct", weak_judges: Sequence[str] = (), min_correct: int = 1
) -> DifficultyResult:
    """Easy/hard per seed. ``seeds`` and ``answers`` are tables or batched inputs (``resources.lake.input_tables``);
    only ``SEED_COLUMNS`` and ``ANSWER_COLUMNS`` are read, and the seeds one batch at a time."""
    if rule not in RULES:
        raise ValueError(f"unknown difficulty rule {rule!r}; one of {RULES}")
    if rule == "min_correct" and min_correct < 1:
        raise ValueError("min_correct must be >= 1")
    out = DifficultyResult()
    seed_ids, seed_rows = _seed_rows(seeds)
    by_question: dict[str, list[dict]] = {}
    for a in (a for t in input_tables(answers, ANSWER_COLUMNS) for a in t.to_pylist()):
        if a["question_id"] not in seed_ids:
            out.answers_without_seed += 1
            continue
        by_question.setdefault(a["question_id"], []).append(a)
        if a["judge"] not in out.judges:
            out.judges.append(a["judge"])
    panel = sorted(out.judges)
    weak = list(weak_judges)
    if rule == "strong_vs_weak":
        if not weak:
            raise ValueError("rule strong_vs_weak needs weak_judges (the names of the weak judges)")
        unknown = [w for w in weak if w not in panel]
        if panel and unknown:
            raise ValueError(f"weak judges {unknown} are not among the judges that answered: {panel}")
    strong = [j for j in panel if j not in weak]
    stats = {j: {"n": 0, "correct": 0, "no_answer": 0} for j in panel}

    for seed in seed_rows:
        qid = seed[RECORD_ID]
        options = {o["letter"]: o["text"] for o in seed["options"]}
        correct: dict[str, bool] = {}
        ids: dict[str, str] = {}
        for a in sorted(by_question.get(qid, []), key=lambda a: (a["judge"], a[RECORD_ID])):
            if a["judge"] in correct:  # one vote per judge (the first by id if a judge answered twice)
                continue
            parsed = extract_answer(a["response"] or "", options)
            correct[a["judge"]] = is_correct(parsed.letters, seed["answer_letters"])
            ids[a["judge"]] = a[RECORD_ID]
            s = stats[a["judge"]]
            s["n"] += 1
            s["correct"] += correct[a["judge"]]
            s["no_answer"] += not parsed.letters
        if not correct:
            out.unjudged.append(qid)
            easy = False
        else:
            easy = _decide(rule, correct, panel, weak, min_correct)
        if not easy and rule == "strong_vs_weak" and any(correct.get(j, False) for j in strong):
            out.strong_correct_on_hard += 1
        judges = sorted(correct)
        flags = [correct[j] for j in judges]
        params = [
            rule,
            min_correct if rule == "min_correct" else None,
            sorted(weak) if rule == "strong_vs_weak" else None,
        ]
        out.rows.append(
            {
                RECORD_ID: record_id("qdiff", qid, params, judges, flags),
                PARENT_IDS: [qid, *(ids[j] for j in judges)],
                "question_id": qid,
                "difficulty": EASY if easy else HARD,
                "rule": rule,
                "judges": judges,
                "judges_correct": flags,
            }
        )
    for s in stats.values():
        s["accuracy"] = round(s["correct"] / s["n"], 4) if s["n"] else 0.0
    out.per_judge = stats
    return out
