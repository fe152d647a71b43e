"""Pictures for materialization metadata: small PNGs embedded in Markdown (render in the Dagster UI)."""

import base64
import io

import dagster as dg


def histogram_md(series: dict[str, list[float]], title: str, xlabel: str, bins: int = 20) -> dg.MetadataValue:
    """One overlaid histogram per named series, as a Markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    for name, values in series.items():
        if values:
            ax.hist(values, bins=bins, alpha=0.6, label=f"{name} (n={len(values)})")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    if any(series.values()):
        ax.legend()
    fig.tight_layout()
    return dg.MetadataValue.md(_png_md(fig, title))


def _png_md(fig, title: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def funnel_md(stages: list[tuple[str, int]], title: str, unit: str = "documents") -> dg.MetadataValue:
    """A funnel: one horizontal bar per stage (in order, top down) with its count and share of the first
    stage, as a Markdown image followed by the same numbers as a Markdown table."""
    return _bars_md(stages, title, unit, base=stages[0][1] if stages else 0, share_label="of first", label="stage")


def bars_md(items: list[tuple[str, int]], title: str, unit: str, label: str = "category") -> dg.MetadataValue:
    """Counts per category (e.g. duplicate groups per cluster size), with each one's share of the total."""
    return _bars_md(items, title, unit, base=sum(n for _, n in items), share_label="of total", label=label)


def _bars_md(
    items: list[tuple[str, int]], title: str, unit: str, base: int, share_label: str, label: str
) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def share(n: int) -> str:
        return f"{100 * n / base:.1f}%" if base else "–"

    names = [str(name) for name, _ in items]
    counts = [int(n) for _, n in items]
    fig, ax = plt.subplots(figsize=(6, 0.45 * max(len(items), 1) + 1.0), dpi=90)
    bars = ax.barh(range(len(items)), counts, color="#e8a33d")
    for bar, n in zip(bars, counts):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n:,} ({share(n)})", va="center", fontsize=8)
    ax.set_yticks(range(len(items)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(counts + [1]) * 1.35)
    ax.set_xlabel(unit)
    ax.set_title(title)
    fig.tight_layout()
    rows = [f"| {name.replace('|', '/')} | {n:,} | {share(n)} |" for name, n in zip(names, counts)]
    table = "\n".join([f"| {label} | {unit} | {share_label} |", "|---|---:|---:|", *rows])
    return dg.MetadataValue.md(_png_md(fig, title) + "\n\n" + table)
