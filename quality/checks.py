"""Dagster shell: GX suites as asset checks.

``gx_asset_check`` builds an ``@dg.asset_check`` whose function receives the asset's value, loaded by the
asset's own IO manager (a ``pyarrow.Table`` in this lake), runs :func:`quality.gx.validate_table` and
returns an ``AssetCheckResult`` (severity ERROR when ``blocking``, else WARN).

Partitioned assets (Dagster 1.13.27): ``@dg.asset_check(partitions_def=...)`` exists (a *preview* feature:
``AssetCheckSpec.partitions_def`` must be None or equal to the asset's). ``gx_asset_check`` gives the check
the asset's ``partitions_def`` when ``asset`` is an ``AssetsDefinition``/``AssetSpec``/``SourceAsset``
(pass ``partitions_def=`` explicitly when ``asset`` is only a key). The check then runs in the same
partitioned run as the asset, its input is exactly the run's partition (the IO manager's
``InputContext.asset_partition_key``), and the evaluation is recorded for that partition. With
``partitions_def=None`` on a partitioned asset, Dagster maps *all* partitions of the asset to the
check's input (``InputContext.asset_partition_keys`` = every partition); the IO manager then has to load
them all, and a ``Mapping`` partition -> table (the ``UPathIOManager`` convention) is concatenated here.

Single-run backfills (``BackfillPolicy.single_run()``): a run covering a partition *range* runs a partitioned
check ONCE with every partition of the range as input, and Dagster 1.13 plans one evaluation per partition
but records the ``AssetCheckResult`` unpartitioned (``partition=None``), leaving the per-partition
evaluations PLANNED forever. Here such a run validates each partition separately and yields one
``AssetCheckEvaluation`` per partition (with its target materialization); a failing blocking one fails the
step as usual. The input is split with ``resources.lake.split_partitions`` (the row counts the lake attaches
to a multi-partition read) or taken as a ``Mapping`` partition -> table.
"""

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from quality.batched import batch_source, validate_batches
from quality.empty import ERROR, HAS_ROWS, empty_policy
from quality.gx import DEFAULT_ID_COL, DEFAULT_MAX_EXAMPLES, SuiteResult, validate_table
from quality.suites import RowRule
from resources.lake import BATCHED_INPUT_TAG, BATCHES, split_partitions

_INHERIT: Any = object()


def as_table(value: Any) -> pa.Table | pd.DataFrame:
    """The table a check validates: a table/frame as is; a mapping or sequence of tables concatenated."""
    if isinstance(value, (pa.Table, pd.DataFrame)):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, Sequence) and value and all(isinstance(v, pa.Table) for v in value):
        return pa.concat_tables(list(value), promote_options="permissive")
    if isinstance(value, Sequence) and value and all(isinstance(v, pd.DataFrame) for v in value):
        return pd.concat(list(value), ignore_index=True)
    raise TypeError(
        "a GX asset check needs the asset value as a pyarrow.Table or pandas.DataFrame "
        f"(or a mapping/sequence of them), got {type(value).__name__}; "
        "is the asset stored by an IO manager that returns tables?"
    )


def _label_counts(result: SuiteResult) -> dict[str, int | None]:
    return {r.label: r.unexpected_count for r in result.results}


def check_metadata(result: SuiteResult) -> dict[str, Any]:
    """Dagster metadata for a suite result: counts, failing expectations and a few failing record ids."""
    failed = result.failed
    return {
        "suite": dg.MetadataValue.text(result.suite_name),
        "n_rows": dg.MetadataValue.int(result.n_rows),
        "n_expectations": dg.MetadataValue.int(len(result.results)),
        "n_failed": dg.MetadataValue.int(len(failed)),
        "failed": dg.MetadataValue.json([r.label for r in failed]),
        "unexpected_counts": dg.MetadataValue.json(_label_counts(result)),
        "failing_record_ids": dg.MetadataValue.json({r.label: r.failing_ids for r in failed}),
        "unexpected_values": dg.MetadataValue.json(
            {r.label: r.unexpected_values for r in failed if r.unexpected_values}
        ),
        "errors": dg.MetadataValue.json(
            {r.label: r.observed["exception"] for r in failed if "exception" in r.observed}
        ),
        "results": dg.MetadataValue.json([r.to_dict() for r in result.results]),
    }


def _describe(result: SuiteResult) -> str:
    failed = result.failed
    if not failed:
        return f"{len(result.results)} expectations passed on {result.n_rows} rows"
    parts = []
    for r in failed:
        n = (
            r.unexpected_count
            if r.unexpected_count is not None
            else ("error" if "exception" in r.observed else "failed")
        )
        parts.append(f"{r.label} [{n}]")
    return f"{len(failed)} of {len(result.results)} expectations failed on {result.n_rows} rows: " + ", ".join(parts)


def check_result(
    result: SuiteResult,
    *,
    blocking: bool = False,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
) -> dg.AssetCheckResult:
    """``AssetCheckResult`` for a suite result (severity ERROR when ``blocking``, else WARN).

    ``asset_key``/``check_name`` are needed only when one op emits several checks (multi-asset checks).
    """
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata=check_metadata(result),
        description=_describe(result),
        asset_key=asset_key,
        check_name=check_name,
    )


def _n_rows(table: pa.Table | pd.DataFrame) -> int:
    return table.num_rows if isinstance(table, pa.Table) else len(table)


EMPTY_REASON = "empty_reason"  # the materialization metadata an asset writes when it produced no rows


def empty_check_result(
    asset: str, table: Any, *, reason: str = "", asset_key: dg.AssetKey | None = None, check_name: str | None = None
) -> dg.AssetCheckResult | None:
    """The failing result of a check whose input has no rows (policy: ``quality/empty.py``); None when the
    input has rows or the asset may be empty."""
    if _n_rows(table) or not asset:
        return None
    policy, why = empty_policy(asset)
    if policy != ERROR:  # warn: the asset's non-blocking HAS_ROWS check says EMPTY (rows_checks); allow: fine
        return None
    text = f"EMPTY: {asset} has 0 rows" + (f" ({reason})" if reason else "") + f"; {policy}: {why}"
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR if policy == ERROR else dg.AssetCheckSeverity.WARN,
        description=text,
        metadata={
            "n_rows": dg.MetadataValue.int(0),
            "empty": True,
            "empty_policy": policy,
            "why": why,
            **({EMPTY_REASON: dg.MetadataValue.text(reason)} if reason else {}),
        },
        asset_key=asset_key,
        check_name=check_name,
    )


def materialization_empty_reason(context: Any, asset_key: dg.AssetKey, partition: str | None) -> str:
    """The ``empty_reason`` the asset's latest materialization (of ``partition``) recorded, or ""."""
    try:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
        ).records
        md = records[0].asset_materialization.metadata if records else {}
        return str(md[EMPTY_REASON].value) if EMPTY_REASON in md else ""
    except Exception:  # noqa: BLE001 - a reason is a nicety; the empty verdict does not depend on it
        return ""


def gx_check_result(
    value: Any,
    *,
    suite: Callable[[], list] | list,
    rules: Iterable[RowRule] = (),
    blocking: bool = False,
    asset_key: dg.AssetKey | str | Sequence[str] | None = None,
    check_name: str | None = None,
    suite_name: str | None = None,
    id_col: str | None = DEFAULT_ID_COL,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
) -> dg.AssetCheckResult:
    """Validate ``value`` and return the ``AssetCheckResult``: for ``@dg.multi_asset_check`` or an asset
    with ``check_specs`` (pair with :func:`gx_check_spec`)."""
    key = None if asset_key is None else dg.AssetKey.from_coercible(asset_key)
    items = [*(suite() if callable(suite) else suite), *rules]
    name = suite_name or ".".join(x for x in (key.to_user_string() if key else None, check_name) if x) or "suite"
    table = as_table(value)
    asset = key.to_user_string() if key else (suite_name or "").split(".", 1)[0]
    empty = empty_check_result(asset, table, asset_key=key, check_name=check_name)
    if empty is not None:
        return empty
    result = validate_table(table, items, name, id_col=id_col, max_examples=max_examples)
    return check_result(result, blocking=blocking, asset_key=key, check_name=check_name)


def gx_check_spec(
    asset: Any, name: str, *, blocking: bool = False, description: str = "", partitions_def: Any = None
) -> dg.AssetCheckSpec:
    """``AssetCheckSpec`` for a check whose result comes from :func:`gx_check_result`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name,
            asset=_asset_arg(asset),
            blocking=blocking,
            description=description or None,
            partitions_def=partitions_def,
        )


def _asset_arg(asset: Any) -> Any:
    return asset.key if isinstance(asset, dg.AssetSpec) else asset


def range_keys(context: Any, partitions_def: Any) -> list[str] | None:
    """The partitions of a range run a partitioned check must evaluate one by one (None: a normal run)."""
    if partitions_def is None or context.has_partition_key or not context.has_partition_key_range:
        return None
    return list(context.partition_keys)


def partition_tables(value: Any, keys: Sequence[str]) -> dict[str, Any]:
    """``{partition: table}`` of a check input loaded for ``keys``."""
    if isinstance(value, Mapping):
        return {k: value[k] for k in keys}
    if len(keys) == 1:
        return {keys[0]: value}
    if isinstance(value, pa.Table):
        parts = split_partitions(value)
        return {k: parts[k] for k in keys}
    raise TypeError(f"cannot split a {type(value).__name__} into partitions {list(keys)}")


def partition_evaluation(
    context: Any, result: dg.AssetCheckResult, asset_key: dg.AssetKey, check_name: str, partition: str, blocking: bool
) -> dg.AssetCheckEvaluation:
    """The evaluation of one partition, pointing at that partition's latest materialization."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=records[0].storage_id, run_id=records[0].run_id, timestamp=records[0].timestamp
        )
        if records
        else None
    )
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=check_name,
        passed=result.passed,
        metadata=result.metadata,
        target_materialization_data=target,
        severity=result.severity,
        description=result.description,
        blocking=blocking,
        partition=partition,
    )


def _partitions_of(asset: Any) -> dg.PartitionsDefinition | None:
    if isinstance(asset, (dg.AssetsDefinition, dg.AssetSpec, dg.SourceAsset)):
        return asset.partitions_def
    return None


def gx_asset_check(
    *,
    asset: Any,
    name: str,
    suite: Callable[[], list],
    rules: Iterable[RowRule] = (),
    blocking: bool = False,
    description: str = "",
    partitions_def: dg.PartitionsDefinition | None = _INHERIT,
    id_col: str | None = DEFAULT_ID_COL,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    metadata: Mapping[str, Any] | None = None,
    streamed: bool = False,
) -> dg.AssetChecksDefinition:
    """An asset check named ``name`` on ``asset`` that validates the asset's table with ``suite() + rules``.

    ``streamed=True``: the check asks the lake IO manager for the published partition in record batches
    (``resources.lake.BATCHED_INPUT_TAG``) and validates it with ``quality.batched.validate_batches``: the same
    verdict, counts and metadata as the whole table, one batch in memory at a time (uniqueness and other
    expectations that cannot be merged read their own columns whole). An IO manager that returns a table gets the
    whole-table validation, as before.

    ``suite`` is called at each check run (fresh GX expectation objects; it may return row rules too).
    ``blocking=True``: a failure has severity ERROR and, per Dagster, downstream assets in the same run
    do not execute (the check step fails with ``DagsterAssetCheckFailedError``); otherwise severity WARN.
    ``partitions_def`` defaults to the asset's (see the module docstring). An input with no rows fails
    the check with severity ERROR when ``quality/empty.py`` says the asset must never be empty.
    """
    rules = tuple(rules)
    if not callable(suite):
        raise TypeError("suite must be a callable returning a list of expectations")
    asset_key = dg.AssetKey.from_coercible_or_definition(_asset_arg(asset))
    if partitions_def is _INHERIT:
        partitions_def = _partitions_of(asset)
    suite_name = f"{asset_key.to_user_string()}.{name}"

    def _validate(context, table, part: str, partition: str | None = None) -> dg.AssetCheckResult:
        lazy = batch_source(table)
        if lazy is not None:
            source, schema = lazy
            result = validate_batches(
                source, schema, [*suite(), *rules], suite_name, id_col=id_col, max_examples=max_examples
            )
            table = schema.empty_table() if not result.n_rows else None
            if table is not None:
                empty = empty_check_result(
                    asset_key.to_user_string(),
                    table,
                    reason=materialization_empty_reason(context, asset_key, partition),
                )
                if empty is not None:
                    context.log.warning(f"{suite_name}{part}: {empty.description}")
                    return empty
            (context.log.info if result.success else context.log.warning)(f"{suite_name}{part}: {_describe(result)}")
            return check_result(result, blocking=blocking)
        table = as_table(table)
        if not _n_rows(table):
            empty = empty_check_result(
                asset_key.to_user_string(), table, reason=materialization_empty_reason(context, asset_key, partition)
            )
            if empty is not None:
                context.log.warning(f"{suite_name}{part}: {empty.description}")
                return empty
        result = validate_table(table, [*suite(), *rules], suite_name, id_col=id_col, max_examples=max_examples)
        (context.log.info if result.success else context.log.warning)(f"{suite_name}{part}: {_describe(result)}")
        return check_result(result, blocking=blocking)

    def _check(context, table):
        keys = range_keys(context, partitions_def)
        if keys is None:
            pk = context.partition_key if context.has_partition_key else None
            yield _validate(context, table, f" [partition {pk}]" if pk else "", pk)
            return
        for key, part in partition_tables(table, keys).items():  # a backfill range: one evaluation per partition
            result = _validate(context, part, f" [partition {key}]", key)
            yield partition_evaluation(context, result, asset_key, name, key, blocking)
        yield dg.Output(None)

    _check.__name__ = f"{asset_key.to_python_identifier()}_{name}"

    with warnings.catch_warnings():
        # partitions_def on asset checks is a Dagster preview feature (1.13): known and intended here.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        decorator = dg.asset_check(
            asset=_asset_arg(asset),
            name=name,
            blocking=blocking,
            description=description or f"Great Expectations suite {suite_name}",
            metadata=metadata,
            partitions_def=partitions_def,
            op_tags={BATCHED_INPUT_TAG: BATCHES} if streamed else None,
        )
        return decorator(_check)


def rows_checks(assets: Iterable[Any]) -> list[dg.AssetChecksDefinition]:
    """The non-blocking ``has_rows`` check of every asset in ``assets`` whose empty policy is ``warn``
    (``quality/empty.py``): it fails with severity WARN when the materialized partition has no rows, and
    quotes the asset's ``empty_reason``. It reads the row count the materialization recorded (nothing is
    loaded). Non-blocking on purpose: an empty seed set must not stop the automation of the rest."""
    from quality.empty import WARN

    out = []
    for a in assets:
        if not isinstance(a, dg.AssetsDefinition) or not a.is_materializable:
            continue
        for key in a.keys:
            if empty_policy(key.to_user_string())[0] == WARN:
                out.append(_rows_check(key, a.partitions_def))
    return out


def rows_result(asset: str, rows: int | None, reason: str = "") -> dg.AssetCheckResult:
    """``has_rows``: fails (WARN) on 0 rows, or when no row count was recorded."""
    why = empty_policy(asset)[1]
    if rows:
        return dg.AssetCheckResult(passed=True, description=f"{rows} rows", metadata={"rows": rows})
    text = (
        f"EMPTY: {asset} has 0 rows" + (f" ({reason})" if reason else "") + f"; warn: {why}"
        if rows == 0
        else f"{asset}: no row count recorded"
    )
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=text,
        metadata={
            "rows": rows if rows is not None else -1,
            "empty": rows == 0,
            **({EMPTY_REASON: dg.MetadataValue.text(reason)} if reason else {}),
        },
    )


def _rows_check(asset_key: dg.AssetKey, partitions_def) -> dg.AssetChecksDefinition:
    name = asset_key.to_user_string()

    def _one(context, partition: str | None) -> dg.AssetCheckResult:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
        ).records
        md = records[0].asset_materialization.metadata if records else {}
        rows = int(md["dagster/row_count"].value) if "dagster/row_count" in md else None
        reason = str(md[EMPTY_REASON].value) if EMPTY_REASON in md else ""
        result = rows_result(name, rows, reason)
        if not result.passed:
            context.log.warning(
                f"{name}.{HAS_ROWS}{f' [partition {partition}]' if partition else ''}: {result.description}"
            )
        return result

    def _check(context):
        keys = range_keys(context, partitions_def)
        if keys is None:
            yield _one(context, context.partition_key if context.has_partition_key else None)
            return
        for key in keys:
            yield partition_evaluation(context, _one(context, key), asset_key, HAS_ROWS, key, False)
        yield dg.Output(None)

    _check.__name__ = f"{asset_key.to_python_identifier()}_{HAS_ROWS}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.asset_check(
            asset=asset_key,
            name=HAS_ROWS,
            blocking=False,
            partitions_def=partitions_def,
            description=f"{name} produced rows (non-blocking; EMPTY with its reason otherwise: quality/empty.py)",
        )(_check)
