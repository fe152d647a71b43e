"""Shared fixtures: where the real public sample data is, and temporary lakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``$CITRUS_DATA`` or ``../shared/data`` relative to the repo root."""
    return Path(os.environ.get("CITRUS_DATA") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"real sample data not found at {d} (set CITRUS_DATA to its folder)")
    return d


@pytest.fixture
def lake_root(tmp_path, monkeypatch) -> str:
    root = tmp_path / "lake"
    monkeypatch.setenv("CITRUS_LAKE", str(root))
    return str(root)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
