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
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")
