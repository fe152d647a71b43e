"""Check + timing: DeepSpeed ZeRO-3 initializes and trains on CPU (gloo) through the asset launcher.

Runs ``training.launch.launch`` with ``LaunchSpec(deepspeed=True)`` (generated ZeRO-3 config, torch AdamW,
no compiled DeepSpeed op) on a small randomly initialised Llama (made here, no download) for a few SFT
steps, then the same run without DeepSpeed, and records what the training process reported: device,
torch.distributed backend, ZeRO stage, number of ZeRO-partitioned parameters, loss curve, wall time.

    .venv/bin/python -m benchmarks.training_zero3_cpu

Writes benchmarks/results/training_zero3_cpu.md.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from training.config import SFTStageConfig  # noqa: E402
from training.launch import LaunchSpec, launch  # noqa: E402


def tiny_model(folder: str) -> str:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        ["The lemon is a citrus fruit.", "user assistant system", "What is fruit?"] * 5,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<pad>"
    )
    tok.chat_template = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
        "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def main() -> None:
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model(os.path.join(tmp, "tiny"))
        data = os.path.join(tmp, "sft.parquet")
        msgs = [
            [
                {"role": "user", "content": f"What is fruit {i}?"},
                {"role": "assistant", "content": f"The lemon is a citrus fruit {i}."},
            ]
            for i in range(8)
        ]
        pq.write_table(pa.table({"messages": msgs}), data)
        for ds in (True, False):
            cfg = SFTStageConfig(
                model_path=model,
                data_path=data,
                output_dir=os.path.join(tmp, f"run-{ds}"),
                learning_rate=1e-2,
                global_batch_size=4,
                per_device_batch_size=2,
                max_steps=3,
                max_seq_len=64,
                warmup_ratio=0.0,
                lr_scheduler_type="constant",
                save_steps=1000,
            )
            t0 = time.perf_counter()
            res = launch(cfg, LaunchSpec(deepspeed=ds))
            rows.append((ds, res, time.perf_counter() - t0))
            print(ds, res["runtime"], flush=True)
    import deepspeed
    import torch

    lines = [
        "# DeepSpeed ZeRO-3 on CPU through the training launcher",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__}, "
        f"deepspeed {deepspeed.__version__}, Python {platform.python_version()}. Load average {load0:.2f} at the "
        f"start, {os.getloadavg()[0]:.2f} at the end.",
        "Model: random 2-layer Llama (hidden 64, made here); 3 SFT steps, global batch 4 = 2 per device x 2 "
        "accumulation x 1 process. `python -m training.run` with RANK/WORLD_SIZE/MASTER_ADDR set for one "
        "process; generated ZeRO-3 config; torch AdamW; DeepSpeed's C++ shared-memory comm op is not built "
        "(gloo does the collectives).",
        "",
        "| DeepSpeed | device | backend | ZeRO stage | ZeRO-partitioned params | losses | train_runtime (s) | "
        "wall incl. start (s) |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for ds, res, wall in rows:
        rt = res["runtime"]
        losses = ", ".join(f"{v:.3f}" for _, v in res["loss_curve"])
        lines.append(
            f"| {'ZeRO-3' if ds else 'no'} | {rt['device']} | {rt['backend']} | {rt['deepspeed_zero_stage']} | "
            f"{rt['zero3_partitioned_params']} | {losses} | {res['train_runtime_s']:.2f} | {wall:.1f} |"
        )
    ok = rows[0][1]["runtime"]["backend"] == "gloo" and rows[0][1]["runtime"]["deepspeed_zero_stage"] == 3
    lines += [
        "",
        f"ZeRO-3 initialized on CPU with gloo: **{'yes' if ok else 'no'}**. The saved model is gathered "
        "from the shards (`stage3_gather_16bit_weights_on_model_save`).",
    ]
    text = "\n".join(lines) + "\n"
    (REPO / "benchmarks" / "results" / "training_zero3_cpu.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
