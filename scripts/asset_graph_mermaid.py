"""Write docs/asset_graph.md: the code location's asset graph as a Mermaid diagram, one box per stage.

    .venv/bin/python scripts/asset_graph_mermaid.py          # rewrite the file
    .venv/bin/python scripts/asset_graph_mermaid.py --check  # exit 1 when the file is out of date

tests/platform/test_definitions.py runs the check, so the picture always matches the definitions.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "asset_graph.md"
STAGE_TITLES = {
    "cpt_corpus": "CPT corpus",
    "reasoning_data": "Reasoning data",
    "training": "Training",
    "evaluation": "Evaluation",
    "jmed": "JMED",
}


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


NOTES = """
## Reading the graph in the Dagster UI

- **Paper stages.** Every asset carries the tags `paper_stage` (cpt, reasoning_data, training, evaluation, jmed)
  and `paper_step` (e.g. `sft_stage3`, `rl`), an owner per stage (`team:data`, `team:training`,
  `team:evaluation`, `team:jmed`), `kinds` naming the engine (datatrove, pymupdf, transformers, trl, pytorch,
  besides the storage: parquet, jsonl, markdown) and a description that starts with the paper's words for the
  step. One table assigns them: `citrus_assets/common/stage_metadata.py` (applied with `dg.map_asset_specs`
  where `definitions.py` composes the stages); `tests/platform/test_stage_metadata.py` fails for an asset
  without a row.
- **Evaluation follows training.** `eval_predictions_<stage>` reads `<stage>_checkpoint` for CPT, SFT 1-3 and
  RL (plus the base model); `eval_jmed` scores the final RL checkpoint on each month's JMED release
  (`jmed_benchmark`), so the JMED builder feeds evaluation (`citrus_assets/evaluation/jmed_eval.py`).
- **Every input is an asset.** `nonmedical_reasoning` is the non-medical (logic, math) folder that
  `sft_stage3_mix` and `rejection_samples` read; its rows cite file and line in the lineage index.
- **Stale is visible.** The check `built_on_current_data` (WARN) on every checkpoint and SFT mix lists the
  stale partitions of the asset and everything upstream of it, with the cause (a new input data version or
  code version), and the partitions built on those since (Dagster itself marks only a changed input's direct
  children "Unsynced"); it runs with each materialization, from "Execute checks", and every 10 minutes from
  `stale_data_sensor` once that sensor is turned on (`citrus_assets/common/scheduling/staleness.py`).
- **Runs on job pages.** The main job launches each step as its defined job, tagged with the code location
  (`jobs.job_page_tags`), so the runs are listed on the jobs' pages.
- **Quarantine.** A materialization whose asset quarantined units carries `quarantine_path` and `quarantined`
  (the lake IO manager, `Lake.quarantine_metadata`).
- **Node names.** Zoomed out, the UI cuts `sft_stageN_checkpoint` to `sft_st…_checkpoint` (and the data cards
  alike); zoomed in, every name is drawn in full. Asset keys are kept (renaming would orphan existing lakes and
  lineage). `tests/ui/test_dagster_to_lineage_ui.py` records the cut names with the screenshots.
"""


def document() -> str:
    return (
        "# The asset graph\n\n"
        "Generated from `citrus_assets/definitions.py` by `scripts/asset_graph_mermaid.py` (a test keeps it "
        "current). One box per stage of the paper's Figure 3.\n\n```mermaid\n" + mermaid() + "\n```\n" + NOTES
    )


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
