"""Great Expectations checks of the JMED builder (names are constants)."""

from citrus_assets.common.text.answers import letters_for
from citrus_assets.jmed.assets import deidentified_dialogues, dialogues, emr_records
from citrus_assets.jmed.consultations.deid import residual_pii
from citrus_assets.jmed.item_assets import jmed_benchmark, jmed_options, jmed_questions, jmed_reviews
from citrus_assets.jmed.items.options import N_OPTIONS
from citrus_assets.jmed.items.questions import leaks
from citrus_assets.jmed.schemas import TIERS
from quality import RowRule, answer_letters_in_options, gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import value_lengths_between

PII_REMOVED = "pii_removed"
EMR_DIAGNOSIS_PRESENT = "emr_diagnosis_present"
QUESTION_LACKS_DIAGNOSIS = "question_lacks_diagnosis"
OPTIONS_WELL_FORMED = "options_well_formed"
BENCHMARK_APPROVED = "benchmark_approved_three_tiers"
DIALOGUES_VALID = "dialogues_valid"
REVIEWS_CONSISTENT = "reviews_consistent"
LETTERS = list(letters_for(N_OPTIONS))


def _no_residual(transcript: str, turns) -> bool:
    """The residual detector (jmed/deid.py ``residual_pii``: rules other than the scrubber's, so it sees
    what the scrubber missed) finds nothing in the transcript nor in any turn."""
    return not residual_pii(transcript or "") and not any(
        residual_pii(t["text"]) for t in (turns if turns is not None else [])
    )


no_pii = RowRule(
    name="no_pii_left",
    description="The residual PII detector (jmed/deid.py residual_pii, not the scrubber's rules) finds nothing "
    "in the transcript or the turns of a kept consultation.",
    derive=lambda df: [_no_residual(t, turns) for t, turns in zip(df["transcript"], df["turns"])],
    columns=("transcript", "turns"),
)
pii_check = gx_asset_check(
    asset=deidentified_dialogues,
    name=PII_REMOVED,
    blocking=True,
    description="BLOCKING: a kept consultation in which the residual detector finds a name, phone, ID, address, "
    "e-mail, birth date or URL fails the run (consultations it flags are quarantined by the asset first).",
    suite=lambda: id_suite() + not_null(["transcript", "month", "language"]),
    rules=[no_pii],
)

emr_check = gx_asset_check(
    asset=emr_records,
    name=EMR_DIAGNOSIS_PRESENT,
    blocking=True,
    description="Every record has a non-empty diagnosis from the model or an explicit doctor phrase.",
    suite=lambda: (
        id_suite()
        + not_null(["diagnosis", "diagnosis_source", "prompt"])
        + value_lengths_between("diagnosis", 1, None)
        + values_in_set("diagnosis_source", ["llm", "rule"])
        + values_in_set("sex", ["male", "female", ""])
    ),
)

no_leak = RowRule(
    name="question_without_diagnosis",
    description="The question contains neither the diagnosis nor any of its words (jmed/questions.py rule).",
    derive=lambda df: [not leaks(q, [d], lang) for q, d, lang in zip(df["question"], df["diagnosis"], df["language"])],
    columns=("question", "diagnosis", "language"),
)
question_check = gx_asset_check(
    asset=jmed_questions,
    name=QUESTION_LACKS_DIAGNOSIS,
    blocking=True,
    description="Questions do not give the diagnosis away; method recorded.",
    suite=lambda: (
        id_suite() + not_null(["question", "diagnosis"]) + values_in_set("question_method", ["llm", "template"])
    ),
    rules=[no_leak],
)


def _options_ok(options, answers) -> bool:
    opts = list(options if options is not None else [])
    letters = [o["letter"] for o in opts]
    texts = [o["text"].strip().casefold() for o in opts]
    ans = list(answers if answers is not None else [])
    return (
        letters == LETTERS
        and len(set(texts)) == N_OPTIONS
        and all(texts)
        and bool(ans)
        and all(a in LETTERS for a in ans)
    )


options_rule = RowRule(
    name="twenty_one_unique_options",
    description="Exactly 21 options lettered A-U, texts unique and non-empty, answers among A-U.",
    derive=lambda df: [_options_ok(o, a) for o, a in zip(df["options"], df["answer_letters"])],
    columns=("options", "answer_letters"),
)
options_check = gx_asset_check(
    asset=jmed_options,
    name=OPTIONS_WELL_FORMED,
    blocking=True,
    description="21 unique options A-U per item, answers among them.",
    suite=lambda: id_suite() + not_null(["question", "options", "answer_letters"]),
    rules=[options_rule, answer_letters_in_options("answer_letters", "options")],
)

benchmark_check = gx_asset_check(
    asset=jmed_benchmark,
    name=BENCHMARK_APPROVED,
    blocking=False,
    description="Every released item was approved at all three review tiers; 21 options; answers among them.",
    suite=lambda: (
        id_suite()
        + not_null(["id", "question", "options", "answer", "month"])
        + values_in_set("tiers_approved", [len(TIERS)])
    ),
    rules=[
        RowRule(
            name="release_options_ok",
            description="21 unique options A-U, answers among them.",
            derive=lambda df: [_options_ok(o, a) for o, a in zip(df["options"], df["answer"])],
            columns=("options", "answer"),
        )
    ],
)

dialogue_turns = RowRule(
    name="turns_from_doctor_and_patient",
    description="Each consultation has at least one doctor and one patient turn, all non-empty.",
    derive=lambda df: [
        bool(t is not None and len(t))
        and {x["role"] for x in t} >= {"doctor", "patient"}
        and all((x["text"] or "").strip() for x in t)
        for t in df["turns"]
    ],
    columns=("turns",),
)
dialogues_check = gx_asset_check(
    asset=dialogues,
    name=DIALOGUES_VALID,
    blocking=True,
    description="Unique ids, a month and a source per consultation, doctor and patient turns present. "
    "(Raw text: only deidentified_dialogues reads this asset.)",
    suite=lambda: (
        id_suite()
        + not_null(["month", "language", "source_uri", "transcript"])
        + values_in_set("language", ["en", "zh"])
    ),
    rules=[dialogue_turns],
)


def _status_consistent(status, approved, verdicts) -> bool:
    """``approved`` matches the status, and an approved item has an approval from every tier."""
    all_ok = all(v == "approve" for v in verdicts)
    return bool(approved) == (status == "approved") and (not approved or all_ok)


reviews_rule = RowRule(
    name="approved_iff_three_tiers_approve",
    description="An item is approved exactly when all three tiers approved it (no tier skipped).",
    derive=lambda df: [
        _status_consistent(s, a, [df[f"{t}_verdict"].iloc[i] for t in TIERS])
        for i, (s, a) in enumerate(zip(df["status"], df["approved"]))
    ],
    columns=("status", "approved", *[f"{t}_verdict" for t in TIERS]),
)
reviews_check = gx_asset_check(
    asset=jmed_reviews,
    name=REVIEWS_CONSISTENT,
    blocking=True,
    description="Every item has a review status; approval requires the three tiers in order.",
    suite=lambda: id_suite() + not_null(["status"]),
    rules=[reviews_rule],
)

checks = [dialogues_check, pii_check, emr_check, question_check, options_check, reviews_check, benchmark_check]
