"""Record-level lineage: content-derived ids, a Parquet writer safe in parallel processes, a DuckDB index."""

from resources.lineage.ids import record_id, source_id
from resources.lineage.store import LineageStore, UnknownRecord, format_impact, format_trace
from resources.lineage.writer import LineageWriter, table_data_version

__all__ = [
    "LineageWriter",
    "LineageStore",
    "UnknownRecord",
    "format_impact",
    "format_trace",
    "record_id",
    "source_id",
    "table_data_version",
]
