"""The checkpoint chain as Dagster assets on the tiny model: rows, metadata, lineage, reuse, automation, checks.

Upstream assets are stand-ins built here with the contract schemas (the real ones are built elsewhere).
CPT and SFT stage 1 are trained once per module (two short subprocess runs); the tests read that state.
The whole five-stage chain (five subprocess runs, minutes on 2 busy cores) runs when CITRUS_TRAINING_CHAIN=1.
"""

import os

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.metadata import output
from citrus_assets.model_training.checkpoints.assets import checkpoint_assets, cpt_checkpoint, sft_stage1_checkpoint
from citrus_assets.model_training.checkpoints.training_config import TrainingResource
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA, PREFERENCE_SCHEMA
from citrus_assets.reasoning_data.schemas import SFT_MIX_SCHEMA
from resources.lake import Lake, LakeResource
from resources.lineage import LineageStore
from resources.lineage.ids import record_id, source_id
from resources.lineage.schema import GEN_FIELDS
from resources.lineage.writer import table_data_version
from tests.support.resources import make_resources

FIRST_TWO = [cpt_checkpoint, sft_stage1_checkpoint]
SOURCE = "instructions_demo.jsonl"
SMALL = {"max_steps": 1, "global_batch_size": 1, "per_device_batch_size": 1, "max_seq_len": 64}


def mix_table(tag: str, n: int = 3) -> pa.Table:
    rows = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"{tag} question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]
        raw = f"{tag}-{i}"
        rows.append(
            {
                "record_id": record_id("s1mix", tag, i),
                "parent_ids": [source_id(SOURCE, raw)],
                "messages": msgs,
                "source": f"instructions:{SOURCE}",
                "category": "instruction",
                "n_tokens": 8,
            }
        )
    table = pa.Table.from_pylist(rows, schema=SFT_MIX_SCHEMA)
    table = table.append_column("source_uri", pa.array([SOURCE] * n))
    return table.append_column("source_locator", pa.array([f"line {i + 1}" for i in range(n)]))


def make_upstream(version: dict):
    # the real upstream assets return ``output(table)``: the data version is the content hash
    @dg.asset(name="cpt_shards")
    def cpt_shards(lake: LakeResource) -> dg.Output:
        import pyarrow.parquet as pq

        lk = lake.lake()
        text = "Oranges and limes grow on trees. " * 10 + version["cpt"]
        path = lk.data_path("cpt_shards", None, "shard-web-00000.parquet")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(pa.table({"text": [text] * 3}), path)
        return output(
            pa.table(
                {
                    "source": ["web"],
                    "shard": ["shard-web-00000.parquet"],
                    "path": [path],
                    "documents": [3],
                    "tokens": [90],
                    "record_id": [record_id("cptshard", "web", version["cpt"])],
                    "parent_ids": pa.array([[]], pa.list_(pa.string())),
                }
            )
        )

    def mix(name):
        @dg.asset(name=name)
        def _mix() -> dg.Output:
            return output(mix_table(name + version.get(name, "")))

        return _mix

    @dg.asset(name="preference_pairs", deps=["sft_stage3_checkpoint"])  # sampled by the current stage 3
    def preference_pairs(lake: LakeResource) -> dg.Output:
        lk = lake.lake()
        sampler = (
            lk.read_table("sft_stage3_checkpoint")["record_id"][0].as_py()
            if lk.exists("sft_stage3_checkpoint", None)
            else None
        )
        row = {
            "record_id": record_id("pref", "p"),
            "parent_ids": ["q", "c", "r"],
            "question_id": "q",
            "category": "medical",
            "prompt": [{"role": "user", "content": "What is the capital of France?"}],
            "chosen": [{"role": "assistant", "content": "Paris."}],
            "rejected": [{"role": "assistant", "content": "Lyon."}],
            "prompt_text": "…",
            "selection_rule": "first_correct_vs_first_wrong",
            "n_samples": 4,
            "n_correct": 1,
        }
        row.update({name: None for name, _ in GEN_FIELDS}, sampler_checkpoint=sampler)
        return output(
            pa.Table.from_pylist([row, {**row, "record_id": record_id("pref", "p2")}], schema=PREFERENCE_SCHEMA)
        )

    return [cpt_shards, mix("sft_stage1_mix"), mix("sft_stage2_mix"), mix("sft_stage3_mix"), preference_pairs]


def run_config(assets, **over):
    return {"ops": {a.key.to_user_string(): {"config": {**SMALL, **over}} for a in assets}}


def setup_chain(root: str, tiny_model_dir: str, assets) -> dict:
    resources = make_resources(root, training=TrainingResource(base_model=tiny_model_dir))
    version: dict = {"cpt": "v1"}
    upstream = make_upstream(version)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*upstream, *checkpoint_assets],
        selection=[*upstream, *assets],
        resources=resources,
        instance=instance,
        run_config=run_config(assets),
    )
    assert result.success
    return {
        "root": root,
        "resources": resources,
        "instance": instance,
        "upstream": upstream,
        "version": version,
        "result": result,
    }


@pytest.fixture(scope="module")
def chain(tmp_path_factory, tiny_model_dir):
    return setup_chain(str(tmp_path_factory.mktemp("ckpt") / "lake"), tiny_model_dir, FIRST_TWO)


def materialization_md(result, asset):
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


ORDER = ["cpt_checkpoint", "sft_stage1_checkpoint", "sft_stage2_checkpoint", "sft_stage3_checkpoint", "rl_checkpoint"]


def check_chain(chain, order):
    lake = Lake(chain["root"])
    rows = {a: lake.read_table(a).to_pylist()[0] for a in order}
    assert lake.read_table(order[-1]).schema.equals(CHECKPOINT_SCHEMA)
    assert [rows[a]["stage"] for a in order] == ["cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl"][: len(order)]
    for prev, cur in zip(order, order[1:]):
        assert rows[cur]["base_model"] == rows[prev]["model_path"]
        assert rows[cur]["parent_ids"] == [rows[prev]["record_id"]]
    for row in rows.values():
        assert os.path.exists(os.path.join(row["model_path"], "model.safetensors"))
        assert row["model_path"].startswith(os.path.join(chain["root"], "checkpoints", row["stage"]))
        assert row["steps"] == 1 and row["tokens_seen"] > 0
        assert not os.path.exists(os.path.join(os.path.dirname(row["model_path"]), "trainer"))  # step ckpts removed
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(rows[order[-1]]["model_path"]) is not None
    return rows


def test_cpt_then_sft_stage1_each_from_the_previous_model(chain):
    rows = check_chain(chain, ORDER[:2])
    md = materialization_md(chain["result"], "sft_stage1_checkpoint")
    assert set(md["input_data_versions"]) == {"sft_stage1_mix", "cpt_checkpoint"}
    assert md["hyperparameters"]["adam_beta2"] == 0.95 and md["hyperparameters"]["grad_accum"] == 1
    assert md["loss_curve"].startswith("![") and md["weights_sha256"] == rows["sft_stage1_checkpoint"]["weights_sha256"]
    cpt_md = materialization_md(chain["result"], "cpt_checkpoint")
    assert cpt_md["bandit_shares"] == {"web": 1.0} and cpt_md["bandit_proportions"].startswith("![")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CITRUS_TRAINING_CHAIN") != "1", reason="set CITRUS_TRAINING_CHAIN=1 (minutes)")
def test_whole_chain_to_rl(tmp_path, tiny_model_dir):
    full = setup_chain(str(tmp_path / "lake"), tiny_model_dir, checkpoint_assets)
    check_chain(full, ORDER)
    assert materialization_md(full["result"], "rl_checkpoint")["hyperparameters"]["loss_type"] == "simpo"
    lake = Lake(full["root"])
    store = LineageStore(lake.lineage_root, os.path.join(full["root"], "_lineage", "lineage.duckdb"))
    hit = {c["checkpoint_asset"] for c in store.impact("source", SOURCE, max_records=None)["checkpoints"]}
    assert hit == set(ORDER[1:])  # stage 1 trained on the mix; 2, 3 and RL on its descendants' weights


def test_lineage_impact_of_a_source_reaches_the_checkpoints(chain):
    lake = Lake(chain["root"])
    store = LineageStore(lake.lineage_root, os.path.join(chain["root"], "_lineage", "lineage.duckdb"))
    impact = store.impact("source", SOURCE, max_records=None)
    hit = {c["checkpoint_asset"] for c in impact["checkpoints"]}
    assert hit == {"sft_stage1_checkpoint"}  # trained on the mix made from the source; CPT was not
    s1 = next(c for c in impact["checkpoints"] if c["checkpoint_asset"] == "sft_stage1_checkpoint")
    mix_dv = table_data_version(lake.read_table("sft_stage1_mix"))
    assert {"asset": "sft_stage1_mix", "partition": "__all__", "data_version": mix_dv} in s1["inputs"]


def test_unchanged_inputs_reuse_the_finished_run(chain):
    result = dg.materialize(
        [*chain["upstream"], *checkpoint_assets],
        selection=[sft_stage1_checkpoint],
        resources=chain["resources"],
        instance=chain["instance"],
        run_config={"ops": {"sft_stage1_checkpoint": {"config": SMALL}}},
    )
    md = materialization_md(result, "sft_stage1_checkpoint")
    assert md["reused"] is True
    first = materialization_md(chain["result"], "sft_stage1_checkpoint")
    assert md["data_version"] == first["data_version"]


def test_automation_retrains_on_changed_data_only(chain):
    instance, resources, version = chain["instance"], chain["resources"], chain["version"]
    upstream = chain["upstream"]
    defs = dg.Definitions(assets=[*upstream, cpt_checkpoint], resources=resources)
    cursor = None

    def requested():
        nonlocal cursor
        res = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = res.cursor
        return {k.to_user_string() for k in (cpt_checkpoint.key,) if res.get_num_requested(k)}

    assert requested() == set()  # everything materialized: nothing to do
    shards = upstream[0]
    assert dg.materialize([shards], resources=resources, instance=instance).success  # same data again
    assert requested() == set()  # a re-run with the same data version never retrains
    version["cpt"] = "v2"
    assert dg.materialize([shards], resources=resources, instance=instance).success
    assert requested() == {"cpt_checkpoint"}  # new data version -> retrain scheduled
    assert requested() == set()  # handled: not requested again


def test_failed_blocking_check_stops_training(chain):
    instance, resources = chain["instance"], chain["resources"]
    mix1 = chain["upstream"][1]
    chain["version"]["sft_stage1_mix"] = "-bad"

    @dg.asset_check(asset="sft_stage1_mix", name="mix_is_sane", blocking=True)
    def mix_is_sane() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, description="planted failure")

    assets = [*chain["upstream"], *checkpoint_assets]
    res = dg.materialize([mix1, mix_is_sane], resources=resources, instance=instance, raise_on_error=False)
    assert [e.passed for e in res.get_asset_check_evaluations()] == [False]  # new mix data, blocking check failed
    defs = dg.Definitions(assets=assets, asset_checks=[mix_is_sane], resources=resources)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert tick.get_num_requested(sft_stage1_checkpoint.key) == 0  # changed data, but its blocking check failed
    run = dg.materialize(
        [*assets, mix_is_sane],
        selection=[sft_stage1_checkpoint],
        resources=resources,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"sft_stage1_checkpoint": {"config": {**SMALL, "seed": 7}}}},
    )
    assert not run.success
    failure = [e for e in run.all_events if e.is_step_failure][0]
    assert "blocking checks failed" in str(failure.step_failure_data.error) or "blocking checks failed" in str(
        failure.step_failure_data.user_failure_data
    )


def test_partitioned_inputs_are_recorded_per_partition(tmp_path):
    """A checkpoint reading every partition of an input (rl_checkpoint <- preference_pairs) records each
    partition at its own data version, so lineage impact and data cards find the materializations."""
    from citrus_assets.model_training.checkpoints.assets import input_partitions
    from resources.lake import Lake
    from resources.lineage.writer import table_data_version

    lake = Lake(str(tmp_path / "lake"))
    parts = {
        p: pa.table({"record_id": [f"pref-{p}{i}" for i in range(n)], "parent_ids": [[]] * n})
        for p, n in (("set_a", 2), ("set_b", 3))
    }
    for p, t in parts.items():
        lake.write_asset("preference_pairs", p, t)
    both = lake.read_partitions("preference_pairs", ["set_a", "set_b"])
    assert input_partitions("preference_pairs", both) == [
        ("preference_pairs", p, table_data_version(t)) for p, t in parts.items()
    ]
    single = lake.read_table("preference_pairs", "set_a")
    assert input_partitions("sft_stage3_mix", single) == [("sft_stage3_mix", None, table_data_version(single))]
