"""Where evaluation benchmark files are: the one lookup used by evaluation and decontamination.

A *data dir* is a folder with a ``benchmarks/`` sub-folder laid out as ``benchmarks/<benchmark>/<file>``
(``medqa/``, ``pubmedqa/``, ``mmlu/`` ...). The project's own bundled evaluation sample
(``sample/benchmarks/``, written by this project) is always first; real benchmark files are added *next to
it*, never instead of it, from (in order, each that exists, each once):

1. the configured folder (a run config's ``data_dir``),
2. ``$CITRUS_EVAL_DATA``,
3. ``$CITRUS_DATA``, else ``../shared/data`` (beside the repository, or beside the working directory).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_DATA_DIR = REPO_ROOT / "sample"  # holds benchmarks/: the bundled evaluation sample


def _has_benchmarks(path: Path) -> bool:
    return (path / "benchmarks").is_dir()


def benchmark_data_dirs(configured: str | os.PathLike = "", include_bundled: bool = True) -> list[Path]:
    """Every data dir holding a ``benchmarks/`` folder: the bundled sample first, then the real ones."""
    candidates: list[Path] = []
    if include_bundled:
        candidates.append(BUNDLED_DATA_DIR)
    if configured:
        candidates.append(Path(configured))
    if os.environ.get("CITRUS_EVAL_DATA"):
        candidates.append(Path(os.environ["CITRUS_EVAL_DATA"]))
    shared = os.environ.get("CITRUS_DATA")
    if shared:
        candidates.append(Path(shared))
    else:
        candidates += [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    out: list[Path] = []
    seen: set[Path] = set()
    for c in candidates:
        c = c.expanduser()
        key = c.resolve() if c.exists() else c
        if key in seen or not _has_benchmarks(c):
            continue
        seen.add(key)
        out.append(c)
    return out


def data_dir_label(path: str | os.PathLike) -> str:
    """How a data dir is named in metadata and item rows: ``sample`` for the bundled sample (no
    machine-specific path), else the path as configured."""
    p = Path(path).expanduser()
    try:
        if p.resolve() == BUNDLED_DATA_DIR.resolve():
            return BUNDLED_DATA_DIR.name
    except OSError:
        pass
    return str(p)
