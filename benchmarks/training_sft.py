"""Benchmark: SFT training tokens/s through the checkpoint assets' trainer path vs a plain TRL script.

Same model (default: the built-in SmolLM2-135M-Instruct, float32, CPU), same synthetic chat data (medical
question -> answer), same optimizer settings, batch, sequence cap and number of steps.

* asset path: ``training.launch.launch`` -> ``python -m training.run`` -> ``training.sft`` (SFTTrainer with
  the marked chat template and assistant-only loss, metric streaming, checkpoint callback, final save);
* plain TRL: a minimal script in a subprocess: ``SFTTrainer(model, SFTConfig(...), dataset)`` with the
  same hyper-parameters (full-sequence loss, the library default).

Both report the Trainer's ``train_runtime`` and its count of non-padding input tokens; tokens/s =
tokens / train_runtime (model loading, tokenization and the process start are reported separately as
wall time). The machine may be shared: the two paths alternate and the best repetition of each counts.

    .venv/bin/python -m benchmarks.training_sft [--model builtin|tiny|<path>] [--steps 6] [--reps 2] [--append]

Writes benchmarks/results/training_sft.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from training.config import SFTStageConfig  # noqa: E402
from training.launch import launch  # noqa: E402

PLAIN_TRL = r"""
import json, sys, time
import datasets, pyarrow.parquet as pq, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
a = json.loads(sys.argv[1])
tok = AutoTokenizer.from_pretrained(a["model"])
model = AutoModelForCausalLM.from_pretrained(a["model"], dtype=torch.float32)
ds = datasets.Dataset.from_list([{"messages": m} for m in pq.read_table(a["data"])["messages"].to_pylist()])
args = SFTConfig(output_dir=a["out"], per_device_train_batch_size=a["bs"], gradient_accumulation_steps=a["ga"],
                 learning_rate=a["lr"], max_steps=a["steps"], max_length=a["max_len"], optim="adamw_torch",
                 adam_beta1=0.9, adam_beta2=0.95, weight_decay=1e-4, max_grad_norm=1.0, lr_scheduler_type="constant",
                 logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
                 include_num_input_tokens_seen="non_padding", dataloader_pin_memory=False, seed=42)
tr = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
out = tr.train()
print("PLAIN_RESULT " + json.dumps({"tokens": tr.state.num_input_tokens_seen, "runtime": out.metrics["train_runtime"]}))
"""

QUESTIONS = [
    (
        "A 54-year-old man has crushing chest pain radiating to the left arm. What is the first test?",
        "An ECG within ten minutes, then serial troponins; ST elevation means immediate reperfusion.",
    ),
    (
        "A child has a barking cough and inspiratory stridor at night. What is the likely diagnosis?",
        "Croup (laryngotracheobronchitis), usually viral; give oral dexamethasone and nebulised adrenaline if severe.",
    ),
    (
        "Which vitamin deficiency causes scurvy, and what are its signs?",
        "Vitamin C deficiency: bleeding gums, perifollicular haemorrhages, poor wound healing and corkscrew hairs.",
    ),
    (
        "A woman with polyuria, polydipsia and weight loss has glucose 18 mmol/L. Next step?",
        "Check ketones and a venous gas to exclude DKA, then start insulin and fluids and confirm type 1 diabetes.",
    ),
]


MODEL_NOTES = {
    "builtin": "SmolLM2-135M-Instruct, float32",
    "tiny": "random 2-layer Llama, hidden 64, made by benchmarks/training_zero3_cpu.py: framework overhead "
    "weighs most here",
}


def make_data(path: str, n: int = 64) -> None:
    rows = []
    for i in range(n):
        q, a = QUESTIONS[i % len(QUESTIONS)]
        rows.append(
            [
                {"role": "system", "content": "You are an experienced physician. Think step by step."},
                {"role": "user", "content": f"Case {i}: {q}"},
                {
                    "role": "assistant",
                    "content": f"<think>Key findings of case {i} first. {a}</think><answer>{a}</answer>",
                },
            ]
        )
    pq.write_table(pa.table({"messages": rows}), path)


def run_asset_path(model: str, data: str, out: str, a: dict) -> dict:
    cfg = SFTStageConfig(
        model_path=model,
        data_path=data,
        output_dir=out,
        learning_rate=a["lr"],
        global_batch_size=a["bs"] * a["ga"],
        per_device_batch_size=a["bs"],
        max_steps=a["steps"],
        max_seq_len=a["max_len"],
        warmup_ratio=0.0,
        lr_scheduler_type="constant",
        save_steps=10**6,
    )
    t0 = time.perf_counter()
    res = launch(cfg)
    return {"tokens": res["tokens_seen"], "runtime": res["train_runtime_s"], "wall": time.perf_counter() - t0}


def run_plain(model: str, data: str, out: str, a: dict) -> dict:
    t0 = time.perf_counter()
    arg = json.dumps({"model": model, "data": data, "out": out, **a})
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_TRL, arg],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-3000:])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PLAIN_RESULT "))
    return {**json.loads(line.split(" ", 1)[1]), "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--append", action="store_true", help="add to the results file instead of replacing it")
    args = ap.parse_args()
    tiny_dir = tempfile.mkdtemp(prefix="tiny-llama-")
    if args.model == "builtin":
        from resources.llm import builtin_model_path

        model = str(builtin_model_path())
    elif args.model == "tiny":
        from benchmarks.training_zero3_cpu import tiny_model

        model = tiny_model(tiny_dir)
    else:
        model = args.model
    a = {"bs": args.batch_size, "ga": 1, "lr": 5e-6, "steps": args.steps, "max_len": args.max_len}
    load0 = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"asset": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "sft.parquet")
        make_data(data)
        for rep in range(args.reps):
            order = ["asset", "plain"] if rep % 2 == 0 else ["plain", "asset"]
            for path in order:
                out = os.path.join(tmp, f"{path}-{rep}")
                r = (run_asset_path if path == "asset" else run_plain)(model, data, out, a)
                r["tps"] = r["tokens"] / r["runtime"]
                runs[path].append(r)
                print(path, rep, json.dumps(r), flush=True)
    best = {k: max(v, key=lambda r: r["tps"]) for k, v in runs.items()}
    ratio = best["asset"]["tps"] / best["plain"]["tps"]
    import torch
    import transformers
    import trl

    lines = [
        "# SFT training throughput: checkpoint-asset trainer path vs plain TRL",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, trl {trl.__version__}, "
        f"Python {platform.python_version()}. Shared machine: load average {load0:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end.",
        f"Model: `{args.model}` ({MODEL_NOTES.get(args.model, model)}); "
        f"64 synthetic chat rows; per-device batch {a['bs']}, {a['steps']} optimizer steps, max length "
        f"{a['max_len']}, AdamW (torch) lr 5e-6 constant; {args.reps} alternating repetitions per path, the best "
        "counts.",
        "",
        "| path | input tokens | train_runtime (s) | tokens/s | wall incl. process start + load + save (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {
        "asset": "asset path: `training.launch` -> `training.run` -> `training.sft` (assistant-only loss)",
        "plain": "plain TRL `SFTTrainer` script (full-sequence loss)",
    }
    for k in ("asset", "plain"):
        r = best[k]
        lines.append(f"| {names[k]} | {r['tokens']} | {r['runtime']:.2f} | {r['tps']:.1f} | {r['wall']:.1f} |")
    import statistics

    med = {k: statistics.median(r["tps"] for r in v) for k, v in runs.items()}
    lines += [
        "",
        f"**Ratio asset / plain: {ratio:.3f}x** tokens/s (goal >= 0.95x: {'met' if ratio >= 0.95 else 'missed'}).",
        f"On the medians: {med['asset']:.1f} vs {med['plain']:.1f} tokens/s, {med['asset'] / med['plain']:.3f}x.",
        "",
        "Every repetition (tokens/s): "
        + "; ".join(f"{k}: " + ", ".join(f"{r['tps']:.1f}" for r in v) for k, v in runs.items()),
        "",
        "The asset path's wall time also covers the metric streaming, the checkpoint callback and saving "
        "the final model + tokenizer (the plain script saves nothing).",
    ]
    text = "\n".join(lines) + "\n"
    out = REPO / "benchmarks" / "results" / "training_sft.md"
    if args.append and out.exists():
        text = out.read_text() + "\n" + text.replace("# SFT training throughput", "## SFT training throughput", 1)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
