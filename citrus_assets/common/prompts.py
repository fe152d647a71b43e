"""Prompts are files: loaded by name, rendered strictly, and hashed into code versions.

Editing a prompt file changes its hash, which changes the code version of every asset
that uses it, so Dagster shows those assets as stale.

``prompt_hash(*names)`` is the one prompt hash of the lake: what every LLM-made row records in
``gen_prompt_hash`` (each file's ``PromptTemplate.sha`` -- the first 16 hex digits of the sha256 of its
text -- joined with ``:`` in the order the prompts are rendered). ``code_version`` uses the same
per-file ``sha``, so code versions are unchanged by this function.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    @property
    def fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.text) if f}

    def render(self, **values: object) -> str:
        missing = self.fields - values.keys()
        if missing:
            raise KeyError(f"prompt {self.name!r} needs {sorted(missing)}")
        return self.text.format(**values)


@cache
def load_prompt(name: str) -> PromptTemplate:
    path = PROMPT_DIR / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"no prompt file {path.name} in the prompts folder")
    return PromptTemplate(name=name, text=path.read_text(encoding="utf-8").strip("\n"))


def prompt_hash(*names: str) -> str:
    """The hash a generated row records for the prompt files it was rendered from (module docstring)."""
    if not names:
        raise ValueError("prompt_hash needs at least one prompt name")
    return ":".join(load_prompt(n).sha for n in names)


def code_version(asset_version: str, *prompt_names: str) -> str:
    """An asset's code version: its own version plus the hash of every prompt it renders."""
    h = hashlib.sha256(asset_version.encode())
    for n in sorted(prompt_names):
        h.update(f"{n}:{load_prompt(n).sha}".encode())
    return f"{asset_version}-{h.hexdigest()[:12]}"
