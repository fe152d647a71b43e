"""The out-of-process launcher: command lines, the ZeRO-3 config, streaming and the failure path."""

import json
import os

import pytest

from training.config import CPOStageConfig, SFTStageConfig, from_json, to_json
from training.launch import LaunchSpec, TrainingFailed, command, launch, prepare, zero3_config


def test_config_round_trips_and_rejects_unknown_fields():
    cfg = CPOStageConfig(model_path="m", max_steps=3)
    assert from_json(to_json(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown"):
        from_json(json.dumps({"kind": "sft", "learning_rte": 1.0}))


def test_paper_defaults_and_computed_accumulation():
    s, c = SFTStageConfig(), CPOStageConfig()
    assert (s.learning_rate, s.global_batch_size, s.adam_beta1, s.adam_beta2, s.weight_decay, s.max_grad_norm) == (
        5e-6,
        512,
        0.9,
        0.95,
        1e-4,
        1.0,
    )
    assert (c.learning_rate, c.global_batch_size, c.epochs, c.beta, c.simpo_gamma, c.cpo_alpha, c.loss_type) == (
        1e-6,
        16,
        3.0,
        10.0,
        5.4,
        0.05,
        "simpo",
    )
    assert SFTStageConfig(per_device_batch_size=4).grad_accum(world_size=8) == 16  # 4 x 16 x 8 = 512
    with pytest.raises(ValueError, match="multiple"):
        SFTStageConfig(per_device_batch_size=3).grad_accum(world_size=1)


def test_zero3_config_uses_torch_adamw_and_gathers_on_save():
    ds = zero3_config(bf16=True)
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert ds["zero_force_ds_cpu_optimizer"] is False and "optimizer" not in ds  # no compiled DeepSpeedCPUAdam
    assert ds["bf16"]["enabled"] == "auto"
    assert zero3_config(bf16=False)["bf16"]["enabled"] is False


def test_commands_for_each_launcher(tmp_path):
    cfg = SFTStageConfig(
        model_path="m", data_path=str(tmp_path / "d.parquet"), output_dir=str(tmp_path / "run"), bf16=True
    )
    cfg, path = prepare(cfg, LaunchSpec(deepspeed=True))
    assert json.load(open(cfg.deepspeed_config))["zero_optimization"]["stage"] == 3
    assert json.load(open(path))["deepspeed_config"] == cfg.deepspeed_config
    assert command(cfg, LaunchSpec(), path)[1:] == ["-m", "training.run", path]
    multi = command(cfg, LaunchSpec(launcher="accelerate", num_processes=8), path)
    assert multi[multi.index("--num_processes") + 1] == "8" and "--multi_gpu" in multi
    assert multi[multi.index("--mixed_precision") + 1] == "bf16" and multi[-3:] == ["-m", "training.run", path]
    nodes = command(
        cfg,
        LaunchSpec(launcher="accelerate", num_processes=8, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1"),
        path,
    )
    assert nodes[nodes.index("--num_processes") + 1] == "16" and nodes[nodes.index("--machine_rank") + 1] == "1"
    ds = command(cfg, LaunchSpec(launcher="deepspeed", hostfile="hosts.txt", deepspeed=True), path)
    assert ds[ds.index("--hostfile") + 1] == "hosts.txt" and ds[-3:] == ["--module", "training.run", path]
    with pytest.raises(ValueError):
        command(cfg, LaunchSpec(num_processes=2), path)


def test_failure_surfaces_the_trainers_error_tail(tiny_model_dir, tmp_path):
    lines = []
    cfg = SFTStageConfig(
        model_path=tiny_model_dir,
        data_path=str(tmp_path / "missing.parquet"),
        output_dir=str(tmp_path / "run"),
        global_batch_size=1,
        per_device_batch_size=1,
        max_steps=1,
    )
    with pytest.raises(TrainingFailed) as err:
        launch(cfg, on_line=lines.append)
    assert err.value.returncode != 0
    tail = "\n".join(err.value.tail)
    assert "missing.parquet" in tail and "Traceback" in tail  # the child's own error, not a generic message
    assert "missing.parquet" in str(err.value)
    assert lines and lines[0].startswith("launch: ")
    assert os.path.exists(tmp_path / "run" / "train.log")


@pytest.mark.slow
def test_accelerate_launch_with_a_config_file_trains(tiny_model_dir, tmp_path, repo_root):
    """``accelerate launch --config_file deploy/accelerate.cpu.yaml`` runs the SFT trainer end to end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "sft.parquet"
    pq.write_table(
        pa.table(
            {
                "messages": [
                    [
                        {"role": "user", "content": f"Fruit {i}?"},
                        {"role": "assistant", "content": "The lemon is a citrus fruit."},
                    ]
                    for i in range(2)
                ]
            }
        ),
        data,
    )
    cfg = SFTStageConfig(
        model_path=tiny_model_dir,
        data_path=str(data),
        output_dir=str(tmp_path / "run"),
        global_batch_size=1,
        per_device_batch_size=1,
        max_steps=2,
        max_seq_len=64,
        warmup_ratio=0.0,
        save_steps=1000,
    )
    spec = LaunchSpec(launcher="accelerate", accelerate_config=str(repo_root / "deploy" / "accelerate.cpu.yaml"))
    lines: list[str] = []
    result = launch(cfg, spec, on_line=lines.append)
    assert "accelerate.commands.launch" in lines[0] and "--config_file" in lines[0]
    assert result["steps"] == 2 and os.path.exists(os.path.join(result["model_path"], "model.safetensors"))
    with pytest.raises(ValueError, match="not found"):
        command(cfg, LaunchSpec(launcher="accelerate", accelerate_config=str(tmp_path / "missing.yaml")), "x.json")
