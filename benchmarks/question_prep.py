"""Benchmark: demo cost of question_difficulty + open_questions on the bundled 8 sample seeds.

Built-in model (SmolLM2-135M-Instruct) on CPU with a fresh, empty request cache. judge_answers
(their input) is run first and timed apart; then ``label_difficulty`` (no LLM) and
``rewrite_seeds`` with the asset's default config (greedy round + 1 sampled retry round,
max_tokens 128). Goal: both together <= ~60 s on 2 cores. Also reports what the small model
achieves (accepted LLM rewrites vs rule fallbacks, rejection reasons): it is expected to fail often.

    .venv/bin/python -m benchmarks.question_prep

Writes benchmarks/results/question_prep.md and prints it.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from citrus_assets.reasoning_data.questions.assets import OpenQuestionConfig
from citrus_assets.reasoning_data.questions.difficulty import label_difficulty
from citrus_assets.reasoning_data.questions.rewrite import rewrite_seeds
from citrus_assets.reasoning_data.seeds.judging import answer_seeds
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file
from resources.llm import LLMResource, SamplingParams

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 60.0
JUDGE_TOKENS = 32  # the judge run only makes the input here; the asset's default is 160


def main() -> str:
    seeds = load_seed_file(REPO / "sample" / "seeds" / "medqa_demo.jsonl", "medqa_demo").table()
    load0 = os.getloadavg()[0]
    if True:  # no request cache: every call really generates
        llm = LLMResource(use_cache=False)
        _ = llm.model_id  # load the model outside the timings
        t = time.perf_counter()
        answers = answer_seeds(seeds, llm, SamplingParams(max_tokens=JUDGE_TOKENS))
        t_judge = time.perf_counter() - t
        t, c0 = time.perf_counter(), time.process_time()
        diff = label_difficulty(seeds, answers)
        t_diff = time.perf_counter() - t
        t = time.perf_counter()
        rw = rewrite_seeds(seeds, llm, c := OpenQuestionConfig())
        t_rw = time.perf_counter() - t
        cpu = time.process_time() - c0
    total = t_diff + t_rw
    load1 = os.getloadavg()[0]
    md = f"""# question_difficulty + open_questions demo cost (built-in model, CPU)

Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU. Shared machine: load average {load0:.2f} at the start, {load1:.2f} at the end.
Input: the {seeds.num_rows} bundled sample seeds (sample/seeds/medqa_demo.jsonl), no request cache, default asset config (rewrite max_tokens={c.max_tokens}, retries={c.retries}).

| step | LLM calls | generated tokens | wall time (s) |
|---|---:|---:|---:|
| judge_answers (input, not in the goal; max_tokens {JUDGE_TOKENS}) | 1 | {sum(answers["gen_completion_tokens"].to_pylist())} | {t_judge:.1f} |
| question_difficulty | 0 | 0 | {t_diff:.2f} |
| open_questions | {rw.llm_calls} | {rw.generated_tokens} | {t_rw:.1f} |

**question_difficulty + open_questions: {total:.1f} s wall, {cpu:.1f} s process CPU time** (goal <= {GOAL_S:.0f} s wall: {"met" if total <= GOAL_S else "missed"}; on a busy shared machine wall time overstates the cost; CPU time does not depend on the other load).

What the 135M model achieves: easy {diff.counts()["easy"]} / hard {diff.counts()["hard"]} (judge accuracy {diff.per_judge.get("default", {}).get("accuracy", 0)}); rewrites {rw.counts} ; rejection reasons over all attempts {rw.rejection_reasons}.
"""
    out = REPO / "benchmarks" / "results" / "question_prep.md"
    out.write_text(md, encoding="utf-8")
    print(md)
    return md


if __name__ == "__main__":
    main()
