"""validate_table and the suite builders on good and bad tables (no Dagster)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quality import (
    RowRule,
    answer_letters_in_options,
    between,
    id_suite,
    not_null,
    option_keys,
    row_count_between,
    validate_table,
    value_lengths_between,
    values_in_set,
)


def mcq_suite() -> list:
    return (
        id_suite()
        + not_null(["question"])
        + values_in_set("status", ["ok", "review"])
        + value_lengths_between("record_id", 1, 10)
        + [answer_letters_in_options()]
    )


def test_good_table_passes(good_table):
    res = validate_table(good_table, mcq_suite(), "mcq")
    assert res.success, [r for r in res.results if not r.success]
    assert res.n_rows == 3
    assert [r.label for r in res.results] == [
        "column_values_to_not_be_null(record_id)",
        "column_values_to_be_unique(record_id)",
        "column_values_to_not_be_null(question)",
        "column_values_to_be_in_set(status)",
        "column_value_lengths_to_be_between(record_id)",
        "rule:answer_letter_in_options",
    ]
    assert all(r.unexpected_count == 0 and r.failing_ids == [] for r in res.results)
    assert res.failing_ids() == []


def test_bad_table_reports_failing_record_ids(bad_table):
    res = validate_table(bad_table, mcq_suite(), "mcq")
    assert not res.success
    assert res.n_rows == 5
    by = {r.label: r for r in res.results}

    assert by["column_values_to_not_be_null(record_id)"].success
    uniq = by["column_values_to_be_unique(record_id)"]
    assert not uniq.success and uniq.unexpected_count == 2 and uniq.failing_ids == ["r2", "r2"]

    nn = by["column_values_to_not_be_null(question)"]
    assert not nn.success and nn.unexpected_count == 1 and nn.failing_ids == ["r2"]

    in_set = by["column_values_to_be_in_set(status)"]
    assert not in_set.success and in_set.unexpected_values == ["weird"] and in_set.failing_ids == ["r2"]
    assert in_set.observed["element_count"] == 5

    rule = res.result("answer_letter_in_options")
    assert not rule.success
    assert rule.unexpected_count == 3  # r2 (C not an option), r4 (no options), r5 (no answer)
    assert rule.failing_ids == ["r2", "r4", "r5"]
    assert rule.column == "__rule__answer_letter_in_options"
    assert "answer_letters" in rule.observed["rule_description"]

    assert by["column_value_lengths_to_be_between(record_id)"].success
    assert set(res.failing_ids()) == {"r2", "r4", "r5"}
    json.dumps(res.to_dict())  # JSON-able for metadata


@pytest.mark.parametrize("kind", ["map", "list_of_structs", "json_string"])
def test_answer_rule_option_shapes(make_mcq_table, kind):
    def build(rows):
        if kind != "json_string":
            return make_mcq_table(rows, make_mcq_table.OPTIONS_MAP if kind == "map" else make_mcq_table.OPTIONS_PAIRS)
        t = make_mcq_table(rows)
        as_json = [None if d is None else json.dumps(dict(d)) for d in t.column("options").to_pylist()]
        return t.set_column(t.schema.get_field_index("options"), "options", pa.array(as_json, pa.string()))

    res = validate_table(build(make_mcq_table.BAD), [answer_letters_in_options()], "shapes")
    assert res.result("answer_letter_in_options").failing_ids == ["r2", "r4", "r5"]
    assert validate_table(build(make_mcq_table.GOOD), [answer_letters_in_options()], "shapes").success


def test_allow_empty_answers(bad_table):
    res = validate_table(bad_table, [answer_letters_in_options(allow_empty=True)], "x")
    assert res.result("answer_letter_in_options").failing_ids == ["r2", "r4"]


def test_option_keys_shapes():
    assert option_keys({"A": "x", "B": "y"}) == {"A", "B"}
    assert option_keys([("A", "x"), ("B", "y")]) == {"A", "B"}
    assert option_keys(np.array([{"key": "A", "value": "x"}], dtype=object)) == {"A"}
    assert option_keys('{"A": "x"}') == {"A"}
    assert option_keys('[["A", "x"]]') == {"A"}
    assert option_keys(None) is None and option_keys(float("nan")) is None
    assert option_keys("not json") is None


def test_custom_row_rule_and_pandas_input():
    df = pd.DataFrame({"record_id": ["a", "b", "c"], "lo": [1, 5, 2], "hi": [2, 3, None]})
    rule = RowRule("lo_le_hi", lambda d: d["lo"] <= d["hi"], "lo <= hi", columns=("lo", "hi"))
    res = validate_table(df, [rule] + between("lo", 0, 10), "pandas")
    r = res.result("lo_le_hi")
    assert not r.success and r.failing_ids == ["b", "c"]  # NaN comparison is False -> violation
    assert res.results[1].success


def test_broken_rule_and_missing_column_are_failures_not_crashes(good_table):
    def boom(df):
        raise KeyError("no such thing")

    res = validate_table(good_table, [RowRule("boom", boom)] + not_null("nope") + id_suite(), "broken")
    assert not res.success
    boom_r, nope_r, idnn, iduniq = res.results
    assert not boom_r.success and "KeyError" in boom_r.observed["exception"]
    assert not nope_r.success and "nope" in nope_r.observed["exception"]
    assert idnn.success and iduniq.success


def test_wrong_length_rule_fails():
    t = pa.table({"record_id": ["a", "b"]})
    res = validate_table(t, [RowRule("short", lambda d: [True])], "len")
    assert not res.success and "returned 1 values for 2 rows" in res.results[0].observed["exception"]


def test_expectations_are_reusable_and_duplicates_ok(good_table, bad_table):
    suite = id_suite() + id_suite() + row_count_between(1, 100) + between("n", 0, 1)
    t = good_table.append_column("n", pa.array([0.5, 1.0, 0.0]))
    first = validate_table(t, suite, "reuse")
    again = validate_table(t, suite, "reuse")
    assert first.success and again.success
    assert len(first.results) == len(suite)
    assert first.results[-2].observed["observed_value"] == 3
    assert not validate_table(bad_table, suite[:2], "reuse").success


def test_no_id_column_reports_row_positions():
    t = pa.table({"x": [1, None, 3]})
    res = validate_table(t, not_null("x"), "noid")
    assert res.results[0].failing_ids == ["#1"]


def test_empty_table_passes_column_rules(good_table):
    res = validate_table(good_table.slice(0, 0), mcq_suite(), "empty")
    assert res.success and res.n_rows == 0


def test_table_level_expectations_do_not_see_rule_columns(good_table):
    import great_expectations as gx

    cols = good_table.column_names
    suite = [
        gx.expectations.ExpectTableColumnsToMatchSet(column_set=cols, exact_match=True),
        answer_letters_in_options(),
    ] + row_count_between(3, 3)
    res = validate_table(good_table, suite, "table_level")
    assert res.success, res.to_dict()
    assert [r.type for r in res.results] == [
        "expect_table_columns_to_match_set",
        "expect_column_values_to_be_in_set",
        "expect_table_row_count_to_be_between",
    ]
