"""Column and table names shared by every asset, the lineage writer and the store."""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa

# Columns every asset table carries.
RECORD_ID = "record_id"
PARENT_IDS = "parent_ids"  # list<string>: ids of the records this one was made from
PARENT_ID = "parent_id"  # lineage files only: parent_ids stored flat when every record has exactly one

# Columns of records read straight from an input file: their parent_ids are source ids.
SOURCE_URI = "source_uri"
SOURCE_LOCATOR = "source_locator"  # e.g. "line 12", "page 3-4", "warc record 7"

# Columns of records made by an LLM (all optional, all-or-nothing).
GEN_MODEL_ID = "gen_model_id"
GEN_MODEL_REVISION = "gen_model_revision"
GEN_PROMPT_TEMPLATE = "gen_prompt_template"
GEN_PROMPT_HASH = "gen_prompt_hash"
GEN_SAMPLING = "gen_sampling"  # canonical JSON of the sampling parameters
GEN_PROMPT_TOKENS = "gen_prompt_tokens"
GEN_COMPLETION_TOKENS = "gen_completion_tokens"
GEN_COLUMNS = (
    GEN_MODEL_ID,
    GEN_MODEL_REVISION,
    GEN_PROMPT_TEMPLATE,
    GEN_PROMPT_HASH,
    GEN_SAMPLING,
    GEN_PROMPT_TOKENS,
    GEN_COMPLETION_TOKENS,
)

# Pseudo-asset name for input-file units in the lineage graph.
SOURCE_ASSET = "source"
# Partition name of unpartitioned assets.
UNPARTITIONED = "__all__"

# Lineage tables (one folder each under the lineage root).
T_MATERIALIZATIONS = "materializations"
T_RECORD_LINEAGE = "record_lineage"
T_RECORDS = "records"
T_EDGES = "edges"
T_GENERATIONS = "generations"
T_SOURCES = "sources"
T_CHECKPOINT_INPUTS = "checkpoint_inputs"
# Logical lineage tables: index tables of the store and ``v_*`` views, whatever layout the files have.
LOGICAL_TABLES = (T_RECORDS, T_EDGES, T_SOURCES, T_GENERATIONS)
# Files written per materialization before its commit marker (the materializations row). The writer writes
# one ``record_lineage`` file (the lineage columns of the asset table, one row per record); lakes written by
# earlier versions hold one file per logical table instead (``LEGACY_DATA_TABLES``), still read by the store.
LEGACY_DATA_TABLES = LOGICAL_TABLES
MATERIALIZATION_DATA_TABLES = (T_RECORD_LINEAGE, *LEGACY_DATA_TABLES)
LINEAGE_TABLES = (T_MATERIALIZATIONS, *MATERIALIZATION_DATA_TABLES, T_CHECKPOINT_INPUTS)
# Tables whose files are their own commit unit.
COMMIT_TABLES = (T_MATERIALIZATIONS, T_CHECKPOINT_INPUTS)

# The generation columns of an LLM-made asset table, with their types (assets build their schemas from this).
GEN_FIELDS: list[tuple[str, pa.DataType]] = [
    (GEN_MODEL_ID, pa.string()),
    (GEN_MODEL_REVISION, pa.string()),
    (GEN_PROMPT_TEMPLATE, pa.string()),
    (GEN_PROMPT_HASH, pa.string()),
    (GEN_SAMPLING, pa.string()),
    (GEN_PROMPT_TOKENS, pa.int64()),
    (GEN_COMPLETION_TOKENS, pa.int64()),
]


class ModelIdentity(Protocol):
    """What ``gen_columns`` reads of the model: the LLM resource and ``LLMClient`` both have it."""

    @property
    def model_id(self) -> str: ...

    @property
    def model_revision(self) -> str: ...


def gen_columns(
    model: ModelIdentity,
    *,
    template: str,
    prompt_hash: str,
    sampling: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, str | int]:
    """The generation columns of one LLM-made row (``GEN_FIELDS``, in that order): the one place they are
    spelled. ``template`` names the prompt files (``+``-joined), ``prompt_hash`` is
    ``citrus_assets.common.prompts.prompt_hash`` of them, ``sampling`` the canonical JSON of the sampling
    parameters (``SamplingParams.to_json``)."""
    return {
        GEN_MODEL_ID: model.model_id,
        GEN_MODEL_REVISION: model.model_revision,
        GEN_PROMPT_TEMPLATE: template,
        GEN_PROMPT_HASH: prompt_hash,
        GEN_SAMPLING: sampling,
        GEN_PROMPT_TOKENS: prompt_tokens,
        GEN_COMPLETION_TOKENS: completion_tokens,
    }


SCHEMAS: dict[str, pa.Schema] = {
    # One row per record of the asset table: exactly its lineage columns (no per-row asset / partition /
    # data version / run id: the file's path and its commit row say those). ``record_id`` and
    # ``parent_ids`` are always there; the others only when the asset table has them (readers fill in
    # nulls). When every record has exactly one parent, ``parent_ids`` is stored flat as ``parent_id``
    # instead (cheaper to write and read); readers turn it back into one-element lists. Column types as
    # stored in Parquet (large/dictionary/view strings read back as these).
    T_RECORD_LINEAGE: pa.schema(
        [
            (RECORD_ID, pa.string()),
            (PARENT_IDS, pa.list_(pa.string())),
            (PARENT_ID, pa.string()),
            (SOURCE_URI, pa.string()),
            (SOURCE_LOCATOR, pa.string()),
            *GEN_FIELDS,
        ]
    ),
    T_MATERIALIZATIONS: pa.schema(
        [
            ("asset", pa.string()),
            ("partition", pa.string()),
            ("run_id", pa.string()),
            ("data_version", pa.string()),
            ("code_version", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("n_records", pa.int64()),
            ("data_path", pa.string()),
        ]
    ),
    # Legacy layout (one file per logical table, constant columns repeated per row): read, no longer written.
    T_RECORDS: pa.schema(
        [
            ("record_id", pa.string()),
            ("asset", pa.string()),
            ("partition", pa.string()),
            ("data_version", pa.string()),
            ("run_id", pa.string()),
        ]
    ),
    T_EDGES: pa.schema(
        [
            ("child_id", pa.string()),
            ("parent_id", pa.string()),
            ("asset", pa.string()),
            ("partition", pa.string()),
            ("data_version", pa.string()),
            ("run_id", pa.string()),  # added: ties the row to its materialization commit
        ]
    ),
    T_GENERATIONS: pa.schema(
        [
            ("record_id", pa.string()),
            ("asset", pa.string()),
            ("partition", pa.string()),
            ("data_version", pa.string()),
            ("model_id", pa.string()),
            ("model_revision", pa.string()),
            ("prompt_template", pa.string()),
            ("prompt_hash", pa.string()),
            ("sampling", pa.string()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("run_id", pa.string()),  # added: ties the row to its materialization commit
        ]
    ),
    T_SOURCES: pa.schema(
        [
            ("source_id", pa.string()),
            ("uri", pa.string()),
            ("locator", pa.string()),
            ("asset", pa.string()),
            ("partition", pa.string()),
            ("data_version", pa.string()),
            ("run_id", pa.string()),  # added: ties the row to its materialization commit
        ]
    ),
    T_CHECKPOINT_INPUTS: pa.schema(
        [
            ("checkpoint_asset", pa.string()),
            ("checkpoint_partition", pa.string()),
            ("checkpoint_data_version", pa.string()),
            ("input_asset", pa.string()),
            ("input_partition", pa.string()),
            ("input_data_version", pa.string()),
        ]
    ),
}
