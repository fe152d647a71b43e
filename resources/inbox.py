"""Inbox folders: where new input files land; each file (or sub-folder batch) becomes a dynamic partition.

Partition keys are unique, readable and stable (``partition_key_for``): a name made only of ``A-Z a-z
0-9 _ . -`` keeps its stem (``medqa_demo.jsonl`` -> ``medqa_demo``); any other name (spaces, ``心臟``, a
255-byte name) becomes a readable slug plus 8 hex digits of the SHA-256 of the whole name
(``set a.jsonl`` -> ``set_a-7195c6d7``, ``心臟.jsonl`` -> ``心臟-1fe33336``). A key depends only on its own
file name, so it is the same on every run. If two clean names still meet (``set_a.csv``, ``set_a.jsonl``),
the first in name order keeps the plain key and the next gets the hashed one: no collision ever raises, so
one odd file never breaks the sensor or another partition.

Links are not followed out of the inbox: an entry (file, batch folder or a file inside a batch) whose
real path is outside the inbox's real path is refused (``refused``: name -> reason) and never read.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pyarrow as pa

from resources.lake import QuarantineRecord

_SAFE = re.compile(r"[^\w.-]+")  # letters and digits of any script stay readable (``心臟``)
_CLEAN = re.compile(r"[A-Za-z0-9_.-]+")
_SUFFIXES = (".gz", ".jsonl", ".json", ".csv", ".tsv", ".txt", ".warc", ".pdf", ".md")
MAX_SLUG = 64  # characters of a slug kept in a key (a lake path component stays far below 255 bytes)
# a file whose name leaves no room for its hidden sidecar ``.<name>.mapping.json`` (255-byte limit)
MAX_NAME_BYTES = 255 - len(".") - len(".mapping.json")


@dataclass
class LoadResult:
    """What reading one input file gives: its rows, its quarantined units (source and reason each), and how
    many identical records were counted once. A loader binds its table schema in a subclass
    (``seeds.LoadResult``, ``jmed.dialogues.LoadResult``): the one implementation of both."""

    SCHEMA: ClassVar[pa.Schema]
    rows: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    duplicates: int = 0

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=self.SCHEMA)


def _stem(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _short_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def partition_key_for(path: Path) -> str:
    """The partition key of an input file: its stem when that is already path-safe, else a readable slug
    plus a short hash of the whole name (see the module docstring)."""
    stem = _stem(path.name)
    if _CLEAN.fullmatch(stem) and stem.strip("_.-") and len(stem) <= MAX_SLUG and not stem.startswith("."):
        return stem
    slug = _SAFE.sub("_", stem).strip("_.-")[:MAX_SLUG].strip("_.-") or "file"
    return f"{slug}-{_short_hash(path.name)}"


def _unique_keys(paths: list[Path]) -> dict[str, Path]:
    """Key -> path for ``paths`` in name order; a key already taken gets the hashed form."""
    out: dict[str, Path] = {}
    for p in sorted(paths, key=lambda q: q.name):
        key = partition_key_for(p)
        if key in out:
            key = f"{key}-{_short_hash(p.name)}"
        n = 2
        while key in out:  # only if two different names share a hash prefix
            key = f"{partition_key_for(p)}-{_short_hash(p.name)}{n}"
            n += 1
        out[key] = p
    return out


def inside(path: Path, root: Path) -> bool:
    """True when ``path``'s real path (links resolved) is ``root``'s real path or below it."""
    try:
        real, base = os.path.realpath(path), os.path.realpath(root)
    except OSError:
        return False
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def entry_problem(path: Path, root: Path) -> str | None:
    """Why an inbox entry must not be read (None: fine): a link out of the inbox, not a regular file or
    folder, or a name too long for its sidecar."""
    if not inside(path, root):
        return (
            f"links outside the inbox ({'symlink' if path.is_symlink() else 'path'} resolves elsewhere); not followed"
        )
    if len(path.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return (
            f"file name is {len(path.name.encode('utf-8', 'surrogateescape'))} bytes; at most {MAX_NAME_BYTES} "
            f"(its hidden mapping sidecar must fit the 255-byte limit)"
        )
    return None


class InboxResource(dg.ConfigurableResource):
    """Folders watched for new input files, one per source family."""

    seeds_dir: str = ""
    pdfs_dir: str = ""
    web_dir: str = ""
    textbooks_dir: str = ""
    instructions_dir: str = ""

    def seeds_path(self) -> Path:
        return Path(self.seeds_dir or os.environ.get("CITRUS_SEED_INBOX", "sample/seeds"))

    def pdfs_path(self) -> Path:
        return Path(self.pdfs_dir or os.environ.get("CITRUS_PDF_INBOX", "sample/pdfs"))

    def web_path(self) -> Path:
        return Path(self.web_dir or os.environ.get("CITRUS_WEB_INBOX", "sample/web"))

    def textbooks_path(self) -> Path:
        return Path(self.textbooks_dir or os.environ.get("CITRUS_TEXTBOOK_INBOX", "sample/textbooks"))

    def instructions_path(self) -> Path:
        return Path(self.instructions_dir or os.environ.get("CITRUS_INSTRUCTION_INBOX", "sample/instructions"))

    def web_shard(self, partition: str) -> Path:
        files = self.files(self.web_path())
        if partition not in files:
            raise FileNotFoundError(f"no web shard {partition!r} in {self.web_path()}")
        return files[partition]

    def batches(self, folder: Path) -> dict[str, list[Path]]:
        """Partition key -> files: each sub-folder is one batch; a loose file is a batch of its own. Links out
        of the inbox (the entry itself or a file inside a batch) are left out (``refused``)."""
        if not folder.is_dir():
            return {}
        entries: list[Path] = []
        for p in sorted(folder.iterdir()):
            if p.name.startswith(".") or not inside(p, folder):
                continue
            entries.append(p)
        out: dict[str, list[Path]] = {}
        for key, p in _unique_keys(entries).items():
            if p.is_dir():
                files = sorted(
                    f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".") and inside(f, folder)
                )
            else:
                files = [p] if p.is_file() else []
            if files:
                out[key] = files
        return out

    def refused(self, folder: Path) -> dict[str, str]:
        """Entry name -> why it is not read (a link out of the inbox, or a batch holding one): what the sensors
        report. A name too long for its sidecar is listed; its partition quarantines the file."""
        if not folder.is_dir():
            return {}
        out: dict[str, str] = {}
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                continue
            problem = None if inside(p, folder) else entry_problem(p, folder)  # long names: their partition quarantines
            if problem is None and p.is_dir():
                bad = [
                    f for f in p.rglob("*") if not f.name.startswith(".") and f.is_symlink() and not inside(f, folder)
                ]
                problem = f"{len(bad)} file(s) link outside the inbox; not followed" if bad else None
            if problem is not None:
                out[p.name] = problem
        return out

    def pdf_batch(self, partition: str) -> list[Path]:
        batches = self.batches(self.pdfs_path())
        if partition not in batches:
            raise FileNotFoundError(f"no PDF batch {partition!r} in {self.pdfs_path()}")
        return batches[partition]

    def files(self, folder: Path) -> dict[str, Path]:
        """Partition key -> file, for every regular, non-hidden file in ``folder`` that does not link out of it
        (keys unique: see the module docstring). A file with an over-long name is listed: its partition
        quarantines it (``entry_problem``)."""
        if not folder.is_dir():
            return {}
        return _unique_keys(
            [p for p in folder.iterdir() if not p.name.startswith(".") and inside(p, folder) and p.is_file()]
        )

    def seed_file(self, partition: str) -> Path:
        files = self.files(self.seeds_path())
        if partition not in files:
            raise FileNotFoundError(f"no seed file for partition {partition!r} in {self.seeds_path()}")
        return files[partition]
