"""Where lineage lives: the one path rule shared by the writer, the store, the IO manager and the CLI.

* lake root: ``lake`` argument, else ``$CITRUS_LAKE``, else ``lake`` (relative to the working directory);
  a folder or an fsspec URL (``s3://bucket/prefix``).
* lineage root: ``<lake>/_lineage``.
* DuckDB index: ``db`` argument, else ``$CITRUS_LINEAGE_DB``, else ``<lake>/_lineage/lineage.duckdb``
  for a local lake and ``.citrus/lineage.duckdb`` (relative to the working directory) for a remote one
  (DuckDB needs a local file it can lock).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

LINEAGE_DIRNAME = "_lineage"
DB_FILENAME = "lineage.duckdb"
REMOTE_DB_DEFAULT = os.path.join(".citrus", DB_FILENAME)
ENV_LAKE = "CITRUS_LAKE"
ENV_DB = "CITRUS_LINEAGE_DB"
DEFAULT_LAKE = "lake"
# fsspec options of a remote lake's filesystem. No listings cache: other processes (run workers, sensors, the
# lineage CLI) write the lake at the same time, and a folder listed once (``find`` / ``glob`` fill the cache)
# would then answer "no such file" for their newer files (a lineage sync failed on exactly that).
REMOTE_STORAGE_OPTIONS: dict[str, Any] = {"use_listings_cache": False}


class LineagePaths(NamedTuple):
    lake: str
    lineage_root: str
    db_path: str


def is_local(url: str) -> bool:
    """True for a plain path or a ``file://`` / ``local://`` URL."""
    if "://" not in url:
        return True
    return url.split("://", 1)[0] in ("file", "local")


def local_path(url: str) -> str:
    """A local path without its ``file://`` prefix (unchanged for a plain path)."""
    for prefix in ("file://", "local://"):
        if url.startswith(prefix):
            return url[len(prefix) :]
    return url


def url_to_fs(url: str, **storage_options: Any):
    """``fsspec.core.url_to_fs`` with :data:`REMOTE_STORAGE_OPTIONS` under the given options for a remote URL."""
    import fsspec

    if not is_local(url):
        storage_options = {**REMOTE_STORAGE_OPTIONS, **storage_options}
    return fsspec.core.url_to_fs(url, **storage_options)


def join(base: str, *parts: str) -> str:
    """Join path or URL parts with ``/`` (``os.path.join`` for local paths)."""
    if is_local(base) and "://" not in base:
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *parts])


def default_paths(lake: str | None = None, db: str | None = None) -> LineagePaths:
    """Resolve (lake, lineage root, DuckDB path) from arguments, then environment, then defaults."""
    lake = lake or os.environ.get(ENV_LAKE) or DEFAULT_LAKE
    if is_local(lake):
        lake = os.path.expanduser(local_path(lake))
    lake = lake.rstrip("/") or "/"
    root = join(lake, LINEAGE_DIRNAME)
    db = db or os.environ.get(ENV_DB)
    if not db:
        db = join(root, DB_FILENAME) if is_local(lake) else REMOTE_DB_DEFAULT
    return LineagePaths(lake=lake, lineage_root=root, db_path=os.path.expanduser(db))


# ==================================================================== lineage browser links
ENV_BROWSER_URL = "CITRUS_LINEAGE_BROWSER_URL"
DEFAULT_BROWSER_HOST = "127.0.0.1"
DEFAULT_BROWSER_PORT = 8765


def browser_url() -> str:
    """Base URL of the lineage browser (``citrus lineage serve``): ``$CITRUS_LINEAGE_BROWSER_URL``, else
    ``http://127.0.0.1:<DEFAULT_BROWSER_PORT>``."""
    return (os.environ.get(ENV_BROWSER_URL) or f"http://{DEFAULT_BROWSER_HOST}:{DEFAULT_BROWSER_PORT}").rstrip("/")


def browser_link(page: str, base: str | None = None, **params: str | None) -> str:
    """URL of a lineage browser page, e.g. ``browser_link("record", id=rid)``; ``None`` params are left out.
    ``base``: default :func:`browser_url`; ``""`` gives a site-relative link (``/record?id=...``)."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{(browser_url() if base is None else base).rstrip('/')}/{page}" + (f"?{query}" if query else "")
