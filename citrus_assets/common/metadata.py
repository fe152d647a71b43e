"""Small helpers every asset uses to return its table with a data version and metadata."""

import warnings

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from resources.lake import StagedParquet
from resources.lineage.writer import table_data_version
from resources.llm.cache import take_repairs


def value_counts(table: pa.Table, column: str) -> dict:
    """``{value: count}`` of one column (empty for an empty table)."""
    if not table.num_rows:
        return {}
    return {d["values"]: d["counts"] for d in pc.value_counts(table[column]).to_pylist()}


def output(table: pa.Table | StagedParquet, **metadata) -> dg.Output:
    """The asset's table with its content-derived data version (what staleness and lineage key on).
    A damaged LLM request cache repaired while computing it is reported as ``llm_cache_repairs``."""
    repairs = take_repairs()
    if repairs:
        metadata = {**metadata, "llm_cache_repairs": dg.MetadataValue.json(repairs)}
    with warnings.catch_warnings():  # Output(data_version=...) is marked beta in Dagster 1.13; we rely on it knowingly
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        version = table.data_version() if isinstance(table, StagedParquet) else table_data_version(table)
        return dg.Output(table, data_version=dg.DataVersion(version), metadata=metadata)
