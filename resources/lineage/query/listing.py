"""Finding lineage files under a lineage root (a local folder or an fsspec URL).

Relative paths are ``<asset>/<partition>/<file>.parquet`` inside a table folder; a data file and its
commit file share the relative path. Hidden names (temporary files of writers) are never listed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from resources.lineage import schema as S
from resources.lineage.settings import is_local, local_path, url_to_fs


class LineageFiles:
    """Lists and reads the lineage files under ``root``."""

    def __init__(self, root: str, **storage_options: Any):
        self.root = root.rstrip("/") or "/"
        self.local = is_local(self.root)
        if self.local:
            self.root = os.path.abspath(local_path(self.root))
            self.fs = fsspec.filesystem("file")
            self.pafs: pafs.FileSystem = pafs.LocalFileSystem()
            self.fs_root = self.root
        else:
            self.fs, self.fs_root = url_to_fs(self.root, **storage_options)
            self.pafs = pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
        self._dir_cache: dict[str, tuple[int, list[str]]] = {}

    def list_commits(self) -> dict[str, list[str]]:
        """Relative paths of commit files per commit table."""
        return {t: self.list_table(t) for t in S.COMMIT_TABLES}

    def list_table(self, table: str) -> list[str]:
        out: list[str] = []
        if self.local:
            base = os.path.join(self.root, table)
            try:
                assets = list(os.scandir(base))
            except FileNotFoundError:
                return out
            now = time.time_ns()
            for a in assets:
                if a.name.startswith(".") or not a.is_dir():
                    continue
                with os.scandir(a.path) as parts:
                    for p in parts:
                        if p.name.startswith(".") or not p.is_dir():
                            continue
                        out.extend(f"{a.name}/{p.name}/{f}" for f in self._list_dir(p.path, now))
            return out
        base = f"{self.fs_root.rstrip('/')}/{table}"
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return out
        for path in found:
            rel = path[len(base) :].lstrip("/")
            parts = rel.split("/")
            if len(parts) == 3 and parts[2].endswith(".parquet") and not any(x.startswith(".") for x in parts):
                out.append(rel)
        return out

    def _list_dir(self, path: str, now_ns: int) -> list[str]:
        """``*.parquet`` names in a partition folder, cached by the folder's mtime.

        A folder changed within the last 2 s is re-read every time (coarse file-system timestamps could
        hide a file renamed into it right after our read), so the cache never misses a commit.
        """
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return []
        hit = self._dir_cache.get(path)
        if hit is not None and hit[0] == mtime and now_ns - mtime > 2_000_000_000:
            return hit[1]
        names = [f for f in os.listdir(path) if f.endswith(".parquet") and not f.startswith(".")]
        self._dir_cache[path] = (mtime, names)
        return names

    def file(self, table: str, rel: str) -> str:
        """Path of a lineage file for pyarrow / the fs."""
        if self.local:
            return os.path.join(self.root, table, *rel.split("/"))
        return f"{self.fs_root.rstrip('/')}/{table}/{rel}"

    def data_files(self, table: str, rels: list[str]) -> list[str]:
        """The subset of ``rels`` for which ``table`` has a file."""
        if not rels:
            return []
        if self.local:
            return [r for r in rels if os.path.exists(self.file(table, r))]
        have = set(self.list_table(table))
        return [r for r in rels if r in have]

    def read(self, path: str, **kwargs: Any) -> pa.Table:
        return pq.read_table(path, filesystem=self.pafs, **kwargs)

    def view_source(self, table: str) -> str:
        """``read_parquet`` expression over every file of ``table`` (for DuckDB views)."""
        glob = f"{self.root}/{table}/*/*/*.parquet".replace("'", "''")
        return f"read_parquet('{glob}', union_by_name=true, hive_partitioning=false, filename=true)"
