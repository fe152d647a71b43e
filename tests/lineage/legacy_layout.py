"""The lineage file layout of earlier writers (one file per logical table), for reading tests.

``LegacyLineageWriter`` writes ``records/``, ``edges/``, ``sources/``, ``generations/`` files (asset,
partition, data_version and run_id repeated on every row) and then the ``materializations`` commit row,
exactly as the writer did before the ``record_lineage`` layout.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from resources.lineage import LineageWriter
from resources.lineage import schema as S


class LegacyLineageWriter(LineageWriter):
    def write_materialization(self, *, asset, partition, run_id, data_version, code_version, table, data_path):
        partition = partition if partition not in (None, "") else S.UNPARTITIONED
        n = table.num_rows
        rid = table.column(S.RECORD_ID).combine_chunks().cast(pa.string())

        def consts(m):
            return {
                k: pa.array([v] * m, pa.string())
                for k, v in (
                    ("asset", asset),
                    ("partition", partition),
                    ("data_version", data_version),
                    ("run_id", run_id),
                )
            }

        def col(t, name, type_):
            return t.column(name).cast(type_) if name in t.column_names else pa.nulls(t.num_rows, type_)

        parents = table.column(S.PARENT_IDS).combine_chunks()
        flat, owner = pc.list_flatten(parents).cast(pa.string()), pc.list_parent_indices(parents)
        keep = pc.is_valid(flat)
        flat, owner = flat.filter(keep), owner.filter(keep)
        c = consts(n)
        out = [(S.T_RECORDS, pa.table({"record_id": rid, **c}))]
        c = consts(len(flat))
        out.append(
            (
                S.T_EDGES,
                pa.table(
                    {
                        "child_id": rid.take(owner),
                        "parent_id": flat,
                        "asset": c["asset"],
                        "partition": c["partition"],
                        "data_version": c["data_version"],
                        "run_id": c["run_id"],
                    }
                ),
            )
        )
        if S.SOURCE_URI in table.column_names:
            uri = col(table, S.SOURCE_URI, pa.string())
            sel = pc.is_valid(pc.take(uri, owner))
            s_owner = owner.filter(sel)
            c = consts(len(s_owner))
            out.append(
                (
                    S.T_SOURCES,
                    pa.table(
                        {
                            "source_id": flat.filter(sel),
                            "uri": pc.take(uri, s_owner),
                            "locator": pc.take(col(table, S.SOURCE_LOCATOR, pa.string()), s_owner),
                            **c,
                        }
                    ),
                )
            )
        if S.GEN_MODEL_ID in table.column_names:
            sub = table.filter(pc.is_valid(table.column(S.GEN_MODEL_ID)))
            c = consts(sub.num_rows)
            out.append(
                (
                    S.T_GENERATIONS,
                    pa.table(
                        {
                            "record_id": sub.column(S.RECORD_ID).cast(pa.string()),
                            "asset": c["asset"],
                            "partition": c["partition"],
                            "data_version": c["data_version"],
                            **{
                                g[len("gen_") :]: col(sub, g, S.SCHEMAS[S.T_GENERATIONS].field(g[len("gen_") :]).type)
                                for g in S.GEN_COLUMNS
                            },
                            "run_id": c["run_id"],
                        }
                    ),
                )
            )
        for name, tbl in out:
            if tbl.num_rows:
                self._write_atomic(
                    tbl.select(S.SCHEMAS[name].names), self.path(name, asset, partition, data_version, run_id)
                )
        commit = pa.table(
            {
                "asset": [asset],
                "partition": [partition],
                "run_id": [run_id],
                "data_version": [data_version],
                "code_version": [code_version],
                "created_at": pa.array([0], pa.timestamp("us", tz="UTC")),
                "n_records": pa.array([n], pa.int64()),
                "data_path": [data_path],
            },
            schema=S.SCHEMAS[S.T_MATERIALIZATIONS],
        )
        self._write_atomic(commit, self.path(S.T_MATERIALIZATIONS, asset, partition, data_version, run_id))
        return {"records": n, "edges": len(flat)}
