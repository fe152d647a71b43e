"""Benchmark: the whole JMED chain on the bundled consultations with the built-in model on CPU.

One month (2026-11: 5 consultations + 1 malformed) through ``dialogues -> deidentified_dialogues ->
emr_records -> jmed_questions -> jmed_options -> jmed_reviews -> jmed_benchmark`` with every check, by
``dagster.materialize`` with the built-in SmolLM2-135M-Instruct and a fresh, empty request cache (so
the model really generates), then the same run again (all generations from the cache). The steps are
also timed one by one as plain functions, and the de-identification rules on the 400 real Chinese
consultations of the shared sample (when present). Goal: the whole chain <= 60 s on 2 CPU cores.

    .venv/bin/python -m benchmarks.jmed

Writes benchmarks/results/jmed.md and prints it.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import dagster as dg  # noqa: E402

from citrus_assets.common.stages import load_stage  # noqa: E402
from citrus_assets.jmed import steps  # noqa: E402
from citrus_assets.jmed.assets import dialogue_months  # noqa: E402
from citrus_assets.jmed.consultations.dialogues import load_dialogue_file, load_month  # noqa: E402
from citrus_assets.jmed.items import review  # noqa: E402
from resources.inbox import InboxResource  # noqa: E402
from resources.lake import LakeResource  # noqa: E402
from resources.lake_io import LakeIOManager  # noqa: E402
from resources.llm import LLMResource, SamplingParams  # noqa: E402

JMED = load_stage("citrus_assets.jmed")  # the stage's assets and checks, found in its package
assets, checks = JMED.assets, JMED.checks

MONTH = "2026-11"
GOAL_S = 60.0
EMR_TOKENS, QUESTION_TOKENS = 160, 96


def materialize(tmp: Path, llm: LLMResource) -> tuple[float, float, dict]:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dialogue_months.name, [MONTH])
    lake = str(tmp / "lake")
    t0, c0 = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [*assets, *checks],
        partition_key=MONTH,
        instance=instance,
        resources={
            "io_manager": LakeIOManager(root=lake),
            "lake": LakeResource(root=lake),
            "inbox": InboxResource(),
            "llm": llm,
        },
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result.success
    md = {
        e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    return wall, cpu, md


def main() -> str:
    os.chdir(REPO)
    load0 = os.getloadavg()[0]
    folder = REPO / "sample" / "dialogues"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        llm = LLMResource(cache_dir=str(tmp / "cache"))
        t = time.perf_counter()
        llm.generate(["warm up"], SamplingParams(max_tokens=1))  # model load, not part of the chain
        t_load = time.perf_counter() - t
        wall, cpu, md = materialize(tmp, llm)
        wall2, _, md2 = materialize(tmp / "again", llm)

        timings = {}
        t = time.perf_counter()
        loaded, _ = load_month(folder, MONTH)
        timings["load"] = time.perf_counter() - t
        t = time.perf_counter()
        deid, _ = steps.deidentify(loaded.table())
        timings["deidentify"] = time.perf_counter() - t
        t = time.perf_counter()
        emr, _, emr_stats = steps.extract_emr(deid, llm, SamplingParams(max_tokens=EMR_TOKENS))
        timings["emr (cached)"] = time.perf_counter() - t
        tokens = {
            "emr prompt": sum(emr["gen_prompt_tokens"].to_pylist()),
            "emr completion": sum(emr["gen_completion_tokens"].to_pylist()),
        }
        t = time.perf_counter()
        qs, _, _ = steps.generate_questions(emr, llm, SamplingParams(max_tokens=QUESTION_TOKENS))
        timings["questions (cached)"] = time.perf_counter() - t
        tokens |= {
            "question prompt": sum(qs["gen_prompt_tokens"].to_pylist()),
            "question completion": sum(qs["gen_completion_tokens"].to_pylist()),
        }
        t = time.perf_counter()
        opts, _, _ = steps.build_options(qs)
        timings["options"] = time.perf_counter() - t
        t = time.perf_counter()
        review.review_items(opts, review.load_decisions(REPO / "sample" / "jmed_reviews")[0])
        timings["review"] = time.perf_counter() - t

    real = REPO.parent / "shared" / "data" / "dialogues" / "covid_dialogue_zh.sample.json"
    real = Path(os.environ["CITRUS_DATA"]) / "dialogues" / real.name if os.environ.get("CITRUS_DATA") else real
    deid_line = "real sample not found"
    if real.exists():
        table = load_dialogue_file(real).table()
        t = time.perf_counter()
        _, counts = steps.deidentify(table)
        dt = time.perf_counter() - t
        chars = sum(len(x) for x in table["transcript"].to_pylist())
        deid_line = (
            f"{table.num_rows} real Chinese consultations ({chars:,} characters) de-identified in {dt:.2f} s "
            f"({table.num_rows / dt:.0f} consultations/s); replaced {dict(counts)}"
        )

    e, q = md["emr_records"], md["jmed_questions"]
    rows = "\n".join(f"| {k} | {v:.2f} |" for k, v in timings.items())
    result = f"""# JMED builder on the bundled consultations

Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; load average at the start {load0:.1f}, at the end {os.getloadavg()[0]:.1f} (a shared machine: wall time grows with the other load). Model: {e["model"]} (CPU), greedy; max_tokens EMR {EMR_TOKENS}, question {QUESTION_TOKENS}. Model load (not counted): {t_load:.1f} s.

| run | wall s | process CPU s |
|---|---:|---:|
| whole chain, 7 assets + 5 checks, empty request cache | {wall:.1f} | {cpu:.1f} |
| same run again, every generation from the cache | {wall2:.1f} | – |

**Goal: whole chain <= {GOAL_S:.0f} s wall: {"met" if wall <= GOAL_S else "missed"}.**

Steps as plain functions (second pass, cache warm):

| step | s |
|---|---:|
{rows}

What the 135M model achieves: JSON records {e["llm_json_ok"]} of {e["consultations"]}; diagnoses from the model {e["llm_diagnosis"]}, from the doctor's explicit phrase {e["rule_diagnosis"]}; quarantined {e["quarantined"]}; field origins {e["field_sources"]}. Questions accepted from the model {q["llm_accepted"]}, template {q["template"]}, quarantined {q["quarantined"]}; review statuses {md["jmed_reviews"]["statuses"]}; released items {md["jmed_benchmark"]["dagster/row_count"]} (cached re-run: {md2["jmed_benchmark"]["dagster/row_count"]}, cache hits {md2["emr_records"]["cache_hits"]}).

Tokens of the 5 consultations (all batched in one call per step): {tokens}.

De-identification throughput: {deid_line}.
"""
    out = REPO / "benchmarks" / "results" / "jmed.md"
    out.write_text(result, encoding="utf-8")
    print(result)
    return result


if __name__ == "__main__":
    main()
