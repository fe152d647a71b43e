"""Running datatrove pipelines from library code, and reading their JSONL outputs back.

``run_pipeline`` wraps ``LocalPipelineExecutor`` so it is safe to call from a function that another
process imported and called (a Dagster step, a pytest test, a ``spawn``-ed worker):

* ``workers == 1`` (default): tasks run one after another in the calling process (datatrove's own
  behaviour); only its ``multiprocess.Manager`` helper process is started, with ``fork``, which never
  re-imports the caller's ``__main__``;
* ``workers > 1``: a pool is started with ``forkserver`` (default) or ``spawn``, while the
  preparation data sent to children omits the caller's main module, so a caller script without an
  ``if __name__ == "__main__":`` guard is not re-executed by the pool's processes. Every pipeline
  step used here lives in an importable module, so the children unpickle them by reference. The
  forkserver preloads this package and spaCy (not ``__main__``), so children fork warm.

Each run gets a fresh logging folder and ``skip_completed=False``: a rerun recomputes, never reuses a
stale completion marker.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import orjson

from datatrove.executor import LocalPipelineExecutor


@contextlib.contextmanager
def _children_skip_main():
    """Pool children started meanwhile do not re-import the caller's ``__main__`` (script or module)."""
    import multiprocess.spawn as mp_spawn

    original = mp_spawn.get_preparation_data

    def preparation_data(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    mp_spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        mp_spawn.get_preparation_data = original


# imported once by the forkserver, so pool children start warm (spaCy alone pulls thinc and torch)
FORKSERVER_PRELOAD = ("citrus_assets.cpt_corpus.web_curation", "citrus_assets.cpt_corpus.web_dedup", "spacy")


def _forkserver_preload() -> None:
    import multiprocess.forkserver as fs

    current = [m for m in getattr(fs._forkserver, "_preload_modules", None) or [] if m != "__main__"]
    fs._forkserver.set_forkserver_preload(current + [m for m in FORKSERVER_PRELOAD if m not in current])


def run_pipeline(
    pipeline: list, logging_dir: str | Path, tasks: int = 1, workers: int = 1, start_method: str = "forkserver"
):
    """Run ``pipeline`` on ``tasks`` datatrove tasks; returns datatrove's merged ``PipelineStats``."""
    workers = max(1, min(workers, tasks))
    if workers > 1 and start_method == "forkserver":
        _forkserver_preload()  # takes effect when the server starts (first pool of this process)
    executor = LocalPipelineExecutor(
        pipeline=pipeline,
        tasks=tasks,
        workers=workers,
        logging_dir=str(logging_dir),
        skip_completed=False,
        start_method=start_method,
    )
    with _children_skip_main() if workers > 1 else contextlib.nullcontext():
        return executor.run()


def make_run_dir(work_dir: str | Path, prefix: str) -> Path:
    """A fresh private folder under ``work_dir`` for one call (never shared between calls)."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))


def cleanup(path: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(path, ignore_errors=True)


def iter_jsonl_folder(folder: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of every ``*.jsonl`` file under ``folder``, files in name order (= task rank order)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in sorted(folder.rglob("*.jsonl")):
        with open(p, "rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)


def id_only_adapter(self, document) -> dict:
    """JsonlWriter adapter that writes the id and metadata only (no text)."""
    return {"id": document.id, "metadata": document.metadata}
