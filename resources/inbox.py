"""Inbox folders: where new input files land; each file becomes a dynamic partition."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def partition_key_for(path: Path) -> str:
    """The partition key of an input file: its name without suffixes, path-safe."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".csv", ".tsv", ".txt", ".warc", ".pdf", ".md"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return _SAFE.sub("_", name).strip("_") or "file"


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
        """Partition key -> files: each sub-folder is one batch; a loose file is a batch of its own."""
        if not folder.is_dir():
            return {}
        out: dict[str, list[Path]] = {}
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                continue
            key = partition_key_for(p)
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
            if key in out:
                raise ValueError(f"two inbox entries map to partition {key!r} in {folder}")
            if files:
                out[key] = files
        return out

    def pdf_batch(self, partition: str) -> list[Path]:
        batches = self.batches(self.pdfs_path())
        if partition not in batches:
            raise FileNotFoundError(f"no PDF batch {partition!r} in {self.pdfs_path()}")
        return batches[partition]

    def files(self, folder: Path) -> dict[str, Path]:
        """Partition key -> file, for every regular, non-hidden file in ``folder``."""
        if not folder.is_dir():
            return {}
        out: dict[str, Path] = {}
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                key = partition_key_for(p)
                if key in out:
                    raise ValueError(f"two inbox files map to partition {key!r}: {out[key].name}, {p.name}")
                out[key] = p
        return out

    def seed_file(self, partition: str) -> Path:
        files = self.files(self.seeds_path())
        if partition not in files:
            raise FileNotFoundError(f"no seed file for partition {partition!r} in {self.seeds_path()}")
        return files[partition]
