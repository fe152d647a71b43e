"""Architecture figures of issue 16, printed as Markdown (docs/architecture_metrics.md records them).

    python scripts/architecture_metrics.py [ROOT] [--ruff] [--mypy]

ROOT defaults to the repository (a ``git archive`` of another commit works too). Figures:
modules per folder, the largest modules, import cycles (the finder of tests/platform/test_import_cycles.py),
code lines per LLM step (modules of citrus_assets that call ``<llm>.generate(``; code lines = not blank,
not a comment, not a docstring), and with --ruff / --mypy the counts of ``make lint``'s checkers
(run from the repository's virtual environment). The duplicate-code count comes from the separate
``duplicates`` tool and is entered in the doc by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("citrus_assets", "resources", "training", "quality")
# Backends implement generate(); they are not LLM steps.
NOT_STEPS = {"tests/support/scripted_backend.py", "citrus_assets/common/llm_task.py"}  # llm_task: the base, not a step


def _cycle_finder():
    spec = importlib.util.spec_from_file_location("_cycles", REPO / "tests/platform/test_import_cycles.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def code_lines(path: Path, lines: range | None = None) -> int:
    """Code lines of ``path`` (of the line numbers in ``lines`` only, when given)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                doc_lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for i, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and i not in doc_lines and (lines is None or i in lines)
    )


def llm_steps(root: Path) -> list[Path]:
    out = []
    for path in sorted((root / "citrus_assets").rglob("*.py")):
        if str(path.relative_to(root)) in NOT_STEPS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "generate"
            for n in ast.walk(tree)
        ):
            out.append(path)
    return out


def llm_task_steps(root: Path) -> list[tuple[Path, str, int]]:
    """Every subclass of ``LLMTask`` (citrus_assets/common/llm_task.py, issue 16 change 4) in citrus_assets, with
    the code lines of its class body: what a step written on the base costs."""
    out = []
    for path in sorted((root / "citrus_assets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and "LLMTask" in bases:
                span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
                out.append((path, node.name, code_lines(path, span)))
    return out


def _count(cmd: list[str], root: Path, marker: str) -> str:
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if marker in ln]
    return str(len(lines))


def main(argv: list[str]) -> None:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    root = Path(args[0]).resolve() if args else REPO
    files = [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py") if p.name != "__init__.py"]
    per_folder = Counter(str(p.parent.relative_to(root)) for p in files)
    print(f"modules (without __init__.py): {len(files)}\n")
    print("| folder | modules |\n|---|---:|")
    for folder, n in sorted(per_folder.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {folder}/ | {n} |")
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), p) for p in files), reverse=True)[:5]
    print("\n| largest modules | lines |\n|---|---:|")
    for n, p in sizes:
        print(f"| {p.relative_to(root)} | {n} |")
    finder = _cycle_finder()
    found = finder.cycles(finder.import_graph(root))
    print(f"\nimport cycles: {len(found)}")
    for c in found:
        print(f"- {' <-> '.join(c)}")
    steps = llm_steps(root)
    counts = [(code_lines(p), p) for p in steps]
    print("\n| LLM step (calls llm.generate) | code lines |\n|---|---:|")
    for n, p in counts:
        print(f"| {p.relative_to(root)} | {n} |")
    if counts:
        print(f"| mean of {len(counts)} | {sum(n for n, _ in counts) / len(counts):.0f} |")
    tasks = llm_task_steps(root)
    if tasks:
        print("\n| LLM step on the LLMTask base (class) | code lines of the class | of its module |\n|---|---:|---:|")
        for path, name, n in tasks:
            print(f"| {path.relative_to(root)} `{name}` | {n} | {code_lines(path)} |")
        mods = {path: code_lines(path) for path, _, _ in tasks}
        print(
            f"| mean of {len(tasks)} | {sum(n for _, _, n in tasks) / len(tasks):.0f} "
            f"| {sum(mods.values()) / len(mods):.0f} |"
        )
    bin_dir = Path(sys.executable).parent
    if "--ruff" in flags:
        n = _count([str(bin_dir / "ruff"), "check", "--output-format", "concise", "."], root, ": ")
        print(f"\nruff check (pyproject settings): {n} findings")
    if "--mypy" in flags:
        n = _count([str(bin_dir / "mypy"), "resources", "training", "quality"], root, ": error:")
        print(f"mypy resources training quality (pyproject settings): {n} errors")


if __name__ == "__main__":
    main(sys.argv[1:])
