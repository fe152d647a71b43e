"""No module edits ``sys.path`` to import the project's own code (issue 16, change 5).

The product packages are installed (editable) in the venv; pytest imports test helpers by their package path
(``tests.lineage.lineage_graph``, ``tests.support.resources``) from the repo root; benchmarks and subprocess
drills run as ``python -m benchmarks.x`` / ``python -m tests.drills.drill_runner`` from the repo root. A path
edit hides a wrong import until the file runs from another folder, so it is refused here.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "benchmarks", "scripts", "citrus_assets", "resources", "training", "quality")
# written so that this file does not match itself
PATH_EDIT = re.compile(r"\bsys\.path\.(insert|append|extend)\s*\(|\bsys\.path\s*(\+=|=[^=])")


def path_edits(root: Path, folders: tuple[str, ...] = SCANNED) -> list[str]:
    """``file:line: text`` of every line under ``folders`` of ``root`` that edits ``sys.path``."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                if PATH_EDIT.search(line):
                    found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def test_no_module_edits_sys_path():
    found = path_edits(REPO)
    assert found == [], "import by package path instead of editing sys.path:\n" + "\n".join(found)


def test_the_scan_finds_a_planted_edit(tmp_path):
    p = "sys." + "path"  # spelled in parts: this file is scanned too
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    (tmp_path / "tests" / "sub" / "helper.py").write_text(f"import sys\n\n{p}.insert(0, '.')\n")
    (tmp_path / "tests" / "ok.py").write_text(f"import sys\n\nprint({p}[0])\nif {p} == []:\n    pass\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text(f"import sys\n{p} += ['x']\n{p}.append('y')\n")
    assert path_edits(tmp_path, ("tests", "benchmarks")) == [
        f"tests/sub/helper.py:3: {p}.insert(0, '.')",
        f"benchmarks/b.py:2: {p} += ['x']",
        f"benchmarks/b.py:3: {p}.append('y')",
    ]
