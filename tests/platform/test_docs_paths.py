"""docs/ARCHITECTURE.md stays honest: every repository path and module name it cites exists (issue 16).

Cited = written in single backticks outside fenced blocks:
- a path whose first component is a top-level entry of the repository (``citrus_assets/...``,
  ``tests/...``, ``README.md``); ``path.py:name`` also requires ``name`` to be defined at the top of that file;
- a dotted name starting with a package of the lake (``resources.lineage.ids.record_id``): the longest prefix
  that is a module must exist, and the next name must be defined at its top level.
Placeholders (``<lake>/...``), globs and environment variables are not paths and are skipped.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
TOP = (
    "citrus_assets",
    "resources",
    "training",
    "quality",
    "tests",
    "docs",
    "benchmarks",
    "scripts",
    "sample",
    "deploy",
    "README.md",
    "pyproject.toml",
    "Makefile",
    "dagster.yaml",
    "workspace.yaml",
)
PACKAGES = ("citrus_assets", "resources", "training", "quality")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_TICK = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"^(?:" + "|".join(PACKAGES) + r")(?:\.\w+)+$")


def cited(text: str) -> tuple[list[str], list[str]]:
    """(paths, dotted names) cited in ``text``."""
    paths, names = [], []
    for token in _TICK.findall(_FENCE.sub("", text)):
        token = token.strip()
        if " " in token or any(c in token for c in "<>*${}"):
            continue
        if token.split("/")[0].split(":")[0] in TOP and ("/" in token or token.split(":")[0] in TOP):
            paths.append(token)
        elif _DOTTED.match(token):
            names.append(token)
    return paths, names


@cache
def top_names(path: Path) -> frozenset[str]:
    """Names defined at the top level of a module (defs, classes, assignments, imports)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(out)


def module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def path_problem(token: str, root: Path = ROOT) -> str | None:
    path, _, name = token.partition(":")
    name = name.lstrip(":")
    target = root / path
    if not target.exists():
        return f"{token}: no such path"
    if path.endswith("/") and not target.is_dir():
        return f"{token}: not a folder"
    if name and (target.suffix != ".py" or name not in top_names(target)):
        return f"{token}: {name!r} is not defined at the top of {path}"
    return None


def name_problem(token: str) -> str | None:
    parts = token.split(".")
    for i in range(len(parts), 0, -1):
        found = module_file(".".join(parts[:i]))
        if found is not None:
            rest = parts[i:]
            if rest and rest[0] not in top_names(found):
                return f"{token}: {rest[0]!r} is not defined in {found.relative_to(ROOT)}"
            return None
    return f"{token}: no such module"


def test_the_extractor_tells_paths_names_and_placeholders_apart():
    text = (
        "`resources/lake.py:Lake` `citrus_assets/common/` `<lake>/_quarantine/x` `resources.lineage.ids.KINDS` "
        "`CITRUS_LAKE` `pyarrow.Table`\n```\n`tests/nowhere.py`\n```\n"
    )
    assert cited(text) == (["resources/lake.py:Lake", "citrus_assets/common/"], ["resources.lineage.ids.KINDS"])
    assert path_problem("resources/lake.py:Lake") is None
    assert path_problem("resources/lake.py:NoSuchThing") is not None
    assert path_problem("resources/no_such_module.py") is not None
    assert name_problem("resources.lineage.ids.record_id") is None
    assert name_problem("resources.lineage.ids.no_such_function") is not None
    assert name_problem("resources.no_such_module") is not None


def test_every_path_and_module_the_architecture_doc_cites_exists():
    paths, names = cited(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 40 and names, "the doc should cite the repository's files"
    problems = [p for p in map(path_problem, paths) if p] + [p for p in map(name_problem, names) if p]
    assert not problems, "docs/ARCHITECTURE.md cites what does not exist:\n" + "\n".join(problems)
