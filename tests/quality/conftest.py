"""Fixtures for the quality tests: MCQ-like tables and a tmp-folder Parquet IO manager."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

OPTIONS_MAP = pa.map_(pa.string(), pa.string())
OPTIONS_PAIRS = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))


def mcq_table(rows: list[dict], options_type: pa.DataType = OPTIONS_MAP) -> pa.Table:
    """rows: record_id, question, status, options (dict), answer_letters (list)."""

    def opts(d):
        if d is None:
            return None
        items = list(d.items())
        return items if options_type == OPTIONS_MAP else [{"key": k, "value": v} for k, v in items]

    return pa.table(
        {
            "record_id": pa.array([r["record_id"] for r in rows], pa.string()),
            "parent_ids": pa.array([[f"p-{r['record_id']}"] for r in rows], pa.list_(pa.string())),
            "question": pa.array([r.get("question") for r in rows], pa.string()),
            "status": pa.array([r.get("status", "ok") for r in rows], pa.string()),
            "options": pa.array([opts(r.get("options")) for r in rows], options_type),
            "answer_letters": pa.array([r.get("answer_letters") for r in rows], pa.list_(pa.string())),
        }
    )


GOOD_ROWS = [
    {"record_id": "r1", "question": "q1?", "options": {"A": "x", "B": "y"}, "answer_letters": ["A"]},
    {"record_id": "r2", "question": "q2?", "options": {"A": "x", "B": "y", "C": "z"}, "answer_letters": ["B", "C"]},
    {
        "record_id": "r3",
        "question": "q3?",
        "options": {"A": "x", "B": "y"},
        "answer_letters": ["B"],
        "status": "review",
    },
]

BAD_ROWS = [
    {"record_id": "r1", "question": "q1?", "options": {"A": "x", "B": "y"}, "answer_letters": ["A"]},
    {
        "record_id": "r2",
        "question": None,
        "options": {"A": "x", "B": "y"},
        "answer_letters": ["C"],
    },  # null q, C not an option
    {
        "record_id": "r2",
        "question": "q3?",
        "options": {"A": "x"},
        "answer_letters": ["A"],
        "status": "weird",
    },  # dup id, bad status
    {"record_id": "r4", "question": "q4?", "options": None, "answer_letters": ["A"]},  # no options
    {"record_id": "r5", "question": "q5?", "options": {"A": "x"}, "answer_letters": []},  # no answer
]


@pytest.fixture
def good_table() -> pa.Table:
    return mcq_table(GOOD_ROWS)


@pytest.fixture
def bad_table() -> pa.Table:
    return mcq_table(BAD_ROWS)


class TmpParquetIOManager(dg.ConfigurableIOManager):
    """Stores pyarrow tables as ``<root>/<asset>/<partition>/data.parquet`` (no pickling).

    Loading several partitions returns ``{partition: table}`` (the UPathIOManager convention).
    """

    root: str

    def _path(self, key: dg.AssetKey, partition: str) -> Path:
        return Path(self.root, *key.path, partition.replace("|", "__"), "data.parquet")

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        assert isinstance(obj, pa.Table), type(obj)
        part = context.asset_partition_key if context.has_asset_partitions else "__all__"
        path = self._path(context.asset_key, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(obj, path)

    def load_input(self, context: dg.InputContext):
        if not context.has_asset_partitions:
            return pq.read_table(self._path(context.asset_key, "__all__"))
        keys = list(context.asset_partition_keys)
        if len(keys) == 1:
            return pq.read_table(self._path(context.asset_key, keys[0]))
        return {k: pq.read_table(self._path(context.asset_key, k)) for k in keys}


@pytest.fixture
def io_manager(tmp_path) -> TmpParquetIOManager:
    return TmpParquetIOManager(root=str(tmp_path / "lake"))


@pytest.fixture
def make_mcq_table():
    """``make_mcq_table(rows, options_type=OPTIONS_MAP)``; ``make_mcq_table.GOOD`` / ``.BAD`` rows."""
    mcq_table.GOOD = GOOD_ROWS
    mcq_table.BAD = BAD_ROWS
    mcq_table.OPTIONS_MAP = OPTIONS_MAP
    mcq_table.OPTIONS_PAIRS = OPTIONS_PAIRS
    return mcq_table
