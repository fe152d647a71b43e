"""Benchmark: sampling tokens/s of rejection sampling through the asset's function vs the raw backend.

Built-in model (SmolLM2-135M-Instruct) on CPU, 8 hand-written open medical questions, n samples each
(default 4) at temperature 1.2, seed 0, max_tokens 96. Both paths use the SAME loaded backend and
the same prompts, with no request cache:

- asset function: ``rejection.sample_items`` through ``LLMResource(use_cache=False)`` -- prompt
  building, one batched ``generate``, rendering, rule rewards, the Arrow table;
- raw backend: ``backend.generate([Request(messages, rendered, range(n)) ...], params)`` on the
  pre-rendered prompts (what the resource calls underneath), nothing else.

Repetitions are interleaved (alternating which path goes first); the headline is the best run of
each path (least disturbed on a shared machine), medians and process CPU time (all threads) shown too:
on an oversubscribed machine wall time mostly measures the neighbours, CPU time does not. Then the asset's DEFAULT config
(``RejectionConfig()``) is timed once on the same 8 questions with a fresh cache: the demo budget.

    .venv/bin/python -m benchmarks.rejection_sampling [--n 4] [--max-tokens 96] [--reps 2] [--threads 1]
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

import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from benchmarks.llm_resource import FreshCaches, cpu_name  # noqa: E402
from citrus_assets.model_training.preference.assets import RejectionConfig  # noqa: E402
from citrus_assets.model_training.preference.pairs import build_pairs  # noqa: E402
from citrus_assets.model_training.preference.rejection import medical_items, open_messages, sample_items  # noqa: E402
from citrus_assets.reasoning_data.schemas import OPEN_QUESTION_SCHEMA  # noqa: E402
from resources.llm import BUILTIN_MODEL, LLMResource, Request, SamplingParams, builtin_model_path  # noqa: E402

QUESTIONS = [
    (
        "A 60-year-old man has crushing chest pain and ST elevation in leads II, III and aVF. Which coronary artery "
        "is most likely occluded?",
        [
            "Right coronary artery",
            "Left anterior descending artery",
            "Left circumflex artery",
            "Left main coronary artery",
        ],
        "A",
    ),
    ("Which vitamin deficiency causes scurvy?", ["Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D"], "C"),
    (
        "What is the first-line drug for an uncomplicated lower urinary tract infection in a non-pregnant woman?",
        ["Nitrofurantoin", "Vancomycin", "Metronidazole", "Amphotericin B"],
        "A",
    ),
    (
        "A child has a barking cough and inspiratory stridor after a cold. What is the most likely diagnosis?",
        ["Epiglottitis", "Croup", "Asthma", "Pneumonia"],
        "B",
    ),
    (
        "Which electrolyte disturbance gives peaked T waves on the ECG?",
        ["Hypokalemia", "Hyperkalemia", "Hypocalcemia", "Hypernatremia"],
        "B",
    ),
    (
        "Which organism most often causes community-acquired pneumonia in adults?",
        ["Streptococcus pneumoniae", "Pseudomonas aeruginosa", "Legionella pneumophila", "Mycoplasma hominis"],
        "A",
    ),
    ("Which hormone is deficient in type 1 diabetes mellitus?", ["Glucagon", "Cortisol", "Insulin", "Thyroxine"], "C"),
    (
        "What is the antidote for a paracetamol (acetaminophen) overdose?",
        ["Naloxone", "Flumazenil", "N-acetylcysteine", "Atropine"],
        "C",
    ),
]


def open_questions() -> pa.Table:
    rows = []
    for i, (q, opts, ans) in enumerate(QUESTIONS):
        letters = "ABCD"[: len(opts)]
        rows.append(
            {
                "record_id": f"oq-{i:020x}",
                "parent_ids": [f"qseed-{i:020x}"],
                "question_id": f"qseed-{i:020x}",
                "language": "en",
                "closed_stem": q,
                "open_question": q,
                "ground_truth": opts[letters.index(ans)],
                "answer_letters": [ans],
                "options": [{"letter": letter, "text": t} for letter, t in zip(letters, opts)],
                "rewrite_method": "rule",
                "rewrite_rejections": [],
                "prompt": "",
            }
        )
    return pa.Table.from_pylist(rows, schema=OPEN_QUESTION_SCHEMA)


def asset_path(items, resource: LLMResource, params: SamplingParams):
    t0, c0 = time.perf_counter(), time.process_time()
    table = sample_items(items, resource, params)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dt, cpu, int(sum(table["gen_completion_tokens"].to_pylist())), table["response"].to_pylist(), table


def raw_path(items, backend, params: SamplingParams):
    msgs = [open_messages(it.question) for it in items]
    requests = [Request(m, backend.render(m), tuple(range(params.n))) for m in msgs]  # rendering not timed
    t0, c0 = time.perf_counter(), time.process_time()
    out = backend.generate(requests, params)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    gens = [g for row in out for g in row]
    return dt, cpu, sum(g.completion_tokens for g in gens), [g.text for g in gens]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0 = torch's default); 1 avoids OpenMP spin-waits on an oversubscribed machine",
    )
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rejection_sampling.md"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = SamplingParams(n=args.n, temperature=1.2, max_tokens=args.max_tokens, seed=0)
    builtin_model_path()  # one-time conversion, not measured
    items = medical_items(open_questions()).items
    load0 = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="citrus-rs-bench-") as tmp:
        fresh = FreshCaches(Path(tmp))
        resource = LLMResource(model=BUILTIN_MODEL, device="cpu", use_cache=False, cache_dir=fresh())
        backend = resource.get_backend()
        raw_path(items[:1], backend, SamplingParams(n=1, max_tokens=4))  # warm-up: weights loaded, kernels ready
        asset_path(items[:1], resource, SamplingParams(n=1, max_tokens=4))

        times, cpus, tokens, texts = {"asset": [], "raw": []}, {"asset": [], "raw": []}, {}, {}
        table = None
        for rep in range(args.reps):
            for name in ("raw", "asset") if rep % 2 == 0 else ("asset", "raw"):
                if name == "raw":
                    dt, cpu, n_tok, txt = raw_path(items, backend, params)
                else:
                    dt, cpu, n_tok, txt, table = asset_path(items, resource, params)
                times[name].append(dt)
                cpus[name].append(cpu)
                tokens[name], texts[name] = n_tok, txt
            print(
                f"rep {rep}: raw {times['raw'][-1]:.2f}s ({cpus['raw'][-1]:.1f} CPU s) asset "
                f"{times['asset'][-1]:.2f}s ({cpus['asset'][-1]:.1f} CPU s) "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        pairs, stats = build_pairs(table)

        # Demo budget: the asset's default config, 8 questions, fresh cache (really generates).
        cfg = RejectionConfig()
        demo = LLMResource(model=BUILTIN_MODEL, device="cpu", cache_dir=fresh())
        t0, c0 = time.perf_counter(), time.process_time()
        demo_table = sample_items(items, demo, cfg.params())
        demo_s, demo_cpu = time.perf_counter() - t0, time.process_time() - c0

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    tps = {k: tokens[k] / best[k] for k in times}
    ratio = tps["asset"] / tps["raw"]
    ratio_med = (tokens["asset"] / med["asset"]) / (tokens["raw"] / med["raw"])
    best_cpu = {k: min(v) for k, v in cpus.items()}
    ratio_cpu = (tokens["asset"] / best_cpu["asset"]) / (tokens["raw"] / best_cpu["raw"])
    threads = torch.get_num_threads()
    load1 = os.getloadavg()
    demo_tok = int(sum(demo_table["gen_completion_tokens"].to_pylist()))
    lines = [
        "# Rejection sampling benchmark (built-in model, CPU)",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}. Shared machine: load average "
        f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end.",
        f"Model `{BUILTIN_MODEL}` (SmolLM2-135M-Instruct), {len(items)} open medical questions x n={args.n} samples, "
        f"temperature 1.2, seed 0, max_tokens={args.max_tokens}, backend batch size {resource.batch_size}, "
        f"no request cache on either path, {args.reps} interleaved repetitions.",
        "",
        "| path | generated tokens | best time (s) | tokens/s | median time (s) | tokens/s (median) | best CPU time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {label} | {tokens[k]} | {best[k]:.2f} | {tps[k]:.1f} | {med[k]:.2f} | {tokens[k] / med[k]:.1f} "
            f"| {best_cpu[k]:.1f} |"
            for label, k in (
                ("raw backend `generate` (pre-rendered requests)", "raw"),
                ("`rejection.sample_items` (asset function)", "asset"),
            )
        ],
        "",
        f"**Ratio asset / raw: {ratio:.3f}x** tokens/s on the best runs (goal >= 0.9x: "
        f"{'met' if ratio >= 0.9 else 'NOT met'}); {ratio_med:.3f}x on the medians; {ratio_cpu:.3f}x per CPU second "
        f"(process CPU time, robust to other load on the machine). Same texts: "
        f"{'yes' if texts['asset'] == texts['raw'] else 'no'}.",
        "",
        f"Rewards of the last asset run: mean {stats.mean_reward:.3f}; questions paired {stats.paired}, "
        f"all correct {stats.all_correct}, none correct {stats.none_correct} (a 135M model rarely names the "
        "right option text; the numbers show the rule at work, not model quality).",
        "",
        f"Demo budget: the asset's default config (n={cfg.n}, temperature {cfg.temperature}, "
        f"max_tokens={cfg.max_tokens}) on the same {len(items)} questions, fresh cache: {demo_s:.1f} s wall, "
        f"{demo_cpu:.1f} CPU s, i.e. **~{demo_cpu / threads:.0f} s on {threads} idle cores** ({demo_tok} tokens; "
        f"goal <= ~90 s: {'met' if demo_cpu / threads <= 90 else 'NOT met'}). The wall time is inflated by "
        "whatever else the shared machine runs; CPU time / threads is what an idle machine would take.",
        "",
        "All times (s, wall / CPU): "
        + "; ".join(f"{k}: " + ", ".join(f"{x:.2f}/{c:.1f}" for x, c in zip(v, cpus[k])) for k, v in times.items())
        + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
