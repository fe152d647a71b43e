"""The one degeneration filter (common.degeneration): repetition, minimum content, language."""

import pytest

from citrus_assets.common.text.degeneration import (
    KIND_CONFIGS,
    degeneration_reason,
    first_degenerate,
    reason_code,
    repetition_reason,
    with_thresholds,
    words,
)

FINE_EN = (
    "A 45-year-old woman presents with fever, cough and pleuritic chest pain for three days. Chest X-ray "
    "shows a right lower lobe consolidation. What is the most likely causative organism?"
)
FINE_ZH = "患者男性，45岁，发热三天，咳嗽咳痰，胸片示右下肺实变。最可能的病原体是什么？"
REASONING = (
    "The patient has fever, cough and a lobar consolidation, which points to a community-acquired "
    "pneumonia. The most common organism is Streptococcus pneumoniae; atypical organisms are less "
    "likely with a lobar pattern. So the answer is pneumococcus."
)


def test_regression_textbook_answer_repeated_24_times_is_dropped():
    """Regression: textbook_questions kept an answer that is "The answer is: " repeated 24 times."""
    reason = degeneration_reason("The answer is: " * 24, kind="answer", language="en")
    assert reason_code(reason) == "repetition" and "top_2_gram" in reason


@pytest.mark.parametrize(
    "text,kind,lang",
    [
        (FINE_EN, "question", "en"),
        (FINE_ZH, "question", "zh"),
        (REASONING, "reasoning", "en"),
        ("Why check potassium?", "question", "en"),
        ("Hapten is?", "question", "en"),
        ("0.05%", "answer", "en"),
        ("12", "option", "en"),
        # a real shape: a Chinese answer that names a five-character term four times
        (
            "一些女性患者出现了输卵管粘连堵塞的情况，一旦出现这个问题要及时治疗，避免因为输卵管粘连影响身体健康和生育，"
            "输卵管粘连一般会复发，输卵管粘连的特征为除不孕外几乎没有临床症状，需要到医院检查。",
            "answer",
            "zh",
        ),
        ("Aspirin", "option", "en"),
        ("Streptococcus pneumoniae", "answer", "en"),
        ("肺炎链球菌", "option", "zh"),
        ("Fever.\nCough.\nChest pain.", "field", "en"),
    ],
)
def test_fine_texts_are_kept(text, kind, lang):
    assert degeneration_reason(text, kind=kind, language=lang) == ""


@pytest.mark.parametrize(
    "text,kind,code",
    [
        ("", "answer", "empty"),
        ("   \n", "text", "empty"),
        (None, "text", "empty"),
        ("12 / 34 - 5", "question", "no_content"),
        ("Why?", "question", "no_content"),
        ("The patient has pneumonia.\n" * 4 + "Treat it.", "text", "repetition"),
        ("Answer: B. " * 5, "answer", "repetition"),
        ("I think the diagnosis is pneumonia because of the fever and the cough. " * 3, "reasoning", "repetition"),
        ("肺炎" * 30, "answer", "repetition"),
        (FINE_ZH, "question", "language"),
        ("Le patient a de la fièvre depuis trois jours et il tousse beaucoup la nuit.", "question", "language"),
    ],
)
def test_degenerate_texts_are_dropped_with_a_reason(text, kind, code):
    reason = degeneration_reason(text, kind=kind, language="en")
    assert reason_code(reason) == code, reason


def test_language_only_judged_on_enough_letters_and_known_expectation():
    assert degeneration_reason("Aspirina", kind="option", language="en") == ""  # too short to judge
    assert degeneration_reason(FINE_ZH, kind="question", language=None) == ""
    assert degeneration_reason(FINE_ZH, kind="question", language="es") == ""


def test_one_or_two_occurrences_are_not_repetition_in_short_texts():
    # "most likely" is > 20% of this short text's characters: Gopher's raw rule would drop it
    assert repetition_reason("What is most likely?") == ""
    assert repetition_reason("What is the most likely cause and the most likely treatment?") == ""
    assert degeneration_reason("关节病性关节炎", kind="option", language="zh") == ""  # an ICD name, 关节 twice
    # three times in a short real MMLU-Pro stem (core / periphery / semi-periphery countries) is not a loop either
    assert (
        repetition_reason(
            "The World Systems Theory divides the world into core countries, periphery countries, "
            "and semi-periphery countries. Which answers correlates best with semi-periphery "
            "countries?"
        )
        == ""
    )
    assert repetition_reason("most likely most likely most likely most likely").startswith("top_2_gram")


def test_cjk_words_are_characters_and_thresholds_are_configurable():
    assert words("患者 has fever") == ["患", "者", "has", "fever"]
    loose = with_thresholds("text", top_n_grams=(), dup_n_grams=(), dup_line_frac=None, dup_line_char_frac=None)
    assert repetition_reason("Answer: B. " * 5, loose) == ""
    assert KIND_CONFIGS["question"].min_words > KIND_CONFIGS["option"].min_words


def test_an_answer_that_repeats_the_question_is_an_echo():
    q = "How to treat heart failure with a high risk of mortality?"
    field, reason = first_degenerate({"question": q, "answer": q.upper()}, kinds={"question": "question"})
    assert field == "answer" and reason_code(reason) == "echo"
    assert first_degenerate({"a": "none", "b": "None."}) is None  # short identical fields are not an echo


def test_first_degenerate_names_the_field():
    assert first_degenerate({"question": FINE_EN, "answer": "Pneumococcus"}, kinds={"question": "question"}) is None
    field, reason = first_degenerate({"question": FINE_EN, "answer": "The answer is: " * 24})
    assert field == "answer" and reason_code(reason) == "repetition"


# ---------------------------------------------------------------------------- every stage uses it
CHUNK = (
    "Community-acquired pneumonia is most often caused by Streptococcus pneumoniae. Patients present with "
    "fever, cough and pleuritic chest pain; a chest radiograph shows lobar consolidation."
)


def test_textbook_questions_drop_the_repeated_answer():
    from citrus_assets.cpt_corpus.textbooks.evol import DROP_REASONS, TopicFilter, judge

    good = "Question: Which organism most often causes community-acquired pneumonia?\nAnswer: Streptococcus pneumoniae."
    assert judge(good, CHUNK, TopicFilter())[0] is None
    bad = "Question: Which organism most often causes community-acquired pneumonia?\nAnswer: " + "The answer is: " * 24
    reason, detail, *_ = judge(bad, CHUNK, TopicFilter())
    assert reason == "degenerate" and reason in DROP_REASONS and detail.startswith("answer repetition")


def test_sft_rewrite_open_rewrite_and_dual_expert_use_the_filter():
    from citrus_assets.reasoning_data.questions import open_rules
    from citrus_assets.reasoning_data.traces import sft_rewrite

    loop = "<think>" + "The patient's primary diagnosis is pneumothorax. " * 6 + "</think><answer>Pneumothorax</answer>"
    assert sft_rewrite.check_response(
        loop, [{"letter": "B", "text": "Pneumothorax"}], ["B"], "Pneumothorax", "en"
    ).startswith("degenerate:")
    closed = "A 22-year-old man has sudden chest pain. What is the most likely diagnosis?"
    reasons = open_rules.check_rewrite(
        closed, "A 22-year-old man has sudden chest pain? " * 4, [{"letter": "A", "text": "Pneumothorax"}], ["A"], "en"
    )
    assert any(r.startswith("degenerate:") for r in reasons)


def test_preference_pairs_never_choose_a_degenerate_completion():
    import pyarrow as pa

    from citrus_assets.model_training.preference.pairs import build_pairs
    from citrus_assets.model_training.schemas import REJECTION_SAMPLE_SCHEMA

    def sample(i, response, reward):
        row = {f.name: None for f in REJECTION_SAMPLE_SCHEMA}
        row.update(
            record_id=f"s{i}",
            parent_ids=["q1"],
            question_id="q1",
            category="medical",
            response=response,
            reward=reward,
            prompt="p",
            prompt_messages=[{"role": "user", "content": "q"}],
        )
        return row

    good = "<think>Fever and a lobar consolidation point to pneumococcus.</think><answer>A</answer>"
    loop = "<think>" + "The answer is: " * 24 + "</think><answer>A</answer>"
    wrong = "<think>I think it is a virus.</think><answer>B</answer>"
    rows = [sample(0, loop, 1.0), sample(1, good, 1.0), sample(2, wrong, 0.0)]
    table, stats = build_pairs(pa.Table.from_pylist(rows, schema=REJECTION_SAMPLE_SCHEMA))
    assert table.num_rows == 1 and table.column("chosen").to_pylist()[0][0]["content"] == good
    assert stats.degenerate_correct == 1
    only_loop, stats = build_pairs(pa.Table.from_pylist([rows[0], rows[2]], schema=REJECTION_SAMPLE_SCHEMA))
    assert only_loop.num_rows == 0 and stats.degenerate_correct == 1


def test_a_table_in_the_stem_is_not_the_rewrites_repetition():
    from citrus_assets.reasoning_data.questions import open_rules

    table = "\n".join(f"Patient {i} {20 + i} breaths per minute" for i in range(1, 8))
    closed = f"The respiratory rates of 7 patients are shown:\n{table}\nWhat is the mode of these respiratory rates?"
    opts = [{"letter": "A", "text": "32"}]
    assert not any(r.startswith("degenerate") for r in open_rules.check_rewrite(closed, closed, opts, ["A"], "en"))
    looped = "What is the mode of these rates? " * 6
    assert any(r.startswith("degenerate") for r in open_rules.check_rewrite(closed, looped, opts, ["A"], "en"))
