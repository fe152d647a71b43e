"""Great Expectations 1.x suites turned into Dagster asset checks.

GX is imported lazily (on the first validation / suite build) and Dagster only when a name from
``quality.checks`` is first used, so ``from quality import validate_table`` stays cheap.
"""

from quality.gx import ExpectationResult, SuiteResult, get_gx_context, validate_table
from quality.suites import (
    RowRule,
    answer_letters_in_options,
    answer_letters_list,
    between,
    derived_flag_expectation,
    flag_column,
    id_suite,
    not_null,
    option_keys,
    row_count_between,
    row_rule,
    value_lengths_between,
    values_in_set,
)

_CHECKS = {
    "as_table",
    "check_metadata",
    "check_result",
    "gx_asset_check",
    "gx_check_result",
    "gx_check_spec",
    "rows_checks",
}


def __getattr__(name: str):
    if name in _CHECKS:
        from quality import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'quality' has no attribute {name!r}")


__all__ = [
    "ExpectationResult",
    "RowRule",
    "SuiteResult",
    "answer_letters_in_options",
    "answer_letters_list",
    "as_table",
    "between",
    "check_metadata",
    "check_result",
    "derived_flag_expectation",
    "flag_column",
    "get_gx_context",
    "gx_asset_check",
    "gx_check_result",
    "gx_check_spec",
    "id_suite",
    "not_null",
    "option_keys",
    "row_count_between",
    "row_rule",
    "validate_table",
    "value_lengths_between",
    "values_in_set",
]
