"""Selection of the SFT stage-3 mix (paper: all hard items, a small share of easy ones, plus a comparable
amount of non-medical reasoning data).

1. Difficulty labels are joined on ``question_id``; a question labelled both ways (two seed sets) counts
   as hard; an example whose question has no label counts as hard and is reported (``unlabeled``).
2. Examples whose messages are malformed or whose assistant turn is not ``<think>…</think><answer>…</answer>``
   are quarantined with the reason (they were verified upstream; this is the last gate before training).
3. One example per user prompt (hard ones win, then lowest hash rank); the others are reported duplicates.
4. All hard examples + ``round(easy_share × easy available)`` easy ones, chosen by ``mixing.take``.
5. Non-medical rows (the ``nonmedical_reasoning`` asset's records): ``max(round(nonmedical_ratio × medical
   selected), min_nonmedical)`` by ``mixing.take`` (all when fewer are available; the shortfall is reported);
   rows asking a prompt already in the medical part are dropped. Each chosen record becomes a mix row of its
   own (``record_id("s3mix", <nonmedical record id>)``, parent = that record), so lineage goes mix row ->
   ``nonmedical_reasoning`` record -> file and line. The floor keeps general reasoning in the mix when few medical traces verified (a small
   synthesis model may verify none): stage 3 then still trains, and the metadata says how many were medical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citrus_assets.common.text.reasoning_format import is_think_answer
from citrus_assets.reasoning_data.chat import ASSISTANT, is_well_formed, prompt_key
from citrus_assets.reasoning_data.mixes.mixing import (
    MEDICAL_EASY,
    MEDICAL_HARD,
    dedup_prompts,
    hash_rank,
    quarantine_record,
    share_count,
    take,
)
from citrus_assets.reasoning_data.schemas import EASY, HARD
from resources.lake import QuarantineRecord, input_table, input_tables
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

MEDICAL_SOURCE = "citrus_s3"


@dataclass
class Stage3Selection:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    unlabeled: list[str] = field(default_factory=list)  # question ids without a difficulty label
    counts: dict = field(default_factory=dict)


def difficulty_labels(difficulty: object) -> tuple[dict[str, tuple[str, str]], int]:
    """question_id -> (label, difficulty record id); hard wins a conflict. Returns (labels, conflicts).
    ``difficulty``: a table or a batched lake input (``resources.lake.input_table``); only 3 columns are read."""
    labels: dict[str, tuple[str, str]] = {}
    conflicts = 0
    for row in sorted(
        input_table(difficulty, [RECORD_ID, "question_id", "difficulty"]).to_pylist(), key=lambda r: r[RECORD_ID]
    ):
        qid, label = row["question_id"], row["difficulty"]
        if label not in (EASY, HARD):
            continue
        if qid in labels and labels[qid][0] != label:
            conflicts += 1
            if label != HARD:
                continue
        elif qid in labels:
            continue
        labels[qid] = (label, row[RECORD_ID])
    return labels, conflicts


def _medical_row(ex: dict, category: str, label_id: str | None) -> dict:
    return {
        RECORD_ID: record_id("s3mix", ex[RECORD_ID]),
        PARENT_IDS: [ex[RECORD_ID]] + ([label_id] if label_id else []),
        "messages": [{"role": m["role"], "content": m["content"]} for m in ex["messages"]],
        "source": MEDICAL_SOURCE,
        "category": category,
        SOURCE_URI: None,
        SOURCE_LOCATOR: None,
    }


def _nonmedical_row(r: dict) -> dict:
    """The mix row of one ``nonmedical_reasoning`` record (its parent; the record cites the file and line)."""
    return {
        RECORD_ID: record_id("s3mix", r[RECORD_ID]),
        PARENT_IDS: [r[RECORD_ID]],
        "messages": [{"role": m["role"], "content": m["content"]} for m in r["messages"]],
        "source": r["source"],
        "category": r["category"],
        SOURCE_URI: None,
        SOURCE_LOCATOR: None,
    }


EXAMPLE_COLUMNS = (RECORD_ID, "question_id", "messages")  # what the selection reads of a good example


def _screen(
    examples: object, labels: dict[str, tuple[str, str]], seed: int
) -> list[tuple[int, int, QuarantineRecord | tuple[dict, str | None, bool]]]:
    """Every example as ``(hash rank, input position, outcome)``: its quarantine record, or ``(medical row,
    question id, unlabeled)``. The input is read one batch at a time (``resources.lake.input_tables``): only
    ``EXAMPLE_COLUMNS`` become Python objects, a bad example's whole row (its quarantine ``raw``) alone."""
    screened: list[tuple[int, int, QuarantineRecord | tuple[dict, str | None, bool]]] = []
    pos = 0
    for batch in input_tables(examples):
        cols = [c for c in EXAMPLE_COLUMNS if c in batch.column_names]
        for i, ex in enumerate(batch.select(cols).to_pylist()):
            rid = ex[RECORD_ID]
            messages = ex.get("messages") or []
            reason = ""
            if not is_well_formed(messages):
                reason = "malformed messages"
            elif messages[-1]["role"] != ASSISTANT or not is_think_answer(messages[-1]["content"]):
                reason = "assistant turn is not <think>…</think><answer>…</answer>"
            if reason:
                full = batch.slice(i, 1).to_pylist()[0]  # the whole input row, as the quarantine keeps it
                outcome: QuarantineRecord | tuple[dict, str | None, bool] = quarantine_record(
                    "sft_examples", rid, reason, full
                )
            else:
                label, label_id = labels.get(ex["question_id"], (None, None))
                row = _medical_row(ex, MEDICAL_EASY if label == EASY else MEDICAL_HARD, label_id)
                outcome = (row, ex["question_id"], label is None)
            screened.append((hash_rank(rid, seed), pos, outcome))
            pos += 1
    screened.sort(key=lambda s: (s[0], s[1]))  # rank, then input order: what a stable sort by rank gives
    return screened


def select_stage3(
    examples: object,
    difficulty: object,
    nonmedical: list[dict],
    *,
    easy_share: float,
    nonmedical_ratio: float,
    seed: int = 0,
    min_nonmedical: int = 0,
) -> Stage3Selection:
    """``examples``/``difficulty``: tables, or what the lake IO manager gives a ``BATCHED_INPUT_TAG`` op
    (``CommittedBatches``, ``{partition: CommittedBatches}`` read in partition order); the same rows give the
    same selection either way."""
    out = Stage3Selection()
    labels, conflicts = difficulty_labels(difficulty)
    hard, easy = [], []
    screened = _screen(examples, labels, seed)
    for _, _, outcome in screened:
        if isinstance(outcome, QuarantineRecord):
            out.quarantine.append(outcome)
            continue
        row, qid, unlabeled = outcome
        if unlabeled:
            out.unlabeled.append(qid)
        (easy if row["category"] == MEDICAL_EASY else hard).append(row)
    del screened, labels
    all_medical = hard + easy
    kept, out.duplicates = dedup_prompts(all_medical)
    hard = [r for r in kept if r["category"] == MEDICAL_HARD]
    easy_pool = {r[RECORD_ID]: r for r in kept if r["category"] == MEDICAL_EASY}
    easy = [easy_pool[i] for i in take(easy_pool, share_count(len(easy_pool), easy_share), seed)]
    medical = hard + easy

    prompts = {prompt_key(r["messages"]) for r in medical}
    pool = {}
    for r in nonmedical:
        if prompt_key(r["messages"]) in prompts:
            out.duplicates.append(
                {
                    RECORD_ID: r[RECORD_ID],
                    "duplicate_of": "",
                    "source": r["source"],
                    "reason": "same user prompt as a medical row",
                }
            )
        else:
            pool[r[RECORD_ID]] = r
    pool_rows, dups = dedup_prompts(list(pool.values()))
    out.duplicates += dups
    pool = {r[RECORD_ID]: r for r in pool_rows}
    target = max(int(len(medical) * nonmedical_ratio + 0.5), max(0, int(min_nonmedical)))
    chosen = [pool[i] for i in take(pool, target, seed)]

    out.rows = medical + [_nonmedical_row(r) for r in chosen]
    # report duplicates by their input records (the sft_examples id, or the non-medical row's own id)
    origin = {r[RECORD_ID]: r[PARENT_IDS][0] for r in all_medical}
    for d in out.duplicates:
        d[RECORD_ID] = origin.get(d[RECORD_ID], d[RECORD_ID])
        d["duplicate_of"] = origin.get(d["duplicate_of"], d["duplicate_of"])
    out.counts = {
        "medical_hard": len(hard),
        "medical_easy_available": len(easy_pool),
        "medical_easy": len(easy),
        "unlabeled_counted_hard": len(out.unlabeled),
        "label_conflicts": conflicts,
        "nonmedical_available": len(pool),
        "nonmedical_target": target,
        "nonmedical": len(chosen),
        "nonmedical_shortfall": max(0, target - len(chosen)),
        "quarantined": len(out.quarantine),
        "prompt_duplicates": len(out.duplicates),
    }
    return out
