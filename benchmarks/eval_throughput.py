"""Benchmark: evaluation throughput of a checkpoint model through the assets vs raw ``model.generate``.

The checkpoint: ``--lake`` with a materialized ``<stage>_checkpoint`` (e.g. the main job's lake: its RL
checkpoint), else a stand-in checkpoint row pointing at the built-in model's HF folder (the model CPT
starts from, so the same architecture and size as every demo checkpoint). Items: the bundled evaluation
sample's ``--benchmark`` items (``eval_items``, ``max_items`` = ``--items``).

- assets: ``dg.materialize`` of the real ``eval_predictions_<stage>`` asset (the checkpoint as its graph input,
  the items from the lake, the cost guard, rendering, batched generation through the LLM resource with no
  request cache, answer extraction, the Arrow table, the lake's IO manager and lineage) — the whole step;
- raw: the same rendered prompts through ``AutoModelForCausalLM.generate`` (same model folder, left padding,
  the same batch size, greedy, the same ``max_new_tokens``) and ``tokenizer.decode``: nothing else.

Runs are interleaved (alternating which path goes first); the headline uses each path's best run. The
machine's load average is recorded at the start and the end (a shared 2-core machine: other jobs slow both
paths alike). Writes ``benchmarks/results/eval_throughput.md``.

    .venv/bin/python -m benchmarks.eval_throughput [--items 12] [--max-tokens 32] [--reps 2] [--lake PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from citrus_assets.common.metadata import output  # noqa: E402
from citrus_assets.evaluation.assets import eval_items  # noqa: E402
from citrus_assets.evaluation.models import EvalModelsResource  # noqa: E402
from citrus_assets.evaluation.predict import eval_messages  # noqa: E402
from citrus_assets.evaluation.stage_assets import STAGE_EVAL_ASSETS, predictions_asset, stage_model_spec  # noqa: E402
from citrus_assets.model_training.checkpoints.training_config import TrainingResource  # noqa: E402
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA  # noqa: E402
from resources.lake import Lake, LakeResource  # noqa: E402
from resources.lake_io import LakeIOManager  # noqa: E402
from resources.lineage.ids import record_id  # noqa: E402
from resources.llm import builtin_model_path  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "eval_throughput.md"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def checkpoint_row(lake_path: str, stage: str) -> dict:
    if lake_path:
        return Lake(lake_path).read_table(f"{stage}_checkpoint").to_pylist()[0]
    path = str(builtin_model_path())
    return {
        "record_id": record_id("ckpt", stage, "bench"),
        "parent_ids": [],
        "stage": stage,
        "model_path": path,
        "base_model": path,
        "weights_sha256": "bench-standin",
        "steps": 0,
        "tokens_seen": 0,
        "wall_s": 0.0,
        "final_loss": 0.0,
        "hyperparameters": "{}",
        "data_versions": "{}",
    }


def raw_run(model, tok, texts: list[str], max_tokens: int, batch_size: int) -> tuple[float, list[str], int]:
    t0 = time.perf_counter()
    outs, tokens = [], 0
    eos = tok.eos_token_id
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            seqs = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for seq in seqs[:, enc["input_ids"].shape[1] :].tolist():
            end = seq.index(eos) if eos in seq else len(seq)
            tokens += min(len(seq), end + 1)
            outs.append(tok.decode(seq[:end], skip_special_tokens=True))
    return time.perf_counter() - t0, outs, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--benchmark", default="medqa")
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--prompt-style", default="plain")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--stage", default="rl")
    ap.add_argument(
        "--lake", default="", help="a lake with <stage>_checkpoint (default: a stand-in on the built-in model)"
    )
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    torch.manual_seed(0)
    load_start = load()
    row = checkpoint_row(args.lake, args.stage)
    work = tempfile.mkdtemp(prefix="eval-throughput-")
    root = os.path.join(work, "lake")
    resources = {
        "io_manager": LakeIOManager(root=root),
        "lake": LakeResource(root=root),
        "training": TrainingResource(),
        "eval_models": EvalModelsResource(
            use_cache=False, device="cpu", batch_size=args.batch_size, cache_dir=os.path.join(work, "cache")
        ),
    }

    @dg.asset(name=f"{args.stage}_checkpoint")
    def checkpoint() -> dg.Output:
        return output(pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA))

    preds, _ = STAGE_EVAL_ASSETS[args.stage]
    assets = [checkpoint, eval_items, preds]
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(assets, selection=[checkpoint], resources=resources, instance=instance).success
    assert dg.materialize(
        assets,
        selection=[eval_items],
        partition_key=args.benchmark,
        resources=resources,
        instance=instance,
        run_config={"ops": {"eval_items": {"config": {"max_items": args.items}}}},
    ).success
    items = Lake(root).read_table("eval_items", args.benchmark)
    cfg = {
        "ops": {
            predictions_asset(args.stage): {
                "config": {"max_tokens": args.max_tokens, "prompt_style": args.prompt_style}
            }
        }
    }

    tok = transformers.AutoTokenizer.from_pretrained(row["model_path"])
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(row["model_path"]).eval()
    texts = [
        tok.apply_chat_template(eval_messages(r, args.prompt_style), tokenize=False, add_generation_prompt=True)
        for r in items.to_pylist()
    ]
    prompt_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    def assets_run():
        t0 = time.perf_counter()
        res = dg.materialize(
            assets,
            selection=[preds],
            partition_key=args.benchmark,
            resources=resources,
            instance=instance,
            run_config=cfg,
        )
        dt = time.perf_counter() - t0
        assert res.success
        table = Lake(root).read_table(predictions_asset(args.stage), args.benchmark)
        return dt, table["response"].to_pylist(), sum(table["gen_completion_tokens"].to_pylist()), table

    # warm-up, untimed: load the model into the evaluation resource's backend cache (the raw path loaded above)
    spec = stage_model_spec(args.stage, row, resources["training"], args.prompt_style)
    _ = resources["eval_models"].resolve_spec(args.stage, spec).llm.get_backend().model
    raw_run(model, tok, texts[:2], 4, args.batch_size)
    times = {"assets": [], "raw": []}
    outputs = {}
    for rep in range(args.reps):
        order = ["assets", "raw"] if rep % 2 == 0 else ["raw", "assets"]
        for path in order:
            if path == "assets":
                dt, texts_out, tokens, table = assets_run()
            else:
                dt, texts_out, tokens = raw_run(model, tok, texts, args.max_tokens, args.batch_size)
            times[path].append(dt)
            outputs[path] = (texts_out, tokens)
            print(f"rep {rep} {path}: {dt:.2f} s, {tokens} generated tokens", flush=True)
    load_end = load()
    best = {p: min(v) for p, v in times.items()}
    med = {p: statistics.median(v) for p, v in times.items()}
    n = items.num_rows
    ratio = best["raw"] / best["assets"]
    same = outputs["assets"][0] == outputs["raw"][0]
    rows = table.to_pylist()
    correct = sum(r["correct"] for r in rows)
    lines = [
        "# Evaluation throughput: a checkpoint through the assets vs raw `model.generate`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), transformers {transformers.__version__}, Python "
        f"{platform.python_version()}. Shared machine: load average (1/5/15 min) {load_start} at the start, "
        f"{load_end} at the end.",
        f"Checkpoint: `{args.stage}_checkpoint` "
        + (
            f"from the lake `{args.lake}`"
            if args.lake
            else "stand-in row on the built-in model's HF folder (SmolLM2-135M-Instruct, the model CPT starts from)"
        )
        + f"; {n} `{args.benchmark}` items of the bundled evaluation sample; prompt `{args.prompt_style}`; greedy; "
        f"max_tokens {args.max_tokens}; batch size {args.batch_size}; no request cache; {args.reps} interleaved "
        "repetitions per path.",
        "",
        "| path | items | prompt tokens | generated tokens | best (s) | median (s) | items/s (best) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| raw `model.generate` (same rendered prompts, same batches) | {n} | {prompt_tokens} | {outputs['raw'][1]} | "
        f"{best['raw']:.2f} | {med['raw']:.2f} | {n / best['raw']:.3f} |",
        f"| assets: `eval_predictions_{args.stage}` materialized (whole Dagster step) | {n} | {prompt_tokens} | "
        f"{outputs['assets'][1]} | {best['assets']:.2f} | {med['assets']:.2f} | {n / best['assets']:.3f} |",
        "",
        f"**Ratio assets / raw: {ratio:.3f}x** items/s on the best runs (goal >= 0.9x: "
        f"{'met' if ratio >= 0.9 else 'NOT met'}); {med['raw'] / med['assets']:.3f}x on the medians. "
        f"Same outputs: {'yes' if same else 'no'}.",
        "",
        f"Accuracy of this checkpoint on these items: {correct}/{n} (a 135M model: near chance; this measures "
        "the pipeline, not the model).",
        "",
        "Times (s), every repetition: "
        + "; ".join(f"{p}: " + ", ".join(f"{t:.2f}" for t in v) for p, v in times.items()),
        "",
        "Run: `.venv/bin/python -m benchmarks.eval_throughput " + " ".join(sys.argv[1:]) + "`",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
