"""The one language detector (common.language): one answer per text, used by every stage."""

import pytest

from citrus_assets.common.text.language import detect_language
from citrus_assets.cpt_corpus.corpus.labelling import language_tag
from citrus_assets.jmed.consultations import dialogues
from citrus_assets.reasoning_data.questions import checks as question_checks
from citrus_assets.reasoning_data.questions import open_rules
from citrus_assets.reasoning_data.seeds import seed_files as seeds
from citrus_assets.reasoning_data.traces import checks as trace_checks


@pytest.mark.parametrize(
    "text,lang",
    [
        ("", "und"),
        ("   ", "und"),
        ("12345 ; 7.5 / 9", "und"),
        ("A 45-year-old man has had fever for three days.", "en"),
        ("Aspirin", "en"),  # a one-word answer: the model is unsure, Latin script -> en
        ("患者男性，45岁，发热三天，体温39.2℃。", "zh"),
        ("患者服用 metformin 500 mg bid", "zh"),
        ("Un hombre de 45 años con fiebre y tos desde hace tres días.", "es"),
        ("こんにちは、今日は頭が痛いです。", "ja"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "12345", "A 45-year-old man has fever", "患者男性，45岁，发热三天"])
def test_every_stage_answers_alike(text):
    """Regression: three detectors answered "und", "en" and "en" for the same text."""
    answers = {
        detect_language(text),
        language_tag(text),
        seeds.detect_language(text),
        dialogues.detect_language(text),
        open_rules.detect_language(text),
        question_checks.detect_language(text),
        trace_checks.detect_language(text),
    }
    assert len(answers) == 1


def test_dialogue_in_unsupported_language_is_quarantined():
    turns = [
        {"role": "doctor", "text": "¿Desde cuándo tiene usted fiebre y dolor de cabeza?"},
        {"role": "patient", "text": "Desde hace tres días, doctor, y también tengo tos."},
    ]
    with pytest.raises(dialogues.BadDialogue, match="language 'es'"):
        dialogues.make_row(turns, uri="file:///x.jsonl", locator="line:1", raw="{}", dialogue_id=None, month=None)
    en = [
        {"role": "doctor", "text": "How long have you had the fever?"},
        {"role": "patient", "text": "For three days, and I also have a cough."},
    ]
    assert (
        dialogues.make_row(en, uri="file:///x.jsonl", locator="line:1", raw="{}", dialogue_id=None, month=None)[
            "language"
        ]
        == "en"
    )


def test_shortcuts_answer_like_the_plain_rule_on_real_samples(shared_data):
    """The memo, the ASCII shortcut and the float32 table (language.py) change no answer and no score: every real
    sample text gets the plain rule's answer over py3langid's model as shipped (float16 table), and the same
    probabilities bit for bit."""
    from benchmarks.language_detect import sample_texts, shipped_identifier
    from citrus_assets.common.text import language

    kinds = sample_texts(shared_data)
    if not kinds:
        pytest.skip(f"no sample texts under {shared_data} (set CITRUS_DATA)")
    shipped = shipped_identifier()
    texts = [t for v in kinds.values() for t in v[:300]]
    texts += ["", "  \n", "12 mg", "Aspirin", "患者服用 metformin 500 mg bid", "こんにちは", "\ud800 lone surrogate"]
    language._memo.clear()
    assert [language.detect_language(t) for t in texts] == [language.reference_detect(t, shipped) for t in texts]
    assert [language.detect_language(t) for t in texts] == [language.reference_detect(t) for t in texts]  # memo
    assert all(language.classify(t) == language.classify(t, shipped) for t in texts[::7])
    assert {language.detect_language(t) for t in texts} >= {"en", "zh", "und"}  # the samples reach every branch
