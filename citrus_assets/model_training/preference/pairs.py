"""Preference pairs <prompt, chosen, rejected> from rewarded rejection samples (paper RL stage).

Per question, the samples split into correct (reward 1) and incorrect (reward 0). A question whose
samples are all correct or all incorrect gives no pair (counted as ``all_correct`` / ``none_correct``).
Otherwise the selection rule orders both lists and pairs them, best first:

- ``longest_correct_vs_most_confident_wrong`` (default): chosen = the longest correct response;
  rejected = a response carrying the *most confident* wrong answer, i.e. the wrong answer given by
  the most samples of that question (answers compared as extracted letters for medical questions,
  as normalized answer spans for non-medical ones; a sample with no answer at all ranks after every
  real wrong answer; ties: the answer seen first). Length = completion tokens, then characters.
- ``shortest_correct_vs_longest_wrong``: chosen = the shortest correct, rejected = the longest wrong.

Only correct samples that pass the one degeneration filter (``common.degeneration``) can be chosen; the
others are counted (``degenerate_correct``) and a question whose correct samples are all degenerate is
not paired.
- ``random``: both lists shuffled by a generator seeded with (``seed``, question id).

Reference-chosen (``reference_chosen=True``; off by default, the paper pairs only the model's own
samples): a question whose samples are all wrong but that has a verified *reference* response (the
``reference`` column of ``rejection_samples``: a verified ``sft_examples`` trace, or a non-medical
problem's worked solution) is paired as reference (chosen) vs its best wrong sample (``chosen_origin`` =
``"reference"``, counted as ``reference_pairs``). This is off-policy data; it is what lets a model too
small to solve anything (the main job's 135M model) still produce pairs.

Ties always fall back to the sample index, so the result is deterministic. With
``max_pairs_per_question`` = k > 1, the first k (correct rank i, wrong rank j) combinations are taken
in the order of max(i, j), then distinct-rank pairs (i = j) first -- (0,0), (1,1), (0,1), (1,0),
(2,2)... -- so every pair is a different (chosen, rejected) combination.

Rows follow ``PREFERENCE_SCHEMA``: conversational ``prompt`` ([system, user] as sent, the question
inside), ``chosen``/``rejected`` ([assistant]), ``prompt_text`` (the rendered prompt) -- the columns
TRL's CPO trainer reads.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow as pa

from citrus_assets.common.text.degeneration import degeneration_reason
from citrus_assets.model_training.preference.nonmedical import normalize_answer, pick, share_count
from citrus_assets.model_training.preference.rejection import CATEGORIES, MEDICAL, NONMEDICAL
from citrus_assets.model_training.schemas import PREFERENCE_SCHEMA
from resources.lineage.ids import record_id
from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID

LONGEST_VS_CONFIDENT = "longest_correct_vs_most_confident_wrong"
SHORTEST_VS_LONGEST = "shortest_correct_vs_longest_wrong"
RANDOM = "random"
SELECTION_RULES = (LONGEST_VS_CONFIDENT, SHORTEST_VS_LONGEST, RANDOM)
SAMPLE, REFERENCE = "sample", "reference"
ORIGINS = (SAMPLE, REFERENCE)


def _length(s: dict) -> tuple[int, int]:
    return (int(s.get("gen_completion_tokens") or 0), len(s.get("response") or ""))


def _answer_key(s: dict) -> str:
    if s["category"] == MEDICAL:
        return ",".join(s.get("extracted_letters") or [])
    return normalize_answer(s.get("predicted") or "")


def order_samples(correct: list[dict], wrong: list[dict], rule: str, seed: int, question: str) -> tuple[list, list]:
    """Both lists ordered best-first under ``rule`` (module doc)."""
    idx = lambda s: s["sample_index"]  # noqa: E731
    if rule == LONGEST_VS_CONFIDENT:
        c = sorted(correct, key=lambda s: (tuple(-x for x in _length(s)), idx(s)))
        votes = Counter(_answer_key(s) for s in wrong)
        first = {}
        for s in sorted(wrong, key=idx):
            first.setdefault(_answer_key(s), idx(s))
        w = sorted(wrong, key=lambda s: (_answer_key(s) == "", -votes[_answer_key(s)], first[_answer_key(s)], idx(s)))
        return c, w
    if rule == SHORTEST_VS_LONGEST:
        return (
            sorted(correct, key=lambda s: (_length(s), idx(s))),
            sorted(wrong, key=lambda s: (tuple(-x for x in _length(s)), idx(s))),
        )
    if rule == RANDOM:
        rng = random.Random(f"{seed}:{question}")
        c, w = sorted(correct, key=idx), sorted(wrong, key=idx)
        rng.shuffle(c)
        rng.shuffle(w)
        return c, w
    raise ValueError(f"unknown selection rule {rule!r}; choose one of {SELECTION_RULES}")


def rank_pairs(n_correct: int, n_wrong: int, k: int) -> list[tuple[int, int]]:
    combos = [(i, j) for i in range(n_correct) for j in range(n_wrong)]
    combos.sort(key=lambda p: (max(p), p[0] != p[1], p))
    return combos[: max(0, k)]


@dataclass
class PairStats:
    questions: int = 0
    paired: int = 0
    all_correct: int = 0
    none_correct: int = 0
    pairs: int = 0
    nonmedical_pairs_dropped: int = 0
    reference_pairs: int = 0
    degenerate_correct: int = 0  # correct samples never chosen: they fail the one degeneration filter
    mean_reward: float = 0.0
    per_category: dict = field(default_factory=dict)

    def as_metadata(self) -> dict:
        return {
            "questions": self.questions,
            "paired": self.paired,
            "all_correct": self.all_correct,
            "none_correct": self.none_correct,
            "pairs": self.pairs,
            "nonmedical_pairs_dropped": self.nonmedical_pairs_dropped,
            "reference_pairs": self.reference_pairs,
            "degenerate_correct": self.degenerate_correct,
            "mean_reward": round(self.mean_reward, 4),
        }


def _message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def reference_sample(wrong: dict) -> dict:
    """The question's reference response shaped like a sample row (prompt and gen fields of the sampling call)."""
    return {
        **wrong,
        RECORD_ID: wrong["reference_id"],
        "response": wrong["reference"],
        "gen_completion_tokens": 0,
        "origin": REFERENCE,
    }


def pair_row(chosen: dict, rejected: dict, rule: str, n_samples: int, n_correct: int) -> dict:
    parents = list(dict.fromkeys([chosen[PARENT_IDS][0], chosen[RECORD_ID], rejected[RECORD_ID]]))
    row = {
        RECORD_ID: record_id("pref", chosen[RECORD_ID], rejected[RECORD_ID]),
        PARENT_IDS: parents,
        "question_id": chosen["question_id"],
        "category": chosen["category"],
        "prompt": [_message(m["role"], m["content"]) for m in chosen["prompt_messages"]],
        "chosen": [_message("assistant", chosen["response"])],
        "rejected": [_message("assistant", rejected["response"])],
        "prompt_text": chosen["prompt"],
        "selection_rule": rule,
        "n_samples": n_samples,
        "n_correct": n_correct,
        "chosen_origin": chosen.get("origin", SAMPLE),
        "sampler_checkpoint": rejected.get("sampler_checkpoint"),  # both samples come from one sampling call
    }
    # gen_* describe the sampling call (identical for both samples); token counts are the chosen sample's.
    row.update({name: chosen[name] for name, _ in GEN_FIELDS})
    return row


def resolve_pair(pair: dict, by_id: dict[str, dict]) -> tuple[str, dict | None, dict | None]:
    """(question parent id, chosen row, rejected row) of a pair, looked up in the sample rows by id. A
    reference-chosen pair's chosen row is its rejected sample's row with the reference as the response,
    or None when the pair's chosen text is not that question's stored reference."""
    ids = pair["parent_ids"]
    parent, chosen, rejected = ids[0], by_id.get(ids[-2]), by_id.get(ids[-1])
    if pair.get("chosen_origin") == REFERENCE:
        text = pair["chosen"][0]["content"] if pair.get("chosen") else ""
        chosen = (
            {**rejected, "response": text}
            if rejected is not None and rejected.get("reference") and rejected["reference"] == text
            else None
        )
    return parent, chosen, rejected


def build_pairs(
    samples: pa.Table,
    *,
    rule: str = LONGEST_VS_CONFIDENT,
    max_pairs_per_question: int = 1,
    nonmedical_share: float = 0.1,
    seed: int = 0,
    reference_chosen: bool = False,
    min_nonmedical_pairs: int = 0,
) -> tuple[pa.Table, PairStats]:
    """(pairs table, stats incl. ``per_category``) from a ``REJECTION_SAMPLE_SCHEMA`` table.

    Non-medical pairs are capped at ``nonmedical_share`` of all pairs (``share_count`` of the medical
    pairs, but never below ``min_nonmedical_pairs``; the kept ones chosen by a seeded hash), the rest
    counted as dropped. ``reference_chosen``: see the module doc.
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; choose one of {SELECTION_RULES}")
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in samples.to_pylist():
        groups[s[PARENT_IDS][0]].append(s)
    stats = PairStats(questions=len(groups))
    per_cat = {c: PairStats() for c in CATEGORIES}
    rows: dict[str, list[dict]] = {c: [] for c in CATEGORIES}
    rewards: dict[str, list[float]] = defaultdict(list)
    for qid in sorted(groups):
        group = groups[qid]
        cat = group[0]["category"]
        cs = per_cat.setdefault(cat, PairStats())
        cs.questions += 1
        correct = [s for s in group if s["reward"] > 0]
        wrong = [s for s in group if s["reward"] <= 0]
        # a chosen completion must pass the one degeneration filter; a degenerate correct sample is neither
        # chosen nor rejected (it is not wrong)
        fine = [s for s in correct if not degeneration_reason(s["response"], kind="answer")]
        stats.degenerate_correct += len(correct) - len(fine)
        cs.degenerate_correct += len(correct) - len(fine)
        if correct and not fine and wrong:
            continue
        correct = fine
        rewards[cat].extend(s["reward"] for s in group)
        if not wrong:
            stats.all_correct += 1
            cs.all_correct += 1
            continue
        if not correct:
            stats.none_correct += 1
            cs.none_correct += 1
            refs = [s for s in wrong if s.get("reference")]
            if not (reference_chosen and refs):
                continue
            _, w = order_samples([], wrong, rule, seed, qid)
            rows.setdefault(cat, []).append(pair_row(reference_sample(w[0]), w[0], rule, len(group), 0))
            stats.reference_pairs += 1
            cs.reference_pairs += 1
            continue
        stats.paired += 1
        cs.paired += 1
        c, w = order_samples(correct, wrong, rule, seed, qid)
        for i, j in rank_pairs(len(c), len(w), max_pairs_per_question):
            rows.setdefault(cat, []).append(pair_row(c[i], w[j], rule, len(group), len(correct)))
    keep = max(share_count(len(rows[MEDICAL]), nonmedical_share), max(0, min_nonmedical_pairs))
    if len(rows[NONMEDICAL]) > keep:
        stats.nonmedical_pairs_dropped = len(rows[NONMEDICAL]) - keep
        kept = {r[RECORD_ID] for r in pick(rows[NONMEDICAL], lambda r: r[RECORD_ID], keep, f"nonmedical:{seed}")}
        rows[NONMEDICAL] = [r for r in rows[NONMEDICAL] if r[RECORD_ID] in kept]
    out = [r for c in sorted(rows) for r in rows[c]]
    stats.pairs = len(out)
    every = [x for xs in rewards.values() for x in xs]
    stats.mean_reward = sum(every) / len(every) if every else 0.0
    for c, cs in per_cat.items():
        cs.pairs = len(rows.get(c, []))
        cs.mean_reward = sum(rewards[c]) / len(rewards[c]) if rewards[c] else 0.0
    stats.per_category = {c: cs.as_metadata() for c, cs in per_cat.items()}
    return pa.Table.from_pylist(out, schema=PREFERENCE_SCHEMA), stats
