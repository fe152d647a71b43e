"""SFT stages 1 and 2 (paper: general instruction following first, then harder multi-turn/complex ones).

Across files, exact duplicate conversations (``conversation_key``) and then rows repeating a user prompt
(``prompt_key``) are dropped and reported; the first occurrence wins, files taken in partition-key order.
Each remaining conversation goes to exactly one stage by ``assign_stage``:

1. its file's partition key is in ``file_stage`` -> that stage ("file");
2. at least ``multi_turn_user_turns`` user turns -> stage 2 ("multi_turn");
3. at least ``long_response_tokens`` assistant tokens (target tokenizer, content only) -> stage 2
   ("long_response");
4. otherwise stage 1 ("single_turn").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from citrus_assets.reasoning_data.mixes.mixing import INSTRUCTION, dedup_prompts, token_counts
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

STAGES = (1, 2)


@dataclass(frozen=True)
class StageRule:
    multi_turn_user_turns: int = 2
    long_response_tokens: int = 1024
    file_stage: dict[str, int] = field(default_factory=dict)


def assign_stage(n_user_turns: int, assistant_tokens: int, instruction_set: str, rule: StageRule) -> tuple[int, str]:
    if instruction_set in rule.file_stage:
        stage = int(rule.file_stage[instruction_set])
        if stage not in STAGES:
            raise ValueError(f"file_stage maps {instruction_set!r} to stage {stage}; stages are {STAGES}")
        return stage, "file"
    if n_user_turns >= rule.multi_turn_user_turns:
        return 2, "multi_turn"
    if assistant_tokens >= rule.long_response_tokens:
        return 2, "long_response"
    return 1, "single_turn"


@dataclass
class StageMix:
    rows: list[dict]
    duplicates: list[dict]  # those whose kept row is in this stage
    reasons: dict[str, int]
    n_tokens: list[int]


def _locator_order(locator: str) -> tuple[str, int]:
    kind, _, num = (locator or "").rpartition(" ")
    return kind, int(num) if num.isdigit() else 0


def build_stage_mix(examples: pa.Table, stage: int, rule: StageRule, tokenizer) -> StageMix:
    rows = sorted(examples.to_pylist(), key=lambda r: (r["instruction_set"], _locator_order(r[SOURCE_LOCATOR])))
    first: dict[str, str] = {}
    unique, dups = [], []
    for r in rows:
        key = r["conversation_key"]
        if key in first:
            dups.append(
                {
                    RECORD_ID: r[RECORD_ID],
                    "duplicate_of": first[key],
                    "source": r["instruction_set"],
                    "reason": "exact duplicate conversation",
                }
            )
        else:
            first[key] = r[RECORD_ID]
            unique.append(r)
    unique, prompt_dups = dedup_prompts(unique, source_of=lambda r: r["instruction_set"])
    dups += prompt_dups
    total, assistant = token_counts(tokenizer, [r["messages"] for r in unique])
    out = StageMix([], [], {}, [])
    in_stage: set[str] = set()
    for r, n_all, n_asst in zip(unique, total, assistant):
        got, reason = assign_stage(r["n_user_turns"], n_asst, r["instruction_set"], rule)
        if got != stage:
            continue
        in_stage.add(r[RECORD_ID])
        out.reasons[reason] = out.reasons.get(reason, 0) + 1
        out.n_tokens.append(n_all)
        out.rows.append(
            {
                RECORD_ID: record_id(f"s{stage}mix", r[RECORD_ID]),
                PARENT_IDS: [r[RECORD_ID]],
                "messages": r["messages"],
                "source": f"instructions:{r['instruction_set']}",
                "category": INSTRUCTION,
                SOURCE_URI: None,
                SOURCE_LOCATOR: None,
            }
        )
    # a duplicate chain ends at a kept row; report it with the stage that row went to
    root = {d[RECORD_ID]: d["duplicate_of"] for d in dups}

    def kept_of(rid: str) -> str:
        seen = {rid}
        while rid in root and root[rid] not in seen:
            rid = root[rid]
            seen.add(rid)
        return rid

    out.duplicates = [d for d in dups if kept_of(d[RECORD_ID]) in in_stage]
    return out
