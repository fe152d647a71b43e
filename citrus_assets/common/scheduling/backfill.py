"""Single-run backfills of partitioned assets: one run, many partitions, each still written on its own.

With ``backfill_policy=dg.BackfillPolicy.single_run()`` a backfill over N partitions is ONE run whose context
covers a key range (``context.partition_keys``; ``context.partition_key`` raises). The asset runs its
per-partition logic once per key through :func:`per_partition`, which tags every row with the reserved
column ``PARTITION_COLUMN`` and returns one table; ``LakeIOManager.handle_output`` splits on that column and
writes each partition's ``data.parquet``, lineage and data version as if it had been run alone (a key with
no rows gets an empty table). In a run for one partition nothing changes: no column, the metadata as before.

Metadata in a range run: each partition's own metadata (what ``fn`` returns) is partition-scoped
(``context.add_asset_metadata(..., partition_key=key)``), so every materialization event shows its own
funnel; the run-level summary goes to all of them. Dagster 1.13 gives every partition of one output the same
``dagster/data_version`` tag (``Output.data_version`` is per output); the per-partition content hash is the
``data_version`` metadata entry and the lineage materialization row.

Asset checks with the asset's ``partitions_def`` run once for the whole range; ``quality.checks``
validates each partition separately and records one evaluation per partition (see there).
"""

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import pyarrow as pa

from citrus_assets.common.metadata import output
from resources.lake_io import PARTITION_COLUMN

__all__ = ["PARTITION_COLUMN", "partition_keys", "per_partition", "single_run"]

# The policy every inbox-partitioned source asset uses: a backfill over many partitions is one run.
single_run = dg.BackfillPolicy.single_run
# `backfill_policy=` is marked beta in Dagster 1.13; we rely on it knowingly (only that warning is silenced).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The partitions this run materializes: one key, or every key of a backfill's range."""
    return list(context.partition_keys)


def per_partition(
    context: dg.AssetExecutionContext,
    fn: Callable[[str], tuple[pa.Table, Mapping[str, Any]]],
    summary: Callable[[dict[str, Mapping[str, Any]]], Mapping[str, Any]] | None = None,
) -> dg.Output:
    """Run ``fn(partition) -> (table, metadata)`` for every partition of the run and return one output.

    One partition: ``output(table, **metadata)`` exactly as a per-partition asset. Several: the tables with
    ``PARTITION_COLUMN`` added, concatenated; each partition's metadata attached to its own materialization;
    ``summary({partition: metadata})`` (optional) gives run-level metadata shown on all of them.
    """
    keys = partition_keys(context)
    if len(keys) == 1:
        table, metadata = fn(keys[0])
        return output(table, **metadata)
    tables, metadata_by_key = [], {}
    for key in keys:
        table, metadata = fn(key)
        context.log.info(f"partition {key}: {table.num_rows} rows")
        context.add_asset_metadata(dict(metadata), partition_key=key)
        metadata_by_key[key] = metadata
        tables.append(table.append_column(PARTITION_COLUMN, pa.array([key] * table.num_rows, pa.string())))
    combined = pa.concat_tables(tables, promote_options="permissive")
    extra = dict(summary(metadata_by_key)) if summary else {}
    return output(combined, backfill_range=f"{keys[0]}..{keys[-1]}", **extra)
