"""The benchmark's age x sex picture (like the paper's Figure 6), as a Markdown image + table."""

import dagster as dg

from citrus_assets.common.plots import _png_md


def age_sex_md(counts: dict[str, dict[str, int]], title: str = "JMED patients by age and sex") -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands = list(counts)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    width = 0.38
    for i, (sex, color) in enumerate((("male", "#3d7ee8"), ("female", "#e8a33d"))):
        values = [counts[b][sex] for b in bands]
        ax.bar([x + (i - 0.5) * width for x in range(len(bands))], values, width, label=sex, color=color)
    ax.set_xticks(range(len(bands)), bands)
    ax.set_xlabel("age")
    ax.set_ylabel("items")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    total = sum(sum(v.values()) for v in counts.values()) or 1
    rows = [
        f"| {b} | {v['male']} | {v['female']} | {v['unknown']} | {100 * sum(v.values()) / total:.1f}% |"
        for b, v in counts.items()
    ]
    table = "\n".join(["| age | male | female | unknown | share |", "|---|---:|---:|---:|---:|", *rows])
    return dg.MetadataValue.md(_png_md(fig, title) + "\n\n" + table)
