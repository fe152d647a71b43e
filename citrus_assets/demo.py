"""The main job: materialize the whole graph on the bundled sample and print where things are.

Runs every job of ``MAIN_PLAN`` for every registered partition, in order, in this
process (in-process executor: the model loads once), recorded in the Dagster
instance at ``$DAGSTER_HOME`` so the runs show up in the UI. Then prints each
asset's records and paths and one lineage trace from a generated record back to
the line of the input file it came from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dagster as dg

from citrus_assets.jobs import MAIN_PLAN, job_page_tags
from resources.lineage import LineageStore
from resources.lineage.store import format_trace

# The lineage trace printed at the end: the first record of the first of these assets that has rows
# (a preference pair reaches the seed file through its samples, and the reference it was paired with).
TRACE_ASSETS = ("preference_pairs", "judge_answers")
# The main job prints its own summary; Dagster's per-step debug events stay in the run's event log (UI).
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class MaterializedOutput:
    asset: str
    partition: str
    rows: int
    path: str
    run_id: str
    quarantined: int = 0
    empty_reason: str = ""  # the asset's own "empty_reason" metadata (citrus_assets/common/empty.py)
    decontamination: dict | None = None  # the asset's "decontamination" metadata (training-bound assets)


@dataclass
class MainJobResult:
    outputs: list[MaterializedOutput] = field(default_factory=list)
    check_results: dict[str, bool] = field(default_factory=dict)
    trace_record: str | None = None
    trace_text: str = ""
    seconds: float = 0.0
    ablation_text: str = ""  # Table 5: base / CPT / SFT-1 / SFT-2 / SFT-3 / RL x benchmarks


def register_partitions(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Register a dynamic partition for every inbox entry (what the inbox sensors do on a tick)."""
    inbox = defs.resources["inbox"]
    out: dict[str, list[str]] = {}
    for step in MAIN_PLAN:
        for defn, lister in step.register:
            keys = [str(k) for k in lister(inbox)]
            existing = set(instance.get_dynamic_partitions(defn.name))
            new = [k for k in keys if k not in existing]
            if new:
                instance.add_dynamic_partitions(defn.name, new)
            out[defn.name] = keys
    return out


def launch(
    job: dg.JobDefinition, instance: dg.DagsterInstance, partition_key: str | None, run_config: dict
) -> dg.ExecuteInProcessResult:
    """One run of a defined job in this process, tagged with the code location (``jobs.job_page_tags``) so
    the UI lists it on the job's page (not as a "jobless" materialization)."""
    return job.execute_in_process(
        instance=instance, partition_key=partition_key, raise_on_error=True, tags=job_page_tags(), run_config=run_config
    )


def run_main_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake,
    lineage_db: str,
    log=print,
    extra_ops: dict[str, dict] | None = None,
) -> MainJobResult:
    """Every step of ``MAIN_PLAN``; ``extra_ops`` (job name -> ``{"asset": {"config": ...}}``) is run config
    merged over a step's own (tests: a tiny model's tokenizer, fewer tokens)."""
    t0 = time.perf_counter()
    out = MainJobResult()
    register_partitions(defs, instance)
    inbox = defs.resources["inbox"]
    for step in MAIN_PLAN:
        job = defs.resolve_job_def(step.job)
        keys: list = list(step.keys(inbox)) if step.keys else [None]
        ops = {**step.ops, **(extra_ops or {}).get(step.job, {})}
        for key in keys:
            log(f"[main] {step.job} partition={key or '-'}")
            res = launch(job, instance, key, {**QUIET_LOGS, **({"ops": ops} if ops else {})})
            for ev in res.get_asset_materialization_events():
                m = ev.materialization
                md = m.metadata
                if "cache_hits" in md:
                    log(
                        f"[main]   {m.asset_key.to_user_string()}: {md['cache_hits'].value} LLM cache hits, "
                        f"{md['generated_tokens'].value if 'generated_tokens' in md else '?'} tokens in the table"
                    )
                out.outputs.append(
                    MaterializedOutput(
                        asset=m.asset_key.to_user_string(),
                        partition=m.partition or "-",
                        rows=int(md["dagster/row_count"].value) if "dagster/row_count" in md else -1,
                        path=str(md["path"].value) if "path" in md else "",
                        run_id=res.run_id,
                        quarantined=int(md["quarantined"].value) if "quarantined" in md else 0,
                        empty_reason=str(md["empty_reason"].value) if "empty_reason" in md else "",
                        decontamination=md["decontamination"].value if "decontamination" in md else None,
                    )
                )
            for ev in res.get_asset_check_evaluations():
                out.check_results[f"{ev.asset_key.to_user_string()}:{ev.check_name}[{key}]"] = ev.passed
    store = LineageStore(lake.lineage_root, lineage_db)
    store.sync()
    for target in (o for asset in TRACE_ASSETS for o in out.outputs if o.asset == asset and o.rows > 0):
        table = lake.read_table(target.asset, target.partition)
        if table.num_rows:
            out.trace_record = table["record_id"][0].as_py()
            out.trace_text = format_trace(store.trace(out.trace_record))
            break
    out.ablation_text = ablation_summary(lake)
    out.seconds = time.perf_counter() - t0
    return out


def ablation_summary(lake) -> str:
    """The ablation table (the paper's Table 5 layout) over the stage scores in the lake, for the terminal."""
    from citrus_assets.evaluation.assets import STAGE_SCORE_ASSETS, read_all_scores
    from citrus_assets.evaluation.report import ablation_text
    from citrus_assets.evaluation.sensors import DEMO_BENCHMARKS

    rows = read_all_scores(lake, STAGE_SCORE_ASSETS).to_pylist()
    scored = {r["benchmark"] for r in rows}
    benches = [b for b in DEMO_BENCHMARKS if b in scored] + sorted(scored - set(DEMO_BENCHMARKS))
    return ablation_text(rows, benches or list(DEMO_BENCHMARKS))


def empty_lines(outputs: list[MaterializedOutput]) -> list[str]:
    """One EMPTY line per materialized partition with no rows, with the asset's reason (or its quarantine)."""
    empty = [o for o in outputs if o.rows == 0]
    lines = ["", f"EMPTY stages: {len(empty)}"] if empty else []
    for o in empty:
        why = o.empty_reason or (f"{o.quarantined} quarantined" if o.quarantined else "no reason recorded")
        lines.append(f"  EMPTY {o.asset} [{o.partition}]: {why}")
    return lines


def decontamination_lines(outputs: list[MaterializedOutput]) -> list[str]:
    """One line per decontaminated training-bound partition: on/OFF/FAILED, the index size, rows removed."""
    done = [o for o in outputs if o.decontamination is not None]
    if not done:
        return []
    lines = [
        "",
        "Decontamination (training-bound text vs the benchmark index; citrus decontam check FILE for your own):",
    ]
    for o in done:
        d = o.decontamination
        per = ", ".join(f"{b}: {n}" for b, n in sorted((d.get("removed_per_benchmark") or {}).items()))
        lines.append(
            f"  {o.asset} [{o.partition}]: {d.get('status', '?')}; {d.get('index_items', 0)} items of "
            f"{len(d.get('benchmarks') or [])} benchmarks indexed; {d.get('removed', 0)} rows removed"
            + (f" ({per})" if per else "")
        )
    return lines


def failed_checks(result: MainJobResult) -> tuple[list[str], list[str]]:
    """(reported, fatal): failed checks split into the non-blocking ``has_rows`` checks of stages the summary
    prints as EMPTY with their reason (an outcome of the data or the model, shown, not hidden) and every other
    failed check (a fault: the main job exits 1)."""
    from quality.empty import HAS_ROWS

    empty = {(o.asset, o.partition) for o in result.outputs if o.rows == 0}
    reported, fatal = [], []
    for key, ok in result.check_results.items():
        if ok:
            continue
        asset, _, rest = key.partition(":")
        name, _, part = rest.partition("[")
        part = part[:-1] if part.endswith("]") else part
        part = "-" if part in ("", "None") else part
        (reported if name == HAS_ROWS and (asset, part) in empty else fatal).append(key)
    return reported, fatal


def exit_code(result: MainJobResult) -> int:
    """0 when every check passed or only EMPTY stages' ``has_rows`` warnings failed (printed), else 1."""
    return 1 if failed_checks(result)[1] else 0


def format_summary(result: MainJobResult, lake_root: str, lineage_db: str) -> str:
    lines = [f"Main job finished in {result.seconds:.1f} s.", f"Lake: {lake_root}", f"Lineage DB: {lineage_db}", ""]
    w = max([len(o.asset) for o in result.outputs] + [5])
    lines.append(f"{'asset'.ljust(w)}  {'partition':<16} {'records':>8} {'quarantined':>11}  path")
    for o in result.outputs:
        lines.append(f"{o.asset.ljust(w)}  {o.partition:<16} {o.rows:>8} {o.quarantined:>11}  {o.path}")
    lines += empty_lines(result.outputs)
    lines += decontamination_lines(result.outputs)
    if result.check_results:
        passed = sum(result.check_results.values())
        lines.append("")
        lines.append(f"Checks: {passed}/{len(result.check_results)} passed")
        reported, fatal = failed_checks(result)
        lines += [f"  FAILED {k}" for k in fatal]
        lines += [f"  FAILED (WARN, stage EMPTY above) {k}" for k in reported]
        if reported and not fatal:
            lines.append(
                f"  {len(reported)} failed check(s) are the row-count warnings of the EMPTY stages listed "
                "above; no other check failed (exit code 0)"
            )
    if result.ablation_text:
        lines += [
            "",
            "Ablation (the paper's Table 5 layout): accuracy [95% Wilson CI] n=items; chance = a uniform "
            "guess; the 135M demo model is expected near chance",
            result.ablation_text,
            "(Markdown and chart: eval_report metadata table5 / table5_chart, and report.md in the lake)",
        ]
    if result.trace_record:
        lines += [
            "",
            f"Lineage trace of {result.trace_record} (citrus lineage trace {result.trace_record}):",
            result.trace_text,
        ]
    return "\n".join(lines)
