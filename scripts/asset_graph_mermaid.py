"""Write docs/asset_graph.md: the code location's asset graph as a Mermaid diagram, one box per stage.

    .venv/bin/python scripts/asset_graph_mermaid.py          # rewrite the file
    .venv/bin/python scripts/asset_graph_mermaid.py --check  # exit 1 when the file is out of date

tests/platform/test_definitions.py runs the check, so the picture always matches the definitions.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "docs" / "asset_graph.md"
STAGE_TITLES = {"cpt_corpus": "CPT corpus", "reasoning_data": "Reasoning data", "training": "Training",
                "evaluation": "Evaluation", "jmed": "JMED"}


def mermaid() -> str:
    from citrus_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(graph.get(k).group_name or "default", []).append(k.to_user_string())
    lines = ["flowchart LR"]
    for g in [g for g in STAGE_TITLES if g in groups] + sorted(set(groups) - set(STAGE_TITLES)):
        lines.append(f'  subgraph {g}["{STAGE_TITLES.get(g, g)}"]')
        lines += [f"    {name}" for name in groups[g]]
        lines.append("  end")
    for k in keys:
        for parent in sorted(p.to_user_string() for p in graph.get(k).parent_keys):
            lines.append(f"  {parent} --> {k.to_user_string()}")
    return "\n".join(lines)


def document() -> str:
    return ("# The asset graph\n\n"
            "Generated from `citrus_assets/definitions.py` by `scripts/asset_graph_mermaid.py` (a test keeps it "
            "current). One box per stage of the paper's Figure 3.\n\n```mermaid\n" + mermaid() + "\n```\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = document()
    if args.check:
        ok = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("docs/asset_graph.md is " + ("current" if ok else "OUT OF DATE: run scripts/asset_graph_mermaid.py"))
        return 0 if ok else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
