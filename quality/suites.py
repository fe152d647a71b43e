"""Reusable suite builders: plain functions returning lists of GX 1.x expectations and row rules.

A *suite* in this package is just a list whose items are Great Expectations expectation objects
(``great_expectations.expectations.Expectation``) or :class:`RowRule` objects. Lists compose with ``+``::

    suite = id_suite() + not_null(["question", "options"]) + [answer_letters_in_options()]

Row rules cover checks GX cannot express on one scalar column (rules over list/map columns, rules across
columns): ``validate_table`` adds the rule's boolean column (:func:`flag_column`) to the frame and
checks it with ``ExpectColumnValuesToBeInSet([True])``, so a rule's failures are reported like any
other expectation's, with the ``record_id`` of the rows that broke it.

GX is imported lazily inside the builders (its import takes seconds).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

FLAG_PREFIX = "__rule__"


def ensure_gx_env() -> None:
    """Switch GX analytics off before GX is first imported (a user's explicit setting wins).

    It lives here, below ``quality.gx`` (the runner imports the suites, never the reverse).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _gxe():
    ensure_gx_env()
    import great_expectations.expectations as gxe

    return gxe


def _cols(cols: str | Iterable[str]) -> list[str]:
    return [cols] if isinstance(cols, str) else list(cols)


# --------------------------------------------------------------------------------------------------
# Plain GX expectation builders
# --------------------------------------------------------------------------------------------------


def id_suite(id_col: str = "record_id") -> list:
    """``id_col`` is never null and unique."""
    gxe = _gxe()
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=id_col),
        gxe.ExpectColumnValuesToBeUnique(column=id_col),
    ]


def not_null(cols: str | Iterable[str], *, mostly: float | None = None) -> list:
    """Each column in ``cols`` has no nulls (or at least a ``mostly`` fraction of non-nulls)."""
    gxe = _gxe()
    extra = {} if mostly is None else {"mostly": mostly}
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, **extra) for c in _cols(cols)]


def values_in_set(col: str, values: Iterable[Any], *, mostly: float | None = None) -> list:
    """Every non-null value of ``col`` is one of ``values`` (nulls are not checked: pair with not_null)."""
    gxe = _gxe()
    extra = {} if mostly is None else {"mostly": mostly}
    return [gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(values), **extra)]


def value_lengths_between(col: str, min: int | None = None, max: int | None = None) -> list:  # noqa: A002
    """String length of every non-null value of ``col`` is within [min, max] (either bound optional)."""
    gxe = _gxe()
    return [gxe.ExpectColumnValueLengthsToBeBetween(column=col, min_value=min, max_value=max)]


def between(col: str, min: float | None = None, max: float | None = None) -> list:  # noqa: A002
    """Every non-null value of ``col`` is within [min, max] (either bound optional)."""
    gxe = _gxe()
    return [gxe.ExpectColumnValuesToBeBetween(column=col, min_value=min, max_value=max)]


def row_count_between(min: int | None = None, max: int | None = None) -> list:  # noqa: A002
    """The table has between ``min`` and ``max`` rows."""
    gxe = _gxe()
    return [gxe.ExpectTableRowCountToBeBetween(min_value=min, max_value=max)]


# --------------------------------------------------------------------------------------------------
# Row rules
# --------------------------------------------------------------------------------------------------


def flag_column(name: str) -> str:
    """Name of the derived boolean column that holds row rule ``name``."""
    return f"{FLAG_PREFIX}{name}"


def derived_flag_expectation(name: str):
    """The GX expectation that checks row rule ``name``: its flag column is True on every row."""
    gxe = _gxe()
    return gxe.ExpectColumnValuesToBeInSet(column=flag_column(name), value_set=[True])


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``derive(df)`` returns one truthy/falsy value per row of ``df``.

    ``df`` is the pandas frame of the table (list columns are numpy arrays or lists, map columns are
    dicts, struct columns are dicts). Null/NaN or any non-True result counts as a violation.
    ``columns`` (optional) names the columns ``derive`` reads, so that ``validate_table`` converts
    only the columns it needs; ``None`` means all columns.
    """

    name: str
    derive: Callable[[pd.DataFrame], pd.Series | Iterable[Any]]
    description: str = ""
    columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"RowRule name must be alphanumeric/underscore/dash: {self.name!r}")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def flag_column(self) -> str:
        return flag_column(self.name)

    def expectation(self):
        return derived_flag_expectation(self.name)

    def flags(self, df: pd.DataFrame) -> pd.Series:
        """Evaluate the rule: a bool Series aligned with ``df`` (null / non-True values are False)."""
        raw = self.derive(df)
        values = list(raw.tolist() if isinstance(raw, pd.Series) else raw)
        if len(values) != len(df):
            raise ValueError(f"row rule {self.name!r} returned {len(values)} values for {len(df)} rows")
        return pd.Series([_is_true(v) for v in values], index=df.index, dtype=bool)


def _is_true(v: Any) -> bool:
    if v is None or v is pd.NA:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    try:
        return bool(v)
    except (TypeError, ValueError):  # e.g. a multi-element array
        return False


def row_rule(
    name: str, derive: Callable[[pd.DataFrame], Any], description: str = "", columns: Iterable[str] | None = None
) -> RowRule:
    """Convenience constructor for :class:`RowRule`."""
    return RowRule(name, derive, description, None if columns is None else tuple(columns))


# --------------------------------------------------------------------------------------------------
# "answer letter among the options"
# --------------------------------------------------------------------------------------------------


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and math.isnan(v)


def _as_sequence(v: Any) -> list | None:
    """A list for list-like values (list, tuple, numpy array), else None."""
    if isinstance(v, (list, tuple)):
        return list(v)
    tolist = getattr(v, "tolist", None)  # numpy arrays (pyarrow list columns in pandas)
    if callable(tolist) and not isinstance(v, (str, bytes)):
        out = tolist()
        return out if isinstance(out, list) else None
    return None


def option_keys(options: Any) -> set[str] | None:
    """Keys of an ``options`` value, or None when it is missing or not understood.

    Accepted shapes: a mapping ``{"A": "...", ...}`` (pyarrow map or struct column in pandas); a
    sequence of ``(key, value)`` pairs (pyarrow map without ``maps_as_pydicts``); a sequence of
    ``{"key": ..., "value": ...}`` or ``{"letter": ..., "text": ...}`` dicts (the seed schema's
    ``list<struct<letter, text>>``); a JSON string of
    any of these.
    """
    if _is_missing(options):
        return None
    if isinstance(options, bytes):
        options = options.decode("utf-8", "replace")
    if isinstance(options, str):
        try:
            return option_keys(json.loads(options))
        except (ValueError, TypeError):
            return None
    if isinstance(options, Mapping):
        return {str(k).strip() for k in options.keys()}
    seq = _as_sequence(options)
    if seq is None:
        return None
    keys: set[str] = set()
    for item in seq:
        if isinstance(item, Mapping) and ("key" in item or "letter" in item):
            keys.add(str(item["key"] if "key" in item else item["letter"]).strip())
        elif (pair := _as_sequence(item)) is not None and len(pair) == 2:
            keys.add(str(pair[0]).strip())
        else:
            return None
    return keys


def answer_letters_list(letters: Any) -> list[str] | None:
    """Answer letters as a list of strings, or None when missing / not understood.

    Accepted: a list-like of strings, a JSON list string, or a single letter string.
    """
    if _is_missing(letters):
        return None
    if isinstance(letters, bytes):
        letters = letters.decode("utf-8", "replace")
    if isinstance(letters, str):
        s = letters.strip()
        if s.startswith("["):
            try:
                return answer_letters_list(json.loads(s))
            except (ValueError, TypeError):
                return None
        return [s] if s else []
    seq = _as_sequence(letters)
    if seq is None:
        return None
    return [str(x).strip() for x in seq if not _is_missing(x)]


def answer_letters_in_options(
    answer_col: str = "answer_letters",
    options_col: str = "options",
    *,
    name: str = "answer_letter_in_options",
    allow_empty: bool = False,
) -> RowRule:
    """Row rule: every letter in ``answer_col`` is a key of ``options_col``.

    A row fails when its options are missing/unparseable, or (unless ``allow_empty``) it has no
    answer letter.
    """

    def derive(df: pd.DataFrame) -> list[bool]:
        out = []
        for letters, options in zip(df[answer_col].tolist(), df[options_col].tolist()):
            keys = option_keys(options)
            lets = answer_letters_list(letters)
            if keys is None or lets is None:
                out.append(False)
            elif not lets:
                out.append(allow_empty)
            else:
                out.append(all(x in keys for x in lets))
        return out

    return RowRule(
        name,
        derive,
        f"every letter in {answer_col!r} is a key of {options_col!r}",
        (answer_col, options_col),
    )
