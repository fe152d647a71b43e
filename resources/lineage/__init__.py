"""Record-level lineage: content-derived ids, a Parquet writer safe in parallel processes, a DuckDB index."""

from .ids import record_id, source_id
from .store import LineageStore, UnknownRecord, format_impact, format_trace
from .writer import LineageWriter, table_data_version

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
