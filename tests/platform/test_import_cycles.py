"""No import cycles between the lake's modules (issue 16).

The graph is built from the source with ``ast`` (nothing is imported): one node per module of
``citrus_assets``, ``resources``, ``training`` and ``quality``; one edge per import statement anywhere in
a module -- at the top, inside a function (a "lazy" import that only hides a cycle from the
interpreter) or under ``if TYPE_CHECKING:``. ``from pkg import name`` points at ``pkg.name`` when that is
a module, else at ``pkg``. The strongly connected components of more than one module (or a module that
imports itself) are the cycles; the test asserts there are none and names them when there are.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("citrus_assets", "resources", "training", "quality")


def module_files(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` below the given top-level packages."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the lake modules it imports (see the module docstring for what counts)."""
    files = module_files(root, packages)
    graph: dict[str, set[str]] = {m: set() for m in files}

    def known(name: str) -> str | None:
        # the longest prefix of ``name`` that is a lake module (``a.b.func`` -> ``a.b``)
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            cand = ".".join(parts[:i])
            if cand in files:
                return cand
        return None

    for module, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                dep = known(t)
                if dep is not None and dep != module:
                    graph[module].add(dep)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def test_the_finder_finds_a_cycle_and_a_lazy_one(tmp_path):
    """The finder itself: a top-level cycle, a cycle hidden in a function, a relative import, no false one."""
    pkg = tmp_path / "citrus_assets"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from citrus_assets import b\n")
    (pkg / "b.py").write_text("from citrus_assets.a import thing\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from .d import x\n")
    (pkg / "sub" / "d.py").write_text("import citrus_assets.sub.c\n")
    (pkg / "e.py").write_text("from citrus_assets.a import thing\nfrom citrus_assets.sub import c\n")
    graph = import_graph(tmp_path, ["citrus_assets"])
    assert graph["citrus_assets.e"] == {"citrus_assets.a", "citrus_assets.sub.c"}
    assert cycles(graph) == [["citrus_assets.a", "citrus_assets.b"], ["citrus_assets.sub.c", "citrus_assets.sub.d"]]


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 100, "the import graph should cover the lake's modules"
    found = cycles(graph)
    assert not found, "import cycles (strongly connected components):\n" + "\n".join(" <-> ".join(c) for c in found)
