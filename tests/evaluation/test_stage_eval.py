"""Evaluation downstream of training (issue 18): one asset pair per training stage, the ablation table.

- the ablation table builder (Table 5): six model rows, cells with 95% CI and n, the chance row;
- the main job's plan evaluates the base model and all five checkpoints;
- automation: changing the preference data retrains ``rl_checkpoint`` and re-evaluates exactly RL's
  partitions (counted tick by tick), on the tiny model and the bundled evaluation sample.

The checkpoints here are stand-ins with the real assets' names, schema and automation conditions, whose
rows point at the tiny model (training itself is tested in tests/training); the evaluation assets, the
items (bundled sample) and the report are the real ones.
"""

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.metadata import output
from citrus_assets.evaluation.assets import eval_items, eval_report
from citrus_assets.evaluation.models import EvalModelsResource
from citrus_assets.evaluation.report import NOT_EVALUATED, ablation_md, ablation_table, ablation_text
from citrus_assets.evaluation.scoring import chance_level, item_chance, wilson_interval
from citrus_assets.evaluation.stage_assets import (
    STAGE_EVAL_ASSETS,
    STAGES,
    predictions_asset,
    scores_asset,
    stage_assets,
)
from citrus_assets.model_training.checkpoints.assets import checkpoint_assets
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA, CHECKPOINT_STAGES
from resources.lake import Lake
from resources.lineage.ids import record_id
from tests.support.resources import make_resources

MODEL_ROWS = ["base", "CPT", "SFT-1", "SFT-2", "SFT-3", "RL"]


def score_row(stage: str, benchmark: str, k: int, n: int, chance: float = 0.25, model: str | None = None) -> dict:
    lo, hi = wilson_interval(k, n)
    return {
        "record_id": f"s-{stage}-{benchmark}",
        "benchmark": benchmark,
        "model": model or stage,
        "stage": stage,
        "n": n,
        "correct": k,
        "accuracy": k / n if n else None,
        "ci_low": lo,
        "ci_high": hi,
        "no_answer": 0,
        "chance": chance,
    }


def test_ablation_table_has_six_model_rows_and_a_chance_row():
    rows = [
        score_row("base", "medqa", 1, 4),
        score_row("rl", "medqa", 2, 4),
        score_row("base", "pubmedqa", 1, 3, 1 / 3),
    ]
    grid = ablation_table(rows)
    assert grid[0] == ["model", "medqa", "pubmedqa"]
    assert [r[0] for r in grid[1:-1]] == MODEL_ROWS and grid[-1][0] == "chance"
    base, cpt, rl = grid[1], grid[2], grid[6]
    lo, hi = wilson_interval(1, 4)
    assert base[1] == f"0.250 [{lo:.2f}–{hi:.2f}] n=4"
    assert cpt[1:] == [NOT_EVALUATED, NOT_EVALUATED]  # a stage not evaluated yet still has its row
    assert rl[1].startswith("0.500 [") and rl[2] == NOT_EVALUATED
    assert grid[-1][1:] == ["0.250", "0.333"]
    text = ablation_text(rows)
    assert len(text.splitlines()) == 2 + 6 + 1  # header, rule, six models, chance
    md = ablation_md(rows)
    assert md.count("\n| ") == 7 and "| SFT-3 |" in md
    # a registered model with a stage fills only the cells its stage asset has not
    other = score_row("rl", "medqa", 4, 4, model="my_rl_export")
    assert ablation_table(rows + [other])[6][1] == rl[1]
    assert ablation_table([other])[6][1].startswith("1.000")


def test_ablation_table_with_nothing_evaluated_still_has_six_rows():
    grid = ablation_table([], benchmarks=["medqa"])
    assert [r[0] for r in grid[1:-1]] == MODEL_ROWS and all(r[1] == NOT_EVALUATED for r in grid[1:-1])


def test_chance_level():
    assert item_chance(list("ABCD"), ["B"]) == 0.25
    assert item_chance(list("ABCDEFGHIJ"), ["C"]) == 0.1
    assert item_chance([chr(65 + i) for i in range(21)], ["A", "C"]) == pytest.approx(1 / 210)
    assert item_chance(list("ABC"), []) == 0.0  # no answer key: nothing to guess
    rows = [
        {"option_letters": list("ABCD"), "answer_letters": ["A"]},
        {"option_letters": list("ABCDE"), "answer_letters": ["E"]},
    ]
    assert chance_level(rows) == pytest.approx((0.25 + 0.2) / 2) and chance_level([]) is None


def test_main_plan_evaluates_the_base_model_and_all_five_checkpoints():
    from citrus_assets.definitions import defs
    from citrus_assets.evaluation.sensors import EVAL_STAGES_JOB
    from citrus_assets.jobs import MAIN_PLAN

    step = next(s for s in MAIN_PLAN if s.job == EVAL_STAGES_JOB)
    selected = {k.to_user_string() for k in defs.resolve_job_def(step.job).asset_layer.selected_asset_keys}
    assert {predictions_asset(s) for s in STAGES} | {scores_asset(s) for s in STAGES} <= selected
    assert len(STAGES) == 6 and STAGES[0] == "base"
    # every stage's predictions get the main job's decoding settings (validated against the job's schema)
    assert {predictions_asset(s) for s in STAGES} <= set(step.ops)
    dg.validate_run_config(defs.resolve_job_def(step.job), {"ops": step.ops})
    order = [s.job for s in MAIN_PLAN]
    assert order.index("rl_job") < order.index(EVAL_STAGES_JOB)  # the checkpoints exist before they are evaluated


def test_each_stage_depends_on_its_checkpoint_in_the_graph():
    from citrus_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for stage in STAGES:
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(predictions_asset(stage))).parent_keys}
        assert parents == ({"eval_items"} if stage == "base" else {"eval_items", f"{stage}_checkpoint"})
    assert {scores_asset(s) for s in STAGES} <= {
        k.to_user_string() for k in graph.get(dg.AssetKey("eval_report")).parent_keys
    }


# --- automation: a retrained RL checkpoint re-evaluates exactly RL's partitions ------------------------------

BENCHMARKS = ("medqa", "pubmedqa")
REAL = {a.key.to_user_string(): a for a in checkpoint_assets}


def standin_checkpoints(model_dir: str, version: dict) -> list:
    """cpt..rl with the real names and automation conditions; rows point at ``model_dir``."""

    def ckpt(stage: str, deps: list[str]):
        name = f"{stage}_checkpoint"

        @dg.asset(name=name, deps=deps, automation_condition=REAL[name].automation_conditions_by_key[REAL[name].key])
        def _ckpt() -> dg.Output:
            sha = f"{stage}-{version['pairs'] if stage == 'rl' else 'v1'}"  # RL's weights follow the pairs
            row = {
                "record_id": record_id("ckpt", stage, sha),
                "parent_ids": [],
                "stage": stage,
                "model_path": model_dir,
                "base_model": model_dir,
                "weights_sha256": sha,
                "steps": 1,
                "tokens_seen": 1,
                "wall_s": 0.0,
                "final_loss": 0.0,
                "hyperparameters": "{}",
                "data_versions": "{}",
            }
            return output(pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA))

        return _ckpt

    @dg.asset(name="preference_pairs")
    def preference_pairs() -> dg.Output:
        return output(
            pa.table(
                {
                    "record_id": [record_id("pref", version["pairs"])],
                    "parent_ids": pa.array([[]], pa.list_(pa.string())),
                    "prompt": [version["pairs"]],
                }
            )
        )

    previous = []
    out = [preference_pairs]
    for stage in CHECKPOINT_STAGES:
        deps = previous + (["preference_pairs"] if stage == "rl" else [])
        out.append(ckpt(stage, deps))
        previous = [f"{stage}_checkpoint"]
    return out


@pytest.fixture
def lake_env(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("CITRUS_EVAL_DATA", raising=False)
    monkeypatch.setenv("CITRUS_DATA", str(tmp_path / "no-shared-data"))  # the bundled sample only
    root = str(tmp_path / "lake")
    resources = make_resources(
        root,
        training=TrainingResource(base_model=tiny_model_dir),
        eval_models=EvalModelsResource(cache_dir=str(tmp_path / "cache"), device="cpu"),
    )
    return root, resources, dg.DagsterInstance.ephemeral()


def test_new_preference_data_retrains_rl_and_reevaluates_only_rl(lake_env, tiny_model_dir):
    root, resources, instance = lake_env
    version = {"pairs": "p1"}
    standins = standin_checkpoints(tiny_model_dir, version)
    everything = [*standins, eval_items, *stage_assets, eval_report]
    defs = dg.Definitions(assets=everything, resources=resources)
    # the stage evaluation's own decoding settings for the tiny model (automatic runs take the asset defaults)
    small = {"ops": {predictions_asset(s): {"config": {"max_tokens": 4}} for s in STAGES}}
    cursor = None

    def tick() -> list[tuple[str, tuple]]:
        """One automation tick; returns what it requested [(asset, partitions)] and runs it (one run per partition)."""
        nonlocal cursor
        res = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = res.cursor
        requested = []
        for asset in everything:
            key = asset.key
            if res.get_num_requested(key):
                parts = tuple(sorted(res.get_requested_partitions(key))) if asset.partitions_def else (None,)
                requested.append((key.to_user_string(), parts))
        by_partition: dict = {}
        for name, parts in requested:
            for p in parts:
                by_partition.setdefault(p, []).append(next(a for a in everything if a.key.to_user_string() == name))
        for p, selection in by_partition.items():
            ops = {k: v for k, v in small["ops"].items() if any(a.key.to_user_string() == k for a in selection)}
            assert dg.materialize(
                everything,
                selection=selection,
                partition_key=p,
                resources=resources,
                instance=instance,
                run_config={"ops": ops},
            ).success
        return requested

    # the lake before: checkpoints trained, then the automation switched on (its first tick only starts its
    # cursor: Dagster requests nothing on an initial evaluation), then two benchmarks' items loaded (the
    # bundled sample, 2 items each)
    assert dg.materialize(everything, selection=standins, resources=resources, instance=instance).success
    assert tick() == []
    for b in BENCHMARKS:
        assert dg.materialize(
            everything,
            selection=[eval_items],
            partition_key=b,
            resources=resources,
            instance=instance,
            run_config={"ops": {"eval_items": {"config": {"max_items": 2}}}},
        ).success

    # first evaluation by automation: every stage on the two benchmarks with items (others are blocked by
    # their missing items), then the scores, then the report
    first = tick()
    assert sorted(first) == sorted((predictions_asset(s), BENCHMARKS) for s in STAGES)
    assert sorted(tick()) == sorted((scores_asset(s), BENCHMARKS) for s in STAGES)
    assert tick() == [("eval_report", (None,))]
    assert tick() == []
    lake = Lake(root)
    before = {s: lake.read_table(scores_asset(s), "medqa").to_pylist()[0] for s in STAGES}
    assert all(r["n"] == 2 and r["chance"] is not None for r in before.values())
    report_md = lake.read_table("eval_report").num_rows
    assert report_md == len(STAGES) * len(BENCHMARKS)

    # new preference data: RL retrains, then exactly RL's partitions are re-evaluated, then the report
    version["pairs"] = "p2"
    assert dg.materialize(everything, selection=[standins[0]], resources=resources, instance=instance).success
    steps = []
    while True:
        requested = tick()
        if not requested:
            break
        steps.append(requested)
        assert len(steps) < 10
    assert steps == [
        [("rl_checkpoint", (None,))],
        [(predictions_asset("rl"), BENCHMARKS)],
        [(scores_asset("rl"), BENCHMARKS)],
        [("eval_report", (None,))],
    ]
    after = {s: lake.read_table(scores_asset(s), "medqa").to_pylist()[0] for s in STAGES}
    assert after["rl"]["model_revision"] != before["rl"]["model_revision"]  # the new checkpoint was evaluated
    assert all(after[s] == before[s] for s in STAGES if s != "rl")  # nothing else was touched
    preds = lake.read_table(predictions_asset("rl"), "medqa").to_pylist()
    assert len(preds) == 2 and {p["checkpoint_id"] for p in preds} == {record_id("ckpt", "rl", "rl-p2")}


def test_a_missing_checkpoint_blocks_only_its_own_partitions(lake_env, tiny_model_dir):
    root, resources, instance = lake_env
    standins = standin_checkpoints(tiny_model_dir, {"pairs": "p1"})
    no_rl = [a for a in standins if a.key.to_user_string() != "rl_checkpoint"]
    everything = [*standins, eval_items, *stage_assets]
    assert dg.materialize(everything, selection=no_rl, resources=resources, instance=instance).success
    # the automation's first tick only starts its cursor; then new items arrive for medqa
    defs = dg.Definitions(assets=[*standins, eval_items, *stage_assets], resources=resources)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    assert dg.materialize(
        everything,
        selection=[eval_items],
        partition_key="medqa",
        resources=resources,
        instance=instance,
        run_config={"ops": {"eval_items": {"config": {"max_items": 1}}}},
    ).success
    res = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    evaluated = {s for s in STAGES if res.get_num_requested(dg.AssetKey(predictions_asset(s)))}
    assert evaluated == set(STAGES) - {"rl"}
    assert all(res.get_requested_partitions(dg.AssetKey(predictions_asset(s))) == {"medqa"} for s in evaluated)
    _, scores = STAGE_EVAL_ASSETS["rl"]
    assert res.get_num_requested(scores.key) == 0


def test_main_job_prints_the_ablation_table_with_six_model_rows(tmp_path):
    from citrus_assets.demo import MainJobResult, ablation_summary, format_summary
    from citrus_assets.evaluation.scoring import SCORE_SCHEMA

    lake = Lake(str(tmp_path / "lake"))
    for stage, k in (("base", 1), ("cpt", 2), ("rl", 0)):
        row = {f.name: None for f in SCORE_SCHEMA}
        row.update(score_row(stage, "medqa", k, 4), parent_ids=[], status="scored")
        lake.write_asset(scores_asset(stage), "medqa", pa.Table.from_pylist([row], schema=SCORE_SCHEMA))
    text = ablation_summary(lake)
    printed = format_summary(MainJobResult(ablation_text=text), "lake", "db")
    table = printed.split("Ablation")[1].splitlines()
    model_rows = [line for line in table if line.split("  ")[0].strip() in MODEL_ROWS]
    assert [line.split()[0] for line in model_rows] == MODEL_ROWS
    assert "0.500 [" in model_rows[1] and NOT_EVALUATED in model_rows[2]
    assert any(line.startswith("chance") and "0.250" in line for line in table)
