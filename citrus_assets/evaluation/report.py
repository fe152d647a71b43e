"""The evaluation report: the paper's Table 4 (models x benchmarks) and Table 5 (this project's
training stages, base -> CPT -> SFT stages -> RL: the ablation table) in Markdown and plain text, and
bar charts with 95% CIs.

Table 5 always has its six model rows (base, CPT, SFT-1, SFT-2, SFT-3, RL; a stage not evaluated yet
reads "not evaluated") and a chance row; columns are benchmarks; a cell is accuracy [95% Wilson CI] n.
Its rows come from the stage assets (``eval_scores_<stage>``, model key = stage); a registered model
with a ``stage`` fills a cell only where the stage asset has none."""

from __future__ import annotations

import base64
import io

import pyarrow as pa

from citrus_assets.evaluation.models import STAGE_LABELS, STAGE_ORDER
from citrus_assets.evaluation.registry import BENCHMARK_NAMES
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID

REPORT_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # [the eval_scores row]
        ("benchmark", pa.string()),
        ("model", pa.string()),
        ("stage", pa.string()),
        ("n", pa.int64()),
        ("accuracy", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("no_answer", pa.int64()),
        ("cell", pa.string()),  # how the cell reads in the Markdown tables
    ]
)


def _bench_order(names) -> list[str]:
    known = [b for b in BENCHMARK_NAMES if b in names]
    return known + sorted(set(names) - set(known))


def cell(r: dict) -> str:
    if not r["n"] or r["accuracy"] is None:
        return "—"
    return f"{r['accuracy']:.3f} ({r['ci_low']:.2f}–{r['ci_high']:.2f}), n={r['n']}"


def _table(rows: list[dict], row_keys: list[str], key: str, title: str) -> str:
    benches = _bench_order({r["benchmark"] for r in rows})
    by = {(r[key], r["benchmark"]): r for r in rows}
    lines = [f"| {title} | " + " | ".join(benches) + " |", "|---|" + "---|" * len(benches)]
    for k in row_keys:
        lines.append(f"| {k} | " + " | ".join(cell(by[(k, b)]) if (k, b) in by else "" for b in benches) + " |")
    return "\n".join(lines)


def table4_md(rows: list[dict]) -> str:
    """Every model on every benchmark: accuracy (95% Wilson CI), n."""
    if not rows:
        return "_no scores yet_"
    return _table(rows, sorted({r["model"] for r in rows}), "model", "model")


NOT_EVALUATED = "not evaluated"


def ablation_cells(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(stage, benchmark) -> the score row of Table 5: the stage asset's row (model == stage) first."""
    out: dict[tuple[str, str], dict] = {}
    for r in sorted((r for r in rows if r.get("stage") in STAGE_ORDER), key=lambda r: r["model"] == r["stage"]):
        out[(r["stage"], r["benchmark"])] = r  # the stage asset's row is written last, so it wins
    return out


def ablation_table(rows: list[dict], benchmarks: list[str] | None = None) -> list[list[str]]:
    """Table 5 as a grid of strings: a header, the six stage rows (base -> RL), then the chance row."""
    cells = ablation_cells(rows)
    benches = benchmarks or _bench_order({b for _, b in cells})
    grid = [["model", *benches]]
    for stage in STAGE_ORDER:
        line = [STAGE_LABELS.get(stage, stage)]
        for b in benches:
            r = cells.get((stage, b))
            if r is None:
                line.append(NOT_EVALUATED)
            elif not r["n"] or r["accuracy"] is None:
                line.append("no items")
            else:
                line.append(f"{r['accuracy']:.3f} [{r['ci_low']:.2f}–{r['ci_high']:.2f}] n={r['n']}")
        grid.append(line)
    chance = ["chance"]
    for b in benches:
        levels = [cells[(s, b)].get("chance") for s in STAGE_ORDER if (s, b) in cells]
        levels = [c for c in levels if c is not None]
        chance.append(f"{levels[0]:.3f}" if levels else "—")
    grid.append(chance)
    return grid


def ablation_md(rows: list[dict], benchmarks: list[str] | None = None) -> str:
    grid = ablation_table(rows, benchmarks)
    if len(grid[0]) == 1:
        return "_no training stage evaluated yet_"
    lines = ["| " + " | ".join(grid[0]) + " |", "|---|" + "---|" * (len(grid[0]) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in grid[1:]]
    return "\n".join(lines)


def ablation_text(rows: list[dict], benchmarks: list[str] | None = None) -> str:
    """Table 5 for a terminal: one column per benchmark, aligned."""
    grid = ablation_table(rows, benchmarks)
    widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(grid[0]), "  ".join("-" * w for w in widths), *map(fmt, grid[1:])])


def table5_md(rows: list[dict]) -> str:
    """The ablation table: this project's training stages, base -> CPT -> SFT-1/2/3 -> RL (six rows always)."""
    return ablation_md(rows)


def no_answer_md(rows: list[dict]) -> str:
    lines = ["| model | benchmark | n | no answer | truncated at max_tokens |", "|---|---|---:|---:|---:|"]
    order = {b: i for i, b in enumerate(BENCHMARK_NAMES)}
    for r in sorted(rows, key=lambda r: (r["model"], order.get(r["benchmark"], len(order)), r["benchmark"])):
        lines.append(f"| {r['model']} | {r['benchmark']} | {r['n']} | {r['no_answer']} | {r.get('truncated', 0)} |")
    return "\n".join(lines)


def _grouped_bars_png(
    series: list[tuple[str, dict]],
    benches: list[str],
    title: str,
    size: tuple[float, float],
    chance: dict | None = None,
    legend: dict | None = None,
) -> bytes:
    """Grouped accuracy bars with 95% CI error bars: one group per benchmark, one bar per ``(label, {benchmark:
    score row})`` series; ``chance`` ({benchmark: level}) is drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=90)
    width = 0.8 / max(1, len(series))
    for i, (label, by_bench) in enumerate(series):
        xs, ys, err = [], [], [[], []]
        for j, b in enumerate(benches):
            r = by_bench.get(b)
            if r:
                xs.append(j + (i - (len(series) - 1) / 2) * width)
                ys.append(r["accuracy"])
                err[0].append(r["accuracy"] - r["ci_low"])
                err[1].append(r["ci_high"] - r["accuracy"])
        ax.bar(xs, ys, width, yerr=err, capsize=3 if len(series) < 6 else 2, label=label)
    for j, b in enumerate(benches):
        if (chance or {}).get(b) is not None:
            ax.hlines(
                chance[b],
                j - 0.45,
                j + 0.45,
                colors="black",
                linestyles="dashed",
                linewidth=1,
                label="chance" if j == 0 else None,
            )
    ax.set_xticks(range(len(benches)))
    ax.set_xticklabels(benches, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Wilson CI)")
    ax.set_title(title)
    if legend is not None:
        ax.legend(**legend)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def bar_chart_png(rows: list[dict]) -> bytes:
    """Grouped bars: accuracy per benchmark, one bar per model, 95% CI error bars."""
    scored = [r for r in rows if r["n"] and r["accuracy"] is not None]
    benches = _bench_order({r["benchmark"] for r in scored})
    models = sorted({r["model"] for r in scored})
    series = [(m, {r["benchmark"]: r for r in scored if r["model"] == m}) for m in models]
    return _grouped_bars_png(
        series,
        benches,
        "Accuracy by benchmark and model",
        (max(5, 1.3 * len(benches) + 2), 3.4),
        legend={"fontsize": 8} if models else None,
    )


def ablation_chart_png(rows: list[dict]) -> bytes:
    """Table 5 as grouped bars: one group per benchmark, one bar per stage (95% CI), the chance level dashed."""
    cells = {k: r for k, r in ablation_cells(rows).items() if r["n"] and r["accuracy"] is not None}
    benches = _bench_order({b for _, b in cells})
    series = [(STAGE_LABELS[s], {b: r for (st, b), r in cells.items() if st == s}) for s in STAGE_ORDER]
    chance = {b: next((cells[(s, b)].get("chance") for s in STAGE_ORDER if (s, b) in cells), None) for b in benches}
    return _grouped_bars_png(
        series,
        benches,
        "Table 5: base -> CPT -> SFT -> RL",
        (max(5, 1.4 * len(benches) + 2), 3.6),
        chance=chance,
        legend={"fontsize": 7, "ncol": 4} if benches else None,
    )


def ablation_chart_md(rows: list[dict]) -> str:
    png = base64.b64encode(ablation_chart_png(rows)).decode()
    return f"![Table 5: accuracy by training stage](data:image/png;base64,{png})"


def chart_md(rows: list[dict]) -> str:
    return f"![accuracy by benchmark and model](data:image/png;base64,{base64.b64encode(bar_chart_png(rows)).decode()})"


def report_markdown(rows: list[dict], chart: bool = True) -> str:
    parts = [
        "# Evaluation report",
        "Accuracy = exact match of the extracted answer letters (common/answers.py); 95% Wilson score "
        "interval in brackets; n = items evaluated (demo runs use a subset, see eval_items).",
        "## Table 4: models x benchmarks",
        table4_md(rows),
        "## Table 5: this project's training stages (ablation)",
        "Rows: the model CPT starts from, then each checkpoint. Chance: the expected accuracy of a uniform guess "
        "of as many options as the answer has, on the same items.",
        table5_md(rows),
        "## Answers missing or truncated",
        no_answer_md(rows) if rows else "_none_",
    ]
    if chart and rows:
        parts += ["## Chart", chart_md(rows)]
    return "\n\n".join(parts) + "\n"


def report_table(rows: list[dict]) -> pa.Table:
    """One row per scored benchmark x model (empty partitions appear only as "—" in the Markdown)."""
    out = [
        {
            RECORD_ID: record_id("evalreport", r[RECORD_ID]),
            PARENT_IDS: [r[RECORD_ID]],
            "benchmark": r["benchmark"],
            "model": r["model"],
            "stage": r.get("stage") or "",
            "n": r["n"],
            "accuracy": r["accuracy"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "no_answer": r["no_answer"],
            "cell": cell(r),
        }
        for r in rows
        if r["n"] and r["accuracy"] is not None
    ]
    return pa.Table.from_pylist(out, schema=REPORT_SCHEMA)
