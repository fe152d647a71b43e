"""Demo budget: each checkpoint asset with the main job's run config on the built-in SmolLM2-135M (CPU).

Materializes stand-in upstream tables (contract schemas, small synthetic rows) and then the checkpoint
assets, one Dagster step each, with the main job's ``DEMO_TRAINING_OPS`` / ``DEMO_RL_OPS`` (citrus_assets/jobs.py) and
``TrainingResource()`` (built-in model, python launcher, no DeepSpeed). Records each step's wall time
(process start, model load, training, save, hashing) against the ~60 s budget per asset.

    .venv/bin/python -m benchmarks.training_demo [--stages 5]

Writes benchmarks/results/training_demo.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from citrus_assets.common.metadata import output  # noqa: E402
from citrus_assets.jobs import DEMO_RL_OPS, DEMO_TRAINING_OPS  # noqa: E402
from citrus_assets.model_training.checkpoints.assets import checkpoint_assets  # noqa: E402
from citrus_assets.model_training.checkpoints.training_config import TrainingResource  # noqa: E402
from citrus_assets.model_training.schemas import PREFERENCE_SCHEMA  # noqa: E402
from citrus_assets.reasoning_data.schemas import SFT_MIX_SCHEMA  # noqa: E402
from resources.lake import LakeResource  # noqa: E402
from resources.lake_io import LakeIOManager  # noqa: E402
from resources.lineage.ids import record_id  # noqa: E402
from resources.lineage.schema import GEN_FIELDS  # noqa: E402

TEXT = (
    "Hypertension is a chronic elevation of arterial blood pressure. First-line drugs include thiazide "
    "diuretics, ACE inhibitors and calcium channel blockers. "
) * 12


@dg.asset(name="cpt_shards")
def cpt_shards(lake: LakeResource) -> dg.Output:
    lk = lake.lake()
    rows = []
    for source in ("web", "pdf"):
        path = lk.data_path("cpt_shards", None, f"shard-{source}-00000.parquet")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(pa.table({"text": [f"{source}: {TEXT}"] * 8}), path)
        rows.append(
            {
                "source": source,
                "shard": os.path.basename(path),
                "path": path,
                "documents": 8,
                "tokens": 0,
                "record_id": record_id("cptshard", source),
                "parent_ids": [],
            }
        )
    return output(pa.Table.from_pylist(rows))


def mix(name: str):
    @dg.asset(name=name)
    def _mix() -> dg.Output:
        rows = [
            {
                "record_id": record_id("s1mix", name, i),
                "parent_ids": [],
                "messages": [
                    {"role": "user", "content": f"Case {i}: what is first-line for hypertension?"},
                    {"role": "assistant", "content": "<think>Guidelines first.</think><answer>A thiazide.</answer>"},
                ],
                "source": "demo",
                "category": "instruction",
                "n_tokens": 30,
            }
            for i in range(8)
        ]
        return output(pa.Table.from_pylist(rows, schema=SFT_MIX_SCHEMA))

    return _mix


@dg.asset(name="preference_pairs")
def preference_pairs() -> dg.Output:
    rows = []
    for i in range(4):
        row = {
            "record_id": record_id("pref", i),
            "parent_ids": [],
            "question_id": str(i),
            "category": "medical",
            "prompt": [{"role": "user", "content": f"Case {i}: first-line for hypertension?"}],
            "chosen": [{"role": "assistant", "content": "<answer>A thiazide diuretic.</answer>"}],
            "rejected": [{"role": "assistant", "content": "<answer>Aspirin.</answer>"}],
            "prompt_text": "",
            "selection_rule": "demo",
            "n_samples": 2,
            "n_correct": 1,
        }
        row.update({name: None for name, _ in GEN_FIELDS})
        rows.append(row)
    return output(pa.Table.from_pylist(rows, schema=PREFERENCE_SCHEMA))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=5)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    upstream = [cpt_shards, mix("sft_stage1_mix"), mix("sft_stage2_mix"), mix("sft_stage3_mix"), preference_pairs]
    selected = checkpoint_assets[: args.stages]
    demo_ops = {**DEMO_TRAINING_OPS, **DEMO_RL_OPS}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "lake")
        res = dg.materialize(
            [*upstream, *checkpoint_assets],
            selection=[*upstream, *selected],
            resources={
                "io_manager": LakeIOManager(root=root),
                "lake": LakeResource(root=root),
                "training": TrainingResource(),
            },
            instance=dg.DagsterInstance.ephemeral(),
            run_config={"ops": {a.key.to_user_string(): demo_ops[a.key.to_user_string()] for a in selected}},
        )
        assert res.success
        md = {
            e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in res.get_asset_materialization_events()
        }
    lines = [
        "# Demo budget: checkpoint assets with the main job's run config (built-in SmolLM2-135M, CPU)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU, Python {platform.python_version()}. "
        f"Shared machine: load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        "Main job's run config (DEMO_TRAINING_OPS / DEMO_RL_OPS): 2 optimizer steps, global batch 1, max length "
        "128 (RL 512), no warmup, python "
        "launcher, no DeepSpeed. Step wall = the whole Dagster step (process start, model load, training, save, "
        "weights hash); budget ~60 s per asset.",
        "",
        "| asset | steps | tokens seen | final loss | train wall (s) | step wall (s) | budget |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for a in selected:
        m = md[a.key.to_user_string()]
        lines.append(
            f"| {a.key.to_user_string()} | {m['steps']} | {m['tokens_seen']} | {m['final_loss']:.3f} | "
            f"{m['train_wall_s']:.1f} | {m['step_wall_s']:.1f} | {'met' if m['step_wall_s'] <= 60 else 'missed'} |"
        )
    text = "\n".join(lines) + "\n"
    (REPO / "benchmarks" / "results" / "training_demo.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
