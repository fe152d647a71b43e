"""Pictures for materialization metadata: funnel and bar charts as Markdown (PNG + the numbers as a table)."""

import base64
import re

from citrus_assets.common.plots import bars_md, funnel_md


def png_of(md: str) -> bytes:
    return base64.b64decode(re.search(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md).group(1))


def test_funnel_md_draws_every_stage_with_its_share_of_the_first():
    md = funnel_md([("files in", 8), ("extracted", 6), ("quarantined", 2)], "PDF batch b1", unit="files").value
    assert md.startswith("![PDF batch b1](data:image/png;base64,")
    assert png_of(md)[:8] == b"\x89PNG\r\n\x1a\n" and len(png_of(md)) > 2000  # a real picture, not a stub
    rows = re.findall(r"^\| ([^|]+) \| ([\d,]+) \| ([^|]+) \|$", md, flags=re.M)
    assert rows == [("files in", "8", "100.0%"), ("extracted", "6", "75.0%"), ("quarantined", "2", "25.0%")]
    assert "| stage | files | of first |" in md


def test_funnel_md_handles_empty_and_zero_inputs():
    assert "| a | 0 | – |" in funnel_md([("a", 0), ("b", 0)], "nothing").value
    empty = funnel_md([], "no stages").value
    assert png_of(empty)[:4] == b"\x89PNG" and "| stage | documents | of first |" in empty
    assert "| a/b | 1 | 100.0% |" in funnel_md([("a|b", 1)], "pipes escaped").value


def test_bars_md_shares_are_of_the_total():
    md = bars_md([("2", 3), ("3", 1)], "groups by size", unit="groups", label="group size").value
    assert "| group size | groups | of total |" in md
    assert "| 2 | 3 | 75.0% |" in md and "| 3 | 1 | 25.0% |" in md
