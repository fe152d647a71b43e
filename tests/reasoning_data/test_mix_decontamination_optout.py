"""An SFT mix built without any benchmark index fails its blocking check, unless the run config opts out
(``allow_no_decontamination: true``), and the opt-out is recorded in the materialization metadata."""

import shutil

import dagster as dg

from citrus_assets.common.decontamination import benchmark_data
from citrus_assets.common.decontamination.checks import decontamination_check
from citrus_assets.reasoning_data.instructions.assets import instruction_examples, instruction_sets
from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix
from resources.inbox import InboxResource
from tests.support.resources import make_resources


def test_empty_index_fails_the_mix_check_unless_opted_out(tmp_path, repo_root, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(benchmark_data, "BUNDLED_DATA_DIR", tmp_path / "no-sample")  # nothing bundled
    monkeypatch.delenv("CITRUS_EVAL_DATA", raising=False)
    monkeypatch.setenv("CITRUS_DATA", str(tmp_path / "no-shared"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "instructions" / "general_chat_demo.jsonl", inbox)
    root = str(tmp_path / "lake")
    resources = make_resources(root, inbox=InboxResource(instructions_dir=str(inbox)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(instruction_sets.name, ["general_chat_demo"])
    assert dg.materialize(
        [instruction_examples], partition_key="general_chat_demo", resources=resources, instance=instance
    ).success
    check = decontamination_check(sft_stage1_mix)
    for allow, passed, status in (
        (False, False, "FAILED: empty index"),
        (True, True, "OFF (allow_no_decontamination)"),
    ):
        cfg = {"config": {"tokenizer": tiny_model_dir, "allow_no_decontamination": allow}}
        result = dg.materialize(
            [instruction_examples, sft_stage1_mix, check],
            selection=[sft_stage1_mix, check],
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"sft_stage1_mix": cfg}},
        )
        [ev] = result.get_asset_check_evaluations()
        assert ev.check_name == "sft_stage1_mix_decontaminated" and ev.passed is passed
        [mat] = [e for e in result.get_asset_materialization_events() if e.asset_key == sft_stage1_mix.key]
        meta = mat.materialization.metadata["decontamination"].value
        assert meta["index_items"] == 0 and meta["allow_no_decontamination"] is allow and meta["status"] == status
