"""Validate a table against a list of GX 1.x expectations and row rules.

GX is imported lazily (the import takes seconds) and one ephemeral data context is reused per process;
every validation gets its own uniquely named pandas data source, deleted afterwards.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from quality.suites import RowRule, ensure_gx_env

DEFAULT_ID_COL = "record_id"
DEFAULT_MAX_EXAMPLES = 5
_MAX_VALUE_CHARS = 120

# Keys of a column-domain expectation's kwargs that name columns.
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")

# Table-level expectations that read no column (validated with the column-level ones).
_NO_COLUMN_TYPES = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})

_LOCK = threading.RLock()
_CONTEXT: Any = None


def get_gx_context():
    """The process-wide ephemeral GX data context (progress bars off)."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            ensure_gx_env()
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            _CONTEXT = ctx
        return _CONTEXT


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationResult:
    """Outcome of one expectation (or row rule) on one table.

    ``failing_ids`` holds the ``id_col`` values of a few failing rows (row positions as ``"#<i>"`` when
    the table has no id column); ``unexpected_values`` a few offending values as strings; ``observed``
    a small JSON-able summary (element/unexpected/missing counts, ``observed_value`` for aggregate
    expectations, ``exception`` when the expectation could not be evaluated).
    """

    type: str
    column: str | None
    success: bool
    unexpected_count: int | None
    unexpected_values: list[str] = field(default_factory=list)
    failing_ids: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short human-readable name: ``rule:<name>`` or ``<type>(<column>)``."""
        if self.rule:
            return f"rule:{self.rule}"
        short = self.type.removeprefix("expect_")
        return f"{short}({self.column})" if self.column else short

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, **asdict(self)}


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    success: bool
    n_rows: int
    results: list[ExpectationResult]

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def result(self, label_or_rule: str) -> ExpectationResult:
        """The result whose ``label`` or ``rule`` name is ``label_or_rule``."""
        for r in self.results:
            if label_or_rule in (r.label, r.rule):
                return r
        raise KeyError(label_or_rule)

    def failing_ids(self) -> list[str]:
        """Ids of failing rows over all failed expectations (deduplicated, first-seen order)."""
        seen: dict[str, None] = {}
        for r in self.failed:
            for i in r.failing_ids:
                seen.setdefault(i, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_name": self.suite_name,
            "success": self.success,
            "n_rows": self.n_rows,
            "results": [r.to_dict() for r in self.results],
        }


# --------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------


def _columns_of(expectation: Any) -> list[str] | None:
    """Columns an expectation reads, or None for table-level expectations (need all columns)."""
    cfg = expectation.configuration
    if cfg.type in _NO_COLUMN_TYPES:
        return []
    names: list[str] = []
    for k in _COLUMN_KWARGS:
        v = cfg.kwargs.get(k)
        if isinstance(v, str):
            names.append(v)
        elif isinstance(v, (list, tuple)):
            names.extend(str(x) for x in v)
    return names or None


def _to_pandas(table: pa.Table | pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    """pandas frame of ``table`` (only ``columns`` when given and all present).

    pyarrow maps become dicts (``maps_as_pydicts="lossy"``: duplicate keys keep the last value), lists
    become numpy object arrays, structs become dicts. Expectations should target scalar columns; row
    rules may read any column.
    """
    wanted = None if columns is None else set(columns)
    if isinstance(table, pd.DataFrame):
        if wanted is not None:
            table = table[[c for c in table.columns if c in wanted]]
        return table.reset_index(drop=True)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(f"validate_table expects a pyarrow.Table or pandas.DataFrame, got {type(table).__name__}")
    if wanted is not None:
        table = table.select([c for c in table.column_names if c in wanted])
    return table.to_pandas(maps_as_pydicts="lossy")


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else repr(v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v)
    return s if len(s) <= _MAX_VALUE_CHARS else s[: _MAX_VALUE_CHARS - 3] + "..."


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # numpy scalar
        return _jsonable(v.item())
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return _short(v)


def _exception_message(exception_info: Any) -> str | None:
    if not exception_info:
        return None
    if isinstance(exception_info, dict):
        if "raised_exception" in exception_info:  # flat form
            return exception_info.get("exception_message") if exception_info.get("raised_exception") else None
        for info in exception_info.values():  # keyed by metric id
            if isinstance(info, dict) and info.get("raised_exception"):
                return info.get("exception_message") or "exception"
        return None
    if getattr(exception_info, "raised_exception", False):
        return getattr(exception_info, "exception_message", None) or "exception"
    return None


_OBSERVED_KEYS = (
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
)


def _convert_result(er: Any, *, rule: RowRule | None, id_col: str | None, max_examples: int) -> ExpectationResult:
    cfg = er.expectation_config
    kwargs = {k: _jsonable(v) for k, v in (cfg.kwargs or {}).items() if k != "batch_id"}
    res = dict(er.result or {})
    observed = {k: _jsonable(res[k]) for k in _OBSERVED_KEYS if k in res}
    exc = _exception_message(er.exception_info)
    if exc:
        observed["exception"] = exc if len(exc) <= 500 else exc[:497] + "..."
    if rule is not None:
        observed["rule_description"] = rule.description

    # A rule's offending values are all False: its failing ids say more.
    values = [] if rule is not None else [_short(v) for v in (res.get("partial_unexpected_list") or [])[:max_examples]]
    failing_ids: list[str] = []
    for item in (res.get("partial_unexpected_index_list") or [])[:max_examples]:
        if isinstance(item, dict):
            if id_col and id_col in item:
                failing_ids.append(str(item[id_col]))
        else:
            failing_ids.append(f"#{item}")
    unexpected_count = res.get("unexpected_count")
    return ExpectationResult(
        type=cfg.type,
        column=kwargs.get("column") if isinstance(kwargs.get("column"), str) else None,
        success=bool(er.success) and not exc,
        unexpected_count=None if unexpected_count is None else int(unexpected_count),
        unexpected_values=values,
        failing_ids=failing_ids,
        observed=observed,
        rule=rule.name if rule is not None else None,
        kwargs=kwargs,
    )


def _rule_error(rule: RowRule, error: BaseException) -> ExpectationResult:
    return ExpectationResult(
        type="expect_column_values_to_be_in_set",
        column=rule.flag_column,
        success=False,
        unexpected_count=None,
        observed={"exception": f"{type(error).__name__}: {error}"[:500], "rule_description": rule.description},
        rule=rule.name,
    )


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def validate_table(
    table: pa.Table | pd.DataFrame,
    expectations: Iterable[Any],
    suite_name: str,
    *,
    id_col: str | None = DEFAULT_ID_COL,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
) -> SuiteResult:
    """Validate ``table`` against ``expectations`` (GX 1.x expectation objects and/or :class:`RowRule`).

    Each row rule is evaluated on the pandas frame and added as its flag column, checked with
    ``ExpectColumnValuesToBeInSet([True])``. Failing rows are reported by ``id_col`` (when present).
    Expectations are copied, so the same objects can be validated again. A rule whose ``derive`` raises,
    or an expectation GX cannot evaluate (e.g. a missing column), is reported as failed with
    ``observed["exception"]``.
    """
    items = list(expectations)
    rules = [x for x in items if isinstance(x, RowRule)]
    exps = [x for x in items if not isinstance(x, RowRule)]
    for e in exps:
        if not hasattr(e, "configuration"):
            raise TypeError(f"not a GX expectation or RowRule: {e!r}")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate row rule names in suite {suite_name!r}: {names}")

    # Convert only the columns something reads, when that is known (None: all columns).
    exp_cols = [_columns_of(e) for e in exps]
    gx_needed: set[str] = {id_col} if id_col else set()
    for cols in exp_cols:
        gx_needed |= set(cols or ())
    needed: set[str] | None = set(gx_needed)
    if any(cols is None for cols in exp_cols):
        needed = None
    for r in rules:
        needed = None if r.columns is None or needed is None else needed | set(r.columns)
    df = _to_pandas(table, None if needed is None else sorted(needed))
    n_rows = len(df)
    has_id = bool(id_col) and id_col in df.columns

    # Row rules -> flag columns.
    results_by_pos: dict[int, ExpectationResult] = {}
    flags: dict[str, pd.Series] = {}
    column_level: list[tuple[int, Any, RowRule | None]] = []
    table_level: list[tuple[int, Any, RowRule | None]] = []
    exp_iter = iter(exp_cols)
    for pos, item in enumerate(items):
        if isinstance(item, RowRule):
            try:
                flags[item.flag_column] = item.flags(df)
                column_level.append((pos, item.expectation(), item))
            except Exception as err:  # noqa: BLE001 - a broken rule is a failed check, not a crash
                results_by_pos[pos] = _rule_error(item, err)
        elif next(exp_iter) is None:
            table_level.append((pos, item, None))
        else:
            column_level.append((pos, item, None))

    gx_id = id_col if has_id else None
    if column_level:
        # GX hashes (pickles, for object columns) the frame it gets: give it only the scalar columns
        # its expectations read, the id column and the flags, not the list/map columns rules read.
        cols_df = df[[c for c in df.columns if c in gx_needed]].assign(**flags)
        results_by_pos.update(_run_gx(cols_df, column_level, suite_name, gx_id, max_examples))
    if table_level:
        # Table-level expectations (column sets/counts...) see the table as it is, without flag columns.
        results_by_pos.update(_run_gx(df, table_level, suite_name, gx_id, max_examples))

    results = [results_by_pos[i] for i in sorted(results_by_pos)]
    return SuiteResult(
        suite_name=suite_name,
        success=all(r.success for r in results),
        n_rows=n_rows,
        results=results,
    )


def _run_gx(
    df: pd.DataFrame,
    to_validate: list[tuple[int, Any, RowRule | None]],
    suite_name: str,
    id_col: str | None,
    max_examples: int,
) -> dict[int, ExpectationResult]:
    ctx = get_gx_context()
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=suite_name)
    rule_by_pos: dict[int, RowRule | None] = {}
    twin_of: dict[int, int] = {}  # GX keeps one of identical expectations: later ones reuse its result
    first_by_key: dict[str, int] = {}
    for pos, exp, rule in to_validate:
        key = repr((exp.expectation_type, exp.dict(exclude={"id", "rendered_content", "notes", "meta"})))
        if key in first_by_key:
            twin_of[pos] = first_by_key[key]
            continue
        first_by_key[key] = pos
        # Copy (an expectation can belong to one suite only); tag with its position to map results back.
        copy = exp.copy(update={"id": None, "meta": {**(exp.meta or {}), "citrus_pos": pos}}, deep=True)
        suite.add_expectation(copy)
        rule_by_pos[pos] = rule

    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": max_examples,
        "return_unexpected_index_query": False,
    }
    if id_col:
        result_format["unexpected_index_column_names"] = [id_col]

    name = f"citrus_{uuid.uuid4().hex}"
    with _LOCK:
        ds = ctx.data_sources.add_pandas(name)
    try:
        batch_def = ds.add_dataframe_asset(name="table").add_batch_definition_whole_dataframe("whole")
        batch = batch_def.get_batch(batch_parameters={"dataframe": df})
        validation = batch.validate(suite, result_format=result_format)
    finally:
        with _LOCK:
            try:
                ctx.data_sources.delete(name)
            except Exception:  # noqa: BLE001 - cleanup only
                pass

    out: dict[int, ExpectationResult] = {}
    for er in validation.results:
        at: int = (er.expectation_config.meta or {})["citrus_pos"]  # every expectation sent carries its position
        out[at] = _convert_result(er, rule=rule_by_pos.get(at), id_col=id_col, max_examples=max_examples)
    for pos, first in twin_of.items():
        out[pos] = out[first]
    return out
