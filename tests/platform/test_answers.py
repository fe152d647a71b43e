import pytest

from citrus_assets.common.text.answers import extract_answer, is_correct, letters_for

OPTS4 = {"A": "Aspirin", "B": "Heparin", "C": "Warfarin", "D": "Clopidogrel"}


@pytest.mark.parametrize(
    "text,expected,method",
    [
        ("<think>...</think><answer>B. Heparin</answer>", ("B",), "letter"),
        ("<answer>B. Aspirin</answer>", ("B",), "letter"),  # never A and B
        ("<answer>A</answer> then <answer>(C)</answer>", ("C",), "letter"),  # last block wins
        ("<answer>c) warfarin</answer>", ("C",), "letter"),
        ("<answer>d</answer>", ("D",), "letter"),
        ("The answer is D.", ("D",), "letter"),
        ("<answer>A, C</answer>", ("A", "C"), "letter_list"),
        ("<answer>Warfarin is best</answer>", ("C",), "option_text"),
        ("<answer>A patient on heparin</answer>", ("B",), "option_text"),
        ("<answer>E</answer>", (), "none"),  # outside a 4-option question
        ("I am not sure.", (), "none"),
        ("", (), "none"),
        ("<answer>", (), "none"),
    ],
)
def test_extract_answer(text, expected, method):
    got = extract_answer(text, OPTS4)
    assert got.letters == expected
    assert got.method == method


def test_ten_and_twentyone_options():
    assert extract_answer("<answer>J. tenth</answer>", 10).letters == ("J",)
    assert extract_answer("<answer>K</answer>", 10).letters == ()
    assert extract_answer("<answer>U. None of the above</answer>", 21).letters == ("U",)
    assert letters_for(21)[-1] == "U"
    with pytest.raises(ValueError):
        letters_for(22)


def test_is_correct_is_exact_set_match():
    assert is_correct(("B",), ["B"])
    assert not is_correct(("A", "B"), ["B"])
    assert not is_correct((), [])
    assert is_correct(("C", "A"), ["A", "C"])
