"""Dagster IO manager over the lake: stores ``pyarrow.Table`` outputs and captures lineage.

``handle_output`` writes the table atomically to ``<lake>/<asset>/<partition>/data.parquet``,
then writes the lineage rows of the materialization through the one lineage writer
(records, edges, sources, LLM generations; the materialization row last as a commit
marker), then attaches row count, path, data version and a preview to the
materialization metadata. Anything that is not a ``pyarrow.Table`` is refused:
no pickles in this lake.
"""

from __future__ import annotations

import time

import dagster as dg
import pyarrow as pa

from resources.lake import Lake, default_lake_root
from resources.lineage.schema import RECORD_ID, UNPARTITIONED
from resources.lineage.writer import LineageWriter, table_data_version

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 80


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


class LakeIOManager(dg.ConfigurableIOManager):
    """Parquet-in-the-lake storage for every asset, with record-level lineage capture."""

    root: str = ""
    # Record-level lineage capture; off only to measure its cost (benchmarks/lineage_capture.py).
    capture_lineage: bool = True

    def lake(self) -> Lake:
        return Lake(self.root or default_lake_root())

    @staticmethod
    def _partition(context) -> str:
        return context.asset_partition_key if context.has_asset_partitions else UNPARTITIONED

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        if obj is None:
            return
        if not isinstance(obj, pa.Table):
            raise TypeError(
                f"asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "the lake stores pyarrow.Table only (never pickles)"
            )
        if RECORD_ID not in obj.column_names:
            raise ValueError(f"asset {context.asset_key.to_user_string()} has no {RECORD_ID!r} column")
        lake = self.lake()
        asset = asset_name(context.asset_key)
        partition = self._partition(context)
        path = lake.write_asset(asset, partition, obj)
        t0 = time.perf_counter()
        data_version = table_data_version(obj)
        if self.capture_lineage:
            LineageWriter(lake.lineage_root).write_materialization(
                asset=asset,
                partition=partition,
                run_id=context.run_id,
                data_version=data_version,
                code_version=context.asset_spec.code_version or "",
                table=obj,
                data_path=lake.url(path),
            )
        context.add_output_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(obj.num_rows),
                "path": dg.MetadataValue.path(lake.url(path)),
                "data_version": dg.MetadataValue.text(data_version),
                "lineage_capture_s": dg.MetadataValue.float(round(time.perf_counter() - t0, 4)),
                "preview": dg.MetadataValue.md(preview_markdown(obj)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        lake = self.lake()
        asset = asset_name(context.asset_key)
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            return lake.read_partitions(asset, keys)
        return lake.read_table(asset, UNPARTITIONED)
