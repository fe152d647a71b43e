"""End to end: eval_items -> eval_predictions -> eval_scores for one benchmark x the tiny model, then eval_report."""

import dagster as dg
import pytest

from citrus_assets.common.decontamination import benchmark_data
from citrus_assets.evaluation.assets import eval_items, eval_models, eval_predictions, eval_report, eval_scores
from citrus_assets.evaluation.checks import EVAL_PREDICTIONS_VALID, EVAL_SCORES_VALID, checks
from citrus_assets.evaluation.models import EvalModelSpec, EvalModelsResource
from citrus_assets.evaluation.sensors import demo_partition_keys
from resources.lake import Lake
from tests.support.resources import make_resources

MAX_ITEMS = 3


@pytest.fixture
def env(tmp_path, tiny_model_dir, shared_data):
    lake_root = str(tmp_path / "lake")
    registry = EvalModelsResource(
        models={
            "tiny": EvalModelSpec(kind="hf", model=tiny_model_dir, prompt_style="citrus"),
            "tiny_plain": EvalModelSpec(kind="hf", model=tiny_model_dir, prompt_style="plain", stage="sft_stage3"),
        },
        include_checkpoints=True,
        cache_dir=str(tmp_path / "cache"),
        device="cpu",
    )
    resources = make_resources(lake_root, eval_models=registry)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(eval_models.name, ["tiny", "tiny_plain", "sft_stage1"])
    run_config = {
        "ops": {
            "eval_items": {"config": {"data_dir": str(shared_data), "max_items": MAX_ITEMS}},
            "eval_predictions": {"config": {"max_tokens": 8}},
        }
    }
    return lake_root, resources, instance, run_config


def _md(result, asset):
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


def _run(assets, key, env, run_config=None, selection=None, **kw):
    lake_root, resources, instance, default_config = env
    ops = {a.op.name for a in (selection or assets)}
    cfg = {"ops": {k: v for k, v in (run_config or default_config)["ops"].items() if k in ops}}
    return dg.materialize(
        assets, partition_key=key, resources=resources, instance=instance, run_config=cfg, selection=selection, **kw
    )


def test_eval_pipeline_end_to_end(env):
    lake_root, resources, instance, _ = env
    assert _run([eval_items, *checks[:1]], "pubmedqa", env).success
    for model in ("tiny", "tiny_plain"):
        key = dg.MultiPartitionKey({"benchmark": "pubmedqa", "model": model})
        res = _run(
            [eval_items, eval_predictions, eval_scores, *checks[1:3]],
            key,
            env,
            selection=[eval_predictions, eval_scores, *checks[1:3]],
        )
        assert res.success
        evals = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
        assert evals == {EVAL_PREDICTIONS_VALID: True, EVAL_SCORES_VALID: True}

    lake = Lake(lake_root)
    items = lake.read_table("eval_items", "pubmedqa").to_pylist()
    assert len(items) == MAX_ITEMS and all(i["split"] == "test" and i["context"] for i in items)
    preds = lake.read_table("eval_predictions", "pubmedqa|tiny").to_pylist()
    assert [p["parent_ids"] for p in preds] == [[i["record_id"]] for i in items]
    for p, i in zip(preds, items):
        assert i["stem"] in p["prompt"] and i["context"][:60] in p["prompt"]  # PubMedQA abstract in the prompt
        assert "<Question>" in p["prompt"] and p["option_letters"] == ["A", "B", "C"]
        assert p["no_answer"] == (not p["predicted_letters"]) and p["gen_model_id"] and p["gen_completion_tokens"] >= 1
    plain = lake.read_table("eval_predictions", "pubmedqa|tiny_plain").to_pylist()
    assert all("<Question>" not in p["prompt"] and p["stem"] in p["prompt"] for p in plain)
    score = lake.read_table("eval_scores", "pubmedqa|tiny").to_pylist()[0]
    assert score["n"] == MAX_ITEMS and score["correct"] == sum(p["correct"] for p in preds)
    assert score["ci_low"] <= score["accuracy"] <= score["ci_high"]

    # deterministic: a re-run is served from the request cache with identical predictions
    key = dg.MultiPartitionKey({"benchmark": "pubmedqa", "model": "tiny"})
    again = _run([eval_items, eval_predictions], key, env, selection=[eval_predictions])
    assert _md(again, "eval_predictions")["cache_hits"] == MAX_ITEMS
    strip = lambda rows: [{k: v for k, v in r.items() if k != "cached"} for r in rows]  # noqa: E731
    assert strip(lake.read_table("eval_predictions", "pubmedqa|tiny").to_pylist()) == strip(preds)

    report = _run([eval_report, checks[3]], None, env)
    assert report.success
    assert [e.passed for e in report.get_asset_check_evaluations()] == [True]  # eval_report_valid
    md = _md(report, "eval_report")
    assert "tiny" in md["table4"] and "pubmedqa" in md["table4"]
    assert "SFT-3" in md["table5"] and "data:image/png;base64," in md["chart"]
    text = open(md["report"]).read()
    assert "Table 4" in text and "Table 5" in text
    assert lake.read_table("eval_report").num_rows == 2


def test_missing_benchmark_and_missing_checkpoint(env, tmp_path, monkeypatch):
    lake_root, resources, instance, run_config = env
    # no data dir at all: neither the bundled sample nor real data (the sample gives every benchmark items)
    monkeypatch.setattr(benchmark_data, "BUNDLED_DATA_DIR", tmp_path / "no-bundled-sample")
    monkeypatch.setenv("CITRUS_DATA", str(tmp_path / "none"))
    monkeypatch.delenv("CITRUS_EVAL_DATA", raising=False)
    res = _run(
        [eval_items, checks[0]],
        "jmed",
        env,
        raise_on_error=False,
        run_config={"ops": {"eval_items": {"config": {"data_dir": str(tmp_path / "none")}}}},
    )
    md = _md(res, "eval_items")
    assert md["dagster/row_count"] == 0 and md["skipped"] != "no"
    assert [e.passed for e in res.get_asset_check_evaluations()] == [False]  # an empty partition fails its check

    # an empty benchmark scores as "no items" without loading the model
    key = dg.MultiPartitionKey({"benchmark": "jmed", "model": "tiny"})
    res = _run(
        [eval_items, eval_predictions, eval_scores, *checks[1:3]],
        key,
        env,
        selection=[eval_predictions, eval_scores, *checks[1:3]],
    )
    assert res.success
    score = Lake(lake_root).read_table("eval_scores", "jmed|tiny").to_pylist()[0]
    assert score["status"] == "no items" and score["accuracy"] is None
    report = _run([eval_report, checks[3]], None, env)  # the empty partition is a dash, not a report row
    assert [e.passed for e in report.get_asset_check_evaluations()] == [True]
    assert "—" in _md(report, "eval_report")["table4"] and Lake(lake_root).read_table("eval_report").num_rows == 0

    # a checkpoint model whose checkpoint was never materialized fails its own partition, clearly
    _run([eval_items], "pubmedqa", env)
    key = dg.MultiPartitionKey({"benchmark": "pubmedqa", "model": "sft_stage1"})
    res = _run([eval_items, eval_predictions], key, env, selection=[eval_predictions], raise_on_error=False)
    assert not res.success
    failure = [e for e in res.all_events if e.is_step_failure][0]
    assert "sft_stage1_checkpoint" in str(failure.event_specific_data.error)


def test_demo_keys_are_partitions_of_the_assets():
    keys = demo_partition_keys()
    assert len(keys) == 2 and all(k.keys_by_dimension["model"] == "builtin" for k in keys)
