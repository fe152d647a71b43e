"""The builder's steps as plain table -> table functions (the assets are thin shells around them).

LLM steps send every prompt of a partition in ONE batched ``llm.generate`` call and store the
rendered prompt, the raw response and the ``gen_*`` columns with each row.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from citrus_assets.common.llm_task import LLMTask, Reject, Reply
from citrus_assets.common.prompts import load_prompt, prompt_hash
from citrus_assets.common.text.degeneration import DEGENERATE, first_degenerate
from citrus_assets.jmed.consultations import emr as E
from citrus_assets.jmed.consultations.deid import residual_in_turns, scrub_turns
from citrus_assets.jmed.consultations.dialogues import transcript
from citrus_assets.jmed.items import icd10
from citrus_assets.jmed.items.options import NoAnswer, build_item
from citrus_assets.jmed.items.questions import check_question, clean_question, template_question
from citrus_assets.jmed.schemas import DEID_SCHEMA, EMR_SCHEMA, OPTIONS_SCHEMA, QUESTION_SCHEMA
from resources.lake import QuarantineRecord
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID
from resources.llm import Prompt

QUESTION_PROMPTS = {"en": "jmed_question_en", "zh": "jmed_question_zh"}
ITEM_COLS = ("dialogue_id", "month", "language")


def _q(row: dict, asset: str, reason: str, raw: dict | str) -> QuarantineRecord:
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return QuarantineRecord(f"{asset}:{row.get('dialogue_id', '')}", row[RECORD_ID], reason, text[:4000])


# ---------------------------------------------------------------- de-identification
def deidentify(dialogues: pa.Table) -> tuple[pa.Table, Counter]:
    rows, total = [], Counter()
    for r in dialogues.to_pylist():
        turns, counts = scrub_turns(r["turns"])
        total.update(counts)
        rows.append(
            {
                **r,
                RECORD_ID: record_id("deid", r[RECORD_ID], turns),
                PARENT_IDS: [r[RECORD_ID]],
                "turns": turns,
                "transcript": transcript(turns, r["language"]),
                "pii_counts": json.dumps(dict(sorted(counts.items()))),
                "pii_total": sum(counts.values()),
            }
        )
    return pa.Table.from_pylist(rows, schema=DEID_SCHEMA), total


def deidentify_gated(dialogues: pa.Table) -> tuple[pa.Table, Counter, list[QuarantineRecord]]:
    """``deidentify``, then the residual detector (``deid.residual_pii``, other rules than the scrubber)
    on every scrubbed consultation: one in which it still finds something is set aside, per consultation,
    with the findings' types, rules and offsets as the reason (never the text it flagged: the raw
    consultation stays in ``dialogues``, found by the parent record id). Counts are of the kept rows."""
    table, _ = deidentify(dialogues)
    kept, bad, total = [], [], Counter()
    for r in table.to_pylist():
        found = residual_in_turns(r["turns"])
        if found:
            kinds = sorted({f.kind for _, f in found})
            reason = f"residual PII after de-identification: {', '.join(kinds)} ({len(found)} finding(s))"
            raw = {
                "dialogue_id": r["dialogue_id"],
                "parent_record_id": r[PARENT_IDS][0],
                "source_uri": r["source_uri"],
                "source_locator": r["source_locator"],
                "findings": [
                    {"turn": i, "type": f.kind, "rule": f.rule, "start": f.start, "end": f.end} for i, f in found
                ],
            }
            bad.append(
                QuarantineRecord(
                    f"deidentified_dialogues:{r['dialogue_id']}",
                    r[RECORD_ID],
                    reason,
                    json.dumps(raw, ensure_ascii=False)[:4000],
                )
            )
            continue
        kept.append(r)
        total.update(json.loads(r["pii_counts"]))
    return pa.Table.from_pylist(kept, schema=DEID_SCHEMA), total, bad


# ---------------------------------------------------------------- EMR
@dataclass
class ExtractEMR(LLMTask):
    """One structured record per consultation; a failed or degenerate one is quarantined (no retries)."""

    name: ClassVar[str] = "emr_records"
    prompts: ClassVar[tuple[str, ...]] = (E.SYSTEM_PROMPT, E.EMR_PROMPT)
    schema: ClassVar[pa.Schema] = EMR_SCHEMA

    def format_input(self, row: dict) -> Prompt:
        return E.emr_messages(row["transcript"])

    def quarantine(self, row: dict, reject: Reject) -> QuarantineRecord:
        return _q(row, self.name, reject.reason, reject.raw)

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        parsed = E.parse_json_object(reply.text)
        rec, src = E.build_record(parsed, row["turns"])
        self.counts["llm_json_ok"] += parsed is not None
        self.counts["llm_diagnosis"] += src["diagnosis"] == "llm"
        self.counts["rule_diagnosis"] += src["diagnosis"] == "rule"
        reason = E.quarantine_reason(parsed, rec, row["language"])
        if reason:
            self.counts["quarantined: " + reason.split(":")[0]] += 1
            return Reject(reason, raw={"response": reply.text, "transcript": row["transcript"]})
        if not rec["department"]:
            m = icd10.normalize(rec["diagnosis"])
            rec["department"] = icd10.department(m.entry.code, row["language"]) if m else ""
            src["department"] = "icd_chapter" if m else "none"
        return {
            RECORD_ID: record_id("emr", row[RECORD_ID], reply.model_id, reply.sampling, reply.text),
            PARENT_IDS: [row[RECORD_ID]],
            **{c: row[c] for c in ITEM_COLS},
            **rec,
            "diagnosis_source": src["diagnosis"],
            "field_sources": json.dumps(src),
            "llm_json_ok": parsed is not None,
        }


def extract_emr(dialogues: pa.Table, llm, params) -> tuple[pa.Table, list[QuarantineRecord], dict]:
    task = ExtractEMR()
    table, bad, stats = task.run(dialogues, llm, params)
    return table, bad, {**stats["counts"], "quarantined": stats["quarantined"]}


# ---------------------------------------------------------------- questions
def question_messages(rec: dict) -> list[dict]:
    prompt = load_prompt(QUESTION_PROMPTS.get(rec["language"], QUESTION_PROMPTS["en"]))
    return [
        {"role": "system", "content": load_prompt(E.SYSTEM_PROMPT).text},
        {
            "role": "user",
            "content": prompt.render(diagnosis=rec["diagnosis"], record=E.record_text(rec, rec["language"])),
        },
    ]


def question_prompt_hash() -> str:
    return prompt_hash(E.SYSTEM_PROMPT, *QUESTION_PROMPTS.values())


@dataclass
class GenerateQuestions(LLMTask):
    """One open question per record that does not give its diagnosis away, else the template question."""

    name: ClassVar[str] = "jmed_questions"
    prompts: ClassVar[tuple[str, ...]] = (E.SYSTEM_PROMPT, *QUESTION_PROMPTS.values())
    schema: ClassVar[pa.Schema] = QUESTION_SCHEMA

    def format_input(self, row: dict) -> Prompt:
        return question_messages(row)

    def quarantine(self, row: dict, reject: Reject) -> QuarantineRecord:
        return _q(row, self.name, reject.reason, reject.raw)

    def template(self, row: dict) -> tuple[str, ...]:
        return (E.SYSTEM_PROMPT, f"jmed_question_{row['language']}")

    def prompt_hash(self, row: dict) -> str:
        return question_prompt_hash()

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        lang = row["language"]
        question = clean_question(reply.text)
        rejections = check_question(question, [row["diagnosis"]], lang)
        method = "llm"
        if rejections:
            question, method = template_question(row, lang), "template"
            again = check_question(question, [row["diagnosis"]], lang)
            if again:
                return Reject(
                    "no question without the diagnosis: llm: "
                    + "; ".join(rejections)
                    + " / template: "
                    + "; ".join(again),
                    raw={"response": reply.text, "template": question},
                )
        self.counts[method] += 1
        for reason in rejections:
            self.counts["rejected: " + reason.split(" (")[0]] += 1
        return {
            RECORD_ID: record_id("jmedq", row[RECORD_ID], question),
            PARENT_IDS: [row[RECORD_ID]],
            **{c: row[c] for c in (*ITEM_COLS, "age", "sex", "department", "diagnosis")},
            "question": question,
            "question_method": method,
            "rejections": rejections,
        }


def generate_questions(emr: pa.Table, llm, params) -> tuple[pa.Table, list[QuarantineRecord], dict]:
    task = GenerateQuestions()
    table, bad, stats = task.run(emr, llm, params)
    return table, bad, {**stats["counts"], "quarantined": stats["quarantined"]}


# ---------------------------------------------------------------- options
def build_options(questions: pa.Table) -> tuple[pa.Table, list[QuarantineRecord], dict]:
    rows, bad, methods = [], [], Counter()
    for r in questions.to_pylist():
        key = f"{r['month']}:{r['dialogue_id']}:{r['diagnosis']}"
        try:
            item = build_item(r["diagnosis"], r["language"], key)
        except NoAnswer as e:
            bad.append(_q(r, "jmed_options", str(e), {"diagnosis": r["diagnosis"], "question": r["question"]}))
            continue
        degenerate = first_degenerate(
            {f"option {k}": v for k, v in item.options.items()}, kinds={f"option {k}": "option" for k in item.options}
        )
        if degenerate:
            bad.append(
                _q(
                    r,
                    "jmed_options",
                    f"{DEGENERATE}: {degenerate[0]} {degenerate[1]}",
                    {"diagnosis": r["diagnosis"], "options": item.options},
                )
            )
            continue
        methods.update(n["method"] for n in item.normalization)
        options = [{"letter": k, "text": v} for k, v in item.options.items()]
        rows.append(
            {
                RECORD_ID: record_id("jmedo", r[RECORD_ID], options, item.answer_letters),
                PARENT_IDS: [r[RECORD_ID]],
                **{c: r[c] for c in (*ITEM_COLS, "age", "sex", "department", "diagnosis", "question")},
                "options": options,
                "option_codes": item.option_codes,
                "answer_letters": item.answer_letters,
                "answer_codes": item.answer_codes,
                "normalization": json.dumps(item.normalization, ensure_ascii=False),
            }
        )
    return (
        pa.Table.from_pylist(rows, schema=OPTIONS_SCHEMA),
        bad,
        {
            "normalized_by": dict(methods),
            "quarantined": len(bad),
            "quarantined_degenerate": sum(1 for q in bad if q.reason.startswith(DEGENERATE)),
        },
    )
