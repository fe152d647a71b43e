"""Benchmark: generated tokens/s through `LLMResource.generate` vs transformers `model.generate` directly.

Built-in model (SmolLM2-135M-Instruct) on CPU, the same 16 prompts, the same max_tokens, greedy, the
same batches (prompt order, `--batch-size`). The resource runs with a fresh, empty request cache each
repetition (so it really generates, and pays its cache writes); the direct path renders with the same
chat template, left-pads and calls `model.generate`. Repetitions alternate between the two paths and
the best (minimum) time of each path is the headline (the machine may be shared: the minimum is the
least-disturbed run), the median is shown too, and so is the process CPU time of each path (which
other load on a shared machine hardly changes). Then the cached re-run (same prompts, everything already in the cache) is
timed twice: with the resource still warm, and after a simulated restart (backends forgotten: the
tokenizer is reloaded, the model is not).

    .venv/bin/python benchmarks/llm_resource.py [--max-tokens 64] [--batch-size 8] [--reps 3]

Writes a Markdown table to benchmarks/results/llm_resource.md and prints it.
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
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from resources.llm import BUILTIN_MODEL, LLMResource, SamplingParams, builtin_model_path, clear_backend_cache  # noqa: E402
from resources.llm.builtin import cache_dir  # noqa: E402

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


def direct_run(model, tok, prompts, max_tokens: int, batch_size: int) -> tuple[float, float, int, list[str]]:
    """Plain transformers: chat template, left padding, model.generate; tokens counted up to EOS inclusive."""
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             for p in prompts]
    t0, c0 = time.perf_counter(), time.process_time()
    tokens, outs = 0, []
    for start in range(0, len(texts), batch_size):
        enc = tok(texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            seqs = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for seq in seqs[:, enc["input_ids"].shape[1]:].tolist():
            end = next((k for k, t in enumerate(seq) if t in eos), None)
            tokens += len(seq) if end is None else end + 1
            outs.append(tok.decode(seq if end is None else seq[:end], skip_special_tokens=True))
    return time.perf_counter() - t0, time.process_time() - c0, tokens, outs


def fresh_cache_dir(tmp_root: Path, rep: int) -> str:
    """An empty request cache whose models/ points at the already converted built-in model."""
    d = tmp_root / f"cache-{rep}"
    d.mkdir()
    (d / "models").symlink_to(cache_dir() / "models", target_is_directory=True)
    return str(d)


def resource_run(cache: str, prompts, params, batch_size: int) -> tuple[float, float, int, list[str], LLMResource]:
    r = LLMResource(model=BUILTIN_MODEL, batch_size=batch_size, device="cpu", cache_dir=cache)
    t0, c0 = time.perf_counter(), time.process_time()
    out = r.generate(prompts, params)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    assert r.stats["misses"] == len(prompts) and r.stats["hits"] == 0
    return dt, dc, sum(row[0].completion_tokens for row in out), [row[0].text for row in out], r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "llm_resource.md"))
    args = ap.parse_args()
    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0)

    t0 = time.perf_counter()
    path = builtin_model_path()  # converts once (~40 s) if needed; not part of the measurement
    prep_s = time.perf_counter() - t0
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path).eval()

    with tempfile.TemporaryDirectory(prefix="citrus-llm-bench-") as tmp:
        tmp_root = Path(tmp)
        # Warm-up both paths (weights paged in, kernels initialised, resource backend loaded).
        direct_run(model, tok, PROMPTS[:2], 4, args.batch_size)
        resource_run(fresh_cache_dir(tmp_root, -1), PROMPTS[:2], SamplingParams(max_tokens=4), args.batch_size)

        direct, via = [], []
        for rep in range(args.reps):
            d_s, d_c, d_tok, d_txt = direct_run(model, tok, PROMPTS, args.max_tokens, args.batch_size)
            r_s, r_c, r_tok, r_txt, res = resource_run(fresh_cache_dir(tmp_root, rep), PROMPTS, params,
                                                       args.batch_size)
            direct.append((d_s, d_tok, d_c))
            via.append((r_s, r_tok, r_c))
            print(f"rep {rep}: direct {d_tok} tok in {d_s:.2f}s wall / {d_c:.2f}s CPU | "
                  f"resource {r_tok} tok in {r_s:.2f}s wall / {r_c:.2f}s CPU (load {os.getloadavg()[0]:.2f})",
                  flush=True)
        same_text = d_txt == r_txt
        same_tokens = d_tok == r_tok

        # Cached re-run: same resource (warm), then a simulated restart (new resource, backends forgotten).
        t0 = time.perf_counter()
        warm = res.generate(PROMPTS, params)
        warm_s = time.perf_counter() - t0
        assert all(row[0].cached for row in warm) and [row[0].text for row in warm] == r_txt
        clear_backend_cache()
        t0 = time.perf_counter()
        restarted = LLMResource(model=BUILTIN_MODEL, batch_size=args.batch_size, device="cpu", cache_dir=res.cache_dir)
        cold = restarted.generate(PROMPTS, params)
        cold_s = time.perf_counter() - t0
        assert all(row[0].cached for row in cold) and [row[0].text for row in cold] == r_txt
        model_loaded_on_restart = restarted.get_backend()._model is not None

    d_s, r_s = min(x[0] for x in direct), min(x[0] for x in via)
    d_med, r_med = statistics.median(x[0] for x in direct), statistics.median(x[0] for x in via)
    d_cpu, r_cpu = statistics.median(x[2] for x in direct), statistics.median(x[2] for x in via)
    d_tps, r_tps = direct[0][1] / d_s, via[0][1] / r_s
    ratio, ratio_med, ratio_cpu = r_tps / d_tps, d_med / r_med, d_cpu / r_cpu
    load = os.getloadavg()
    lines = [
        "# LLMResource benchmark (built-in model, CPU)",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, Python {platform.python_version()}.",
        f"Model: `{BUILTIN_MODEL}` (SmolLM2-135M-Instruct, converted GGUF Q4_1 -> float32 safetensors), "
        f"{len(PROMPTS)} prompts, greedy, max_tokens={args.max_tokens}, batch size {args.batch_size} "
        f"({-(-len(PROMPTS) // args.batch_size)} batches), {args.reps} alternating repetitions per path. "
        f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (shared machine).",
        "",
        "| path | generated tokens | best wall (s) | tokens/s (best wall) | median wall (s) | tokens/s (median) "
        "| median CPU (s) | tokens per CPU-s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| transformers `model.generate` (direct) | {direct[0][1]} | {d_s:.2f} | {d_tps:.1f} | {d_med:.2f} "
        f"| {direct[0][1] / d_med:.1f} | {d_cpu:.2f} | {direct[0][1] / d_cpu:.1f} |",
        f"| `LLMResource.generate` (fresh cache) | {via[0][1]} | {r_s:.2f} | {r_tps:.1f} | {r_med:.2f} "
        f"| {via[0][1] / r_med:.1f} | {r_cpu:.2f} | {via[0][1] / r_cpu:.1f} |",
        "",
        f"**Ratio resource / direct (tokens/s, best wall-clock runs): {ratio:.3f}x** (goal >= 0.9x: "
        f"{'met' if ratio >= 0.9 else 'NOT met'}); on median wall-clock: {ratio_med:.3f}x; "
        f"on median CPU time (robust to other load on the machine): {ratio_cpu:.3f}x. "
        f"Same texts as direct: {'yes' if same_text else 'no'}; same token count: {'yes' if same_tokens else 'no'}.",
        "",
        "Cached re-run of the same 16 prompts (every sample a cache hit, nothing generated):",
        "",
        "| re-run | time (s) |",
        "|---|---:|",
        f"| same resource, warm | {warm_s:.3f} |",
        f"| after a simulated restart (tokenizer reloaded, model {'loaded' if model_loaded_on_restart else 'not loaded'}) "
        f"| {cold_s:.3f} |",
        "",
        f"Per-repetition wall times (s), direct: {', '.join(f'{x[0]:.2f}' for x in direct)}; "
        f"resource: {', '.join(f'{x[0]:.2f}' for x in via)}. One-time preparation check "
        f"(conversion or marker check) took {prep_s:.1f}s and is not measured above.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
