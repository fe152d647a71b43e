"""Dagster IO manager over the lake: stores ``pyarrow.Table`` outputs and captures lineage.

``handle_output`` writes each partition through the one commit protocol (``resources/lineage/commit.py``):
the table is staged under a hidden name, its lineage rows and then its lineage commit (the materialization
row) are written through the one lineage writer, and only then is it published as
``<lake>/<asset>/<partition>/data.parquet``; the commit is the single point that makes the version visible.
Row count, path, data version and a preview go to the materialization metadata. ``load_input`` reads only
data that a lineage commit names (``read_committed``). A ``StagedParquet`` (chunk files on local disk, e.g.
``reasoning_traces``) is accepted too and streamed batch by batch into the same files (``_write_staged``), so
memory stays flat in partition size. Anything else is refused: no pickles in this lake.

Single-run backfills: when one run covers several partitions of an asset (``BackfillPolicy.single_run()``),
the asset returns ONE table with the reserved column ``PARTITION_COLUMN`` naming each row's partition
(``citrus_assets.common.scheduling.backfill.per_partition`` adds it). ``handle_output`` splits on it and writes every
partition of the run as if it had been materialized alone: its own ``data.parquet`` (an empty table with
the schema for a partition without rows), its own lineage materialization and data version, and
partition-scoped metadata (row count, path, data version, preview). The column is never stored.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from resources.lake import BATCHED_INPUT_TAG, BATCHES, Lake, StagedParquet, default_lake_root, without_partition_rows
from resources.lineage.commit import CommittedBatches, committed_batches, publish_partition, read_committed
from resources.lineage.data_version import DataVersionBuilder
from resources.lineage.schema import RECORD_ID, SOURCE_URI, UNPARTITIONED
from resources.lineage.settings import browser_link
from resources.lineage.writer import LineageWriter, table_data_version
from resources.retraction import RETRACTIONS_DIR, RetractionFilter, near_retracted

# Reserved column: the partition of each row when one output covers several partitions (never stored).
PARTITION_COLUMN = "_partition"
PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 80
LINEAGE_SAMPLE_ROWS = 3  # records linked to their trace page in the lineage browser


INPUT_BATCH_ROWS = 2_000  # rows per record batch of such an input (the chain's chunk size)


def wants_batches(context: dg.InputContext) -> bool:
    """Whether the op loading this input asked for ``CommittedBatches`` (its ``BATCHED_INPUT_TAG`` tag)."""
    try:
        tags = context.op_def.tags or {}
    except Exception:  # noqa: BLE001 - an input context built without an op (tests): a table
        return False
    return tags.get(BATCHED_INPUT_TAG) == BATCHES


def asset_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def preview_markdown(table: pa.Table, rows: int = PREVIEW_ROWS, cell_chars: int = PREVIEW_CELL_CHARS) -> str:
    """The first rows of a table as a Markdown table, cells shortened."""
    if table.num_rows == 0:
        return "_empty_"
    head = table.slice(0, rows).to_pylist()
    cols = table.column_names

    def cell(v) -> str:
        s = str(v).replace("\n", " ").replace("|", "\\|")
        return s if len(s) <= cell_chars else s[: cell_chars - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in head]
    return "\n".join(lines)


def lineage_links(asset: str, partition: str, table: pa.Table, rows: int = LINEAGE_SAMPLE_ROWS) -> dict:
    """Metadata linking a materialization to the lineage browser (``citrus lineage serve``; base URL from
    ``$CITRUS_LINEAGE_BROWSER_URL``): its partition's page, and a few records with their trace links."""
    ids = table.column(RECORD_ID).slice(0, rows).to_pylist()
    sample = "\n".join(f"- [{rid}]({browser_link('record', id=rid)})" for rid in ids if rid) or "_empty_"
    return {
        "lineage": dg.MetadataValue.url(browser_link("partition", asset=asset, partition=partition)),
        "lineage_sample": dg.MetadataValue.md(sample),
    }


def split_output(table: pa.Table, keys: list[str], asset: str = "asset") -> dict[str, pa.Table]:
    """``{partition: rows}`` of an output covering ``keys``, the ``PARTITION_COLUMN`` dropped.

    One key: the whole table (a ``PARTITION_COLUMN``, if present, must name only that key). Several keys: the
    column is required and may name only those keys; a key without rows gets an empty table with the schema.
    """
    if PARTITION_COLUMN not in table.column_names:
        if len(keys) > 1:
            raise ValueError(
                f"{asset} returned one table for {len(keys)} partitions without a {PARTITION_COLUMN!r} column "
                "(build it with citrus_assets.common.scheduling.backfill.per_partition)"
            )
        return {keys[0]: table}
    column = table.column(PARTITION_COLUMN)
    unknown = set(pc.unique(column).to_pylist()) - set(keys)
    if unknown:
        raise ValueError(f"{asset} returned rows for partitions {sorted(map(str, unknown))} outside this run {keys}")
    data = table.drop_columns([PARTITION_COLUMN])
    if len(keys) == 1:
        return {keys[0]: data}
    return {key: data.filter(pc.equal(column, key)) for key in keys}


class RunNotLiveError(RuntimeError):
    """The step's run is finished or being canceled: its output must not be published or committed."""


# A step may publish only while its run is live. FAILURE/CANCELED/SUCCESS: the run worker died or the run was
# ended (a step orphaned by a kill -9 of its run worker finishes later, racing a re-run); CANCELING: stop now.
DEAD_RUN_STATUSES = frozenset(
    {
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.CANCELING,
    }
)


def run_fence(context: dg.OutputContext) -> dg.DagsterRunStatus | None:
    """Fence a commit by its run: raise ``RunNotLiveError`` when the instance says the step's run is no longer
    live (``DEAD_RUN_STATUSES``); returns the status read (None without an instance or a stored run, e.g. an
    output context built by a test). One ``get_run_by_id`` per call. The lineage commit records the run id
    (its ``run_id`` column and file name), so a commit can always be traced to the run that made it."""
    try:
        instance = context.step_context.instance
    except dg.DagsterInvariantViolationError:  # no step context: nothing to fence against
        return None
    run = instance.get_run_by_id(context.run_id)
    if run is None:
        return None
    if run.status in DEAD_RUN_STATUSES:
        raise RunNotLiveError(
            f"run {context.run_id} is {run.status.value}: output {context.asset_key.to_user_string()} of step "
            f"{context.step_key} is not published or committed (a step outliving its run must not commit; "
            "re-run the partition instead)"
        )
    return run.status


def run_is_dead(context: dg.OutputContext):
    """``run_id -> bool``: whether a run can no longer commit (unknown to the instance, or in ``DEAD_RUN_STATUSES``),
    for the clean-up of its uncommitted lineage files; None without an instance (those files are then left)."""
    try:
        instance = context.step_context.instance
    except dg.DagsterInvariantViolationError:
        return None

    def dead(run_id: str) -> bool:
        if run_id == context.run_id:
            return False
        run = instance.get_run_by_id(run_id)
        return run is None or run.status in DEAD_RUN_STATUSES

    return dead


class LakeIOManager(dg.ConfigurableIOManager):
    """Parquet-in-the-lake storage for every asset, with record-level lineage capture."""

    root: str = ""
    # Record-level lineage capture; off only to measure its cost (benchmarks/lineage_capture.py).
    capture_lineage: bool = True

    def lake(self) -> Lake:
        return Lake(self.root or default_lake_root())

    def handle_output(self, context: dg.OutputContext, obj: pa.Table | StagedParquet) -> None:
        if obj is None:
            return
        if isinstance(obj, StagedParquet):
            self._handle_staged(context, obj)
            return
        if not isinstance(obj, pa.Table):
            raise TypeError(
                f"asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "the lake stores pyarrow.Table only (never pickles)"
            )
        if RECORD_ID not in obj.column_names:
            raise ValueError(f"asset {context.asset_key.to_user_string()} has no {RECORD_ID!r} column")
        obj = without_partition_rows(obj)
        run_fence(context)  # one instance query per output, before anything of it is published
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
        parts = split_output(obj, keys, context.asset_key.to_user_string())
        if len(keys) == 1:
            context.add_output_metadata(self._write(context, keys[0], parts[keys[0]]))
            return
        rows = {}
        for key in keys:  # every partition of the run, also those without rows
            md = self._write(context, key, parts[key])
            rows[key] = parts[key].num_rows
            context.step_context.add_asset_metadata(md, partition_key=key)  # partition-scoped metadata
        context.add_output_metadata(
            {
                "backfill_partitions": dg.MetadataValue.int(len(keys)),
                "backfill_rows": dg.MetadataValue.int(obj.num_rows),
                "rows_per_partition": dg.MetadataValue.json(rows),
            }
        )

    def _handle_staged(self, context: dg.OutputContext, staged: StagedParquet) -> None:
        """A ``StagedParquet`` output (one partition): streamed into the lake batch by batch, never one table."""
        name = context.asset_key.to_user_string()
        if RECORD_ID not in staged.schema.names:
            raise ValueError(f"asset {name} has no {RECORD_ID!r} column")
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
        if len(keys) > 1 or PARTITION_COLUMN in staged.schema.names:
            raise ValueError(f"{name}: a StagedParquet output covers one partition (return a table for a backfill run)")
        if SOURCE_URI in staged.schema.names:  # near-retracted detection compares whole sources: table path
            self.handle_output(context, staged.read_all())
            return
        run_fence(context)
        context.add_output_metadata(self._write_staged(context, keys[0], staged))
        if staged.cleanup:
            shutil.rmtree(staged.cleanup, ignore_errors=True)  # published: the chunks are no longer needed

    def _write_staged(self, context: dg.OutputContext, key: str, staged: StagedParquet) -> dict:
        """``_write`` for a ``StagedParquet``: the retraction filter, the data version (``DataVersionBuilder``:
        the value ``table_data_version`` gives the whole table) and the commit protocol, batch by batch."""
        lake = self.lake()
        asset = asset_name(context.asset_key)
        retraction = RetractionFilter(lake)
        staged = replace(staged, row_filter=lambda t: retraction.apply(t).table)
        version = DataVersionBuilder(staged.schema.names)
        total = kept = 0
        for t in replace(staged, row_filter=None).tables([RECORD_ID]):
            total += t.num_rows
            t = retraction.apply(t).table
            kept += t.num_rows
            version.update(t)
        data_version, dropped = version.hexdigest(), total - kept
        if dropped:
            context.log.warning(
                f"{asset} [{key}]: {dropped} rows of retracted sources dropped "
                f"(citrus retract; {RETRACTIONS_DIR}/ in the lake)"
            )
        writer = LineageWriter(lake.lineage_root) if self.capture_lineage else None
        published = publish_partition(
            lake,
            writer,
            asset=asset,
            partition=key,
            table=staged,
            run_id=context.run_id,
            code_version=context.asset_spec.code_version or "",
            data_version=data_version,
            run_is_dead=run_is_dead(context),
        )
        if published.cleanup.count:
            context.log.warning(f"{asset} [{key}]: cleaned up after an interrupted write: {published.cleanup}")
        head = staged.head(max(PREVIEW_ROWS, LINEAGE_SAMPLE_ROWS))
        return {
            "dagster/row_count": dg.MetadataValue.int(kept),
            "path": dg.MetadataValue.path(lake.url(published.path)),
            "data_version": dg.MetadataValue.text(data_version),
            "lineage_capture_s": dg.MetadataValue.float(round(published.lineage_s, 4)),
            **(
                {"interrupted_write_files_removed": dg.MetadataValue.int(published.cleanup.count)}
                if published.cleanup.count
                else {}
            ),
            "preview": dg.MetadataValue.md(preview_markdown(head)),
            **({"retracted_rows": dg.MetadataValue.int(dropped)} if dropped else {}),
            **(lineage_links(asset, key, head) if self.capture_lineage else {}),
            **lake.quarantine_metadata(asset, key),
        }

    def _write(self, context: dg.OutputContext, key: str, table: pa.Table) -> dict:
        """Write one partition's table and its lineage; returns that partition's metadata."""
        lake = self.lake()
        asset = asset_name(context.asset_key)
        near = near_retracted(lake, asset, table)  # a near-copy of a retracted file (all its rows): warned, counted
        retracted = RetractionFilter(lake).apply(table)  # retracted sources never re-enter the lake
        table = retracted.table
        if retracted.dropped:
            context.log.warning(
                f"{asset} [{key}]: {retracted.dropped} rows of retracted sources dropped "
                f"(citrus retract; {RETRACTIONS_DIR}/ in the lake)"
            )
        for hit in near:
            context.log.warning(
                f"{asset} [{key}]: source {hit['source']} is a near-duplicate (Jaccard ~{hit['jaccard']}) "
                f"of retracted {hit['retracted_source']} (retraction {hit['retraction']})"
            )
        data_version = table_data_version(table)
        writer = LineageWriter(lake.lineage_root) if self.capture_lineage else None
        # The commit protocol (resources/lineage/commit.py): stage, lineage rows, commit, publish; the lineage
        # commit is what makes the partition's new version visible. A write killed before it leaves nothing visible.
        published = publish_partition(
            lake,
            writer,
            asset=asset,
            partition=key,
            table=table,
            run_id=context.run_id,
            code_version=context.asset_spec.code_version or "",
            data_version=data_version,
            run_is_dead=run_is_dead(context),
        )
        path, cleanup = published.path, published.cleanup
        if cleanup.count:
            context.log.warning(f"{asset} [{key}]: cleaned up after an interrupted write: {cleanup}")
        return {
            "dagster/row_count": dg.MetadataValue.int(table.num_rows),
            "path": dg.MetadataValue.path(lake.url(path)),
            "data_version": dg.MetadataValue.text(data_version),
            "lineage_capture_s": dg.MetadataValue.float(round(published.lineage_s, 4)),
            **({"interrupted_write_files_removed": dg.MetadataValue.int(cleanup.count)} if cleanup.count else {}),
            "preview": dg.MetadataValue.md(preview_markdown(table)),
            **({"retracted_rows": dg.MetadataValue.int(retracted.dropped)} if retracted.dropped else {}),
            **({"near_retracted_sources": dg.MetadataValue.json(near)} if near else {}),
            **(lineage_links(asset, key, table) if self.capture_lineage else {}),
            **lake.quarantine_metadata(asset, key),  # the quarantine the asset wrote for this partition
        }

    def load_input(self, context: dg.InputContext) -> pa.Table | CommittedBatches | dict[str, CommittedBatches]:
        lake = self.lake()
        asset = asset_name(context.asset_key)
        retraction = RetractionFilter(lake)
        if wants_batches(context):  # read lazily, batch by batch, by the consumer (a streamed asset check)
            parts = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
            lazy = {
                p: committed_batches(
                    lake, asset, p, row_filter=lambda t: retraction.apply(t).table, batch_rows=INPUT_BATCH_ROWS
                )
                for p in parts
            }
            return lazy[parts[0]] if len(parts) == 1 else lazy
        dropped = 0

        def keep(table: pa.Table) -> pa.Table:
            nonlocal dropped
            f = retraction.apply(table)
            dropped += f.dropped
            return f.table

        writer = LineageWriter(lake.lineage_root)

        def read(name: str, partition: str | None) -> pa.Table:  # committed data only (roll-forward included)
            return read_committed(lake, name, partition, writer)

        if context.has_asset_partitions:
            table = lake.read_partitions(asset, list(context.asset_partition_keys), row_filter=keep, read=read)
        else:
            table = keep(read(asset, UNPARTITIONED))
        if dropped:
            context.log.warning(f"input {asset}: {dropped} retracted rows left out")
        return table
