"""Benchmark: generated tokens/s through `LLMResource.generate` vs transformers `model.generate` directly.

Built-in model (SmolLM2-135M-Instruct) on CPU, the same 16 prompts, the same max_tokens, greedy, the
same batches (prompt order, `--batch-size`). The direct path renders with the same chat template,
left-pads and calls `model.generate`; the resource path calls `LLMResource.generate` on the same batch
with a fresh, empty request cache (so it really generates and pays its cache lookups and writes).

The machine may be shared, so trials are short and interleaved: every repetition runs each batch once
through each path, alternating which path goes first. Per path, the headline time is the sum over
batches of the best (minimum) time of that batch, i.e. the least-disturbed measurement; sums of the
per-batch medians are shown too. Then the cached re-run (same 16 prompts, all in the cache) is timed
with the resource still warm and after a simulated restart (backends forgotten: the tokenizer is
reloaded, the model is not).

    .venv/bin/python benchmarks/llm_resource.py [--max-tokens 64] [--batch-size 8] [--reps 5]

Writes a Markdown table to benchmarks/results/llm_resource.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from resources.llm import BUILTIN_MODEL, LLMResource, SamplingParams, builtin_model_path, clear_backend_cache  # noqa: E402
from resources.llm.backends.builtin import cache_dir  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Name three citrus fruits.",
    "Explain in one sentence what vitamin C does in the body.",
    "What is the normal resting heart rate of an adult?",
    "Give a short definition of hypertension.",
    "Why do people get scurvy?",
    "What organ produces insulin?",
    "List two symptoms of the common cold.",
    "What is the difference between a virus and a bacterium?",
    "How many bones are in the adult human body?",
    "What does an electrocardiogram measure?",
    "Suggest a healthy breakfast in one sentence.",
    "What is the main function of red blood cells?",
    "Why should antibiotics not be used for viral infections?",
    "What is a fever?",
    "Name one way to lower the risk of type 2 diabetes.",
]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def direct_run(model, tok, prompts, max_tokens: int) -> tuple[float, int, list[str]]:
    """Plain transformers on one batch: chat template, left padding, model.generate.
    Tokens are counted like the resource does: up to and including the first EOS."""
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    t0 = time.perf_counter()
    texts = [
        tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        seqs = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    tokens, outs = 0, []
    for seq in seqs[:, enc["input_ids"].shape[1] :].tolist():
        end = next((k for k, t in enumerate(seq) if t in eos), None)
        tokens += len(seq) if end is None else end + 1
        outs.append(tok.decode(seq if end is None else seq[:end], skip_special_tokens=True))
    return time.perf_counter() - t0, tokens, outs


class FreshCaches:
    """Empty request caches whose models/ points at the already converted built-in model."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def __call__(self) -> str:
        self.count += 1
        d = self.root / f"cache-{self.count}"
        d.mkdir()
        (d / "models").symlink_to(cache_dir() / "models", target_is_directory=True)
        return str(d)


def resource_run(cache: str, prompts, params, batch_size: int) -> tuple[float, int, list[str], LLMResource]:
    r = LLMResource(model=BUILTIN_MODEL, batch_size=batch_size, device="cpu", cache_dir=cache)
    t0 = time.perf_counter()
    out = r.generate(prompts, params)
    dt = time.perf_counter() - t0
    assert r.stats["misses"] == len(prompts) and r.stats["hits"] == 0
    return dt, sum(row[0].completion_tokens for row in out), [row[0].text for row in out], r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "llm_resource.md"))
    args = ap.parse_args()
    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0)
    batches = [PROMPTS[i : i + args.batch_size] for i in range(0, len(PROMPTS), args.batch_size)]

    t0 = time.perf_counter()
    path = builtin_model_path()  # converts once (~40 s) if needed; not part of the measurement
    prep_s = time.perf_counter() - t0
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    load0 = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="citrus-llm-bench-") as tmp:
        fresh = FreshCaches(Path(tmp))
        # Warm-up both paths (weights paged in, kernels initialised, the resource's backend loaded).
        direct_run(model, tok, PROMPTS[:2], 4)
        resource_run(fresh(), PROMPTS[:2], SamplingParams(max_tokens=4), args.batch_size)

        times = {"direct": [[] for _ in batches], "resource": [[] for _ in batches]}
        tokens = {"direct": [0] * len(batches), "resource": [0] * len(batches)}
        texts = {"direct": [None] * len(batches), "resource": [None] * len(batches)}
        for rep in range(args.reps):
            for b, batch in enumerate(batches):
                order = ("direct", "resource") if (rep + b) % 2 == 0 else ("resource", "direct")
                for path_name in order:
                    if path_name == "direct":
                        dt, n, txt = direct_run(model, tok, batch, args.max_tokens)
                    else:
                        dt, n, txt, _ = resource_run(fresh(), batch, params, args.batch_size)
                    times[path_name][b].append(dt)
                    tokens[path_name][b], texts[path_name][b] = n, txt
            print(
                f"rep {rep}: direct "
                + " + ".join(f"{t[-1]:.2f}" for t in times["direct"])
                + " s | resource "
                + " + ".join(f"{t[-1]:.2f}" for t in times["resource"])
                + f" s (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        same_text = texts["direct"] == texts["resource"]
        n_tok = {k: sum(v) for k, v in tokens.items()}

        # Cached re-run of all 16 prompts: a resource whose cache holds them, warm, then after a restart.
        cache = fresh()
        res = LLMResource(model=BUILTIN_MODEL, batch_size=args.batch_size, device="cpu", cache_dir=cache)
        first = res.generate(PROMPTS, params)
        t0 = time.perf_counter()
        warm = res.generate(PROMPTS, params)
        warm_s = time.perf_counter() - t0
        assert all(row[0].cached for row in warm) and [r[0].text for r in warm] == [r[0].text for r in first]
        clear_backend_cache()
        t0 = time.perf_counter()
        restarted = LLMResource(model=BUILTIN_MODEL, batch_size=args.batch_size, device="cpu", cache_dir=cache)
        cold = restarted.generate(PROMPTS, params)
        cold_s = time.perf_counter() - t0
        assert all(row[0].cached for row in cold) and [r[0].text for r in cold] == [r[0].text for r in first]
        model_loaded_on_restart = restarted.get_backend()._model is not None

    best = {k: sum(min(t) for t in v) for k, v in times.items()}
    med = {k: sum(statistics.median(t) for t in v) for k, v in times.items()}
    tps = {k: n_tok[k] / best[k] for k in times}
    ratio, ratio_med = (
        tps["resource"] / tps["direct"],
        (n_tok["resource"] / med["resource"]) / (n_tok["direct"] / med["direct"]),
    )
    load1 = os.getloadavg()
    rows = [("transformers `model.generate` (direct)", "direct"), ("`LLMResource.generate` (fresh cache)", "resource")]
    lines = [
        "# LLMResource benchmark (built-in model, CPU)",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, "
        f"Python {platform.python_version()}. Shared machine: load average {load0[0]:.2f} at the start, "
        f"{load1[0]:.2f} at the end.",
        f"Model: `{BUILTIN_MODEL}` (SmolLM2-135M-Instruct, GGUF Q4_1 converted to float32 safetensors), "
        f"{len(PROMPTS)} prompts, greedy, max_tokens={args.max_tokens}, batch size {args.batch_size} "
        f"({len(batches)} batches), {args.reps} interleaved repetitions of every batch on each path.",
        "",
        "| path | generated tokens | time, best per batch (s) | tokens/s | time, median per batch (s) | tokens/s (median) |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {label} | {n_tok[k]} | {best[k]:.2f} | {tps[k]:.1f} | {med[k]:.2f} | {n_tok[k] / med[k]:.1f} |"
            for label, k in rows
        ],
        "",
        f"**Ratio resource / direct: {ratio:.3f}x** tokens/s on the best runs (goal >= 0.9x: "
        f"{'met' if ratio >= 0.9 else 'NOT met'}); {ratio_med:.3f}x on the medians. "
        f"Same texts as direct: {'yes' if same_text else 'no'}; same token count: "
        f"{'yes' if n_tok['direct'] == n_tok['resource'] else 'no'}.",
        "",
        f"Cached re-run of the same {len(PROMPTS)} prompts (every sample a cache hit, nothing generated):",
        "",
        "| re-run | time (s) |",
        "|---|---:|",
        f"| same resource, warm | {warm_s:.3f} |",
        f"| after a simulated restart (tokenizer reloaded, model {'loaded' if model_loaded_on_restart else 'not loaded'})"
        f" | {cold_s:.3f} |",
        "",
        "Per-batch times (s), every repetition: "
        + "; ".join(
            f"{k} batch {b}: " + ", ".join(f"{x:.2f}" for x in t) for k, v in times.items() for b, t in enumerate(v)
        )
        + f". One-time preparation (conversion or marker check): {prep_s:.1f}s, not measured above.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
