"""Benchmark: pages/s through `extract_pdf` vs bare `page.get_text()` over the real sample PDFs.

The same four two-column journal articles (``$CITRUS_DATA/pdfs`` or ``../shared/data/pdfs``, 28
pages). Each repetition opens every file and reads every page, alternating between the paths:

* ``get_text()``: open + ``page.get_text()`` (plain text, MuPDF's own order) -- the baseline;
* ``get_text("dict")``: open + ``page.get_text("dict")``, the input the extractor needs (fonts,
  sizes, line boxes): the ceiling for any extractor built on it;
* ``extract_pdf(tables="off")``: everything except table detection;
* ``extract_pdf(tables="auto")``: the default, ``find_tables`` only on pages that look tabular,
  Markdown from the cell grid + MuPDF words; and the same with ``Table.to_markdown()``;
* ``extract_pdf(tables="all")``: ``find_tables`` on every page (fewer repetitions: it is slow);
* ``extract_pdf(tables="auto")``, one process per file on 2 cores (``ProcessPoolExecutor``): how a large
  corpus is extracted;
* the peer: ``pymupdf4llm.to_markdown`` (installed with pymupdf; its layout model and table detection on
  every page) on the same files (``--llm-reps``, default 1: it is slow).

A quality table checks both extractors the same way on every file: running headers/footers left in the
text (the strings the tests know for each article), a sentence that only the right reading order (and
de-hyphenation) yields, references separated from the body, leftover line-end hyphens.

The minimum time of each path is the headline (the machine is shared, the minimum is the least
disturbed run); the median and the process CPU time (which other load hardly changes) are shown
too. A second table breaks the table-detection cost down per page: the gate, ``find_tables`` on
gated vs other pages, and the two Markdown renderers per table.

    .venv/bin/python benchmarks/cpt_corpus/pdf/extract.py [--reps 5] [--all-reps 1] [--llm-reps 1]

Writes a Markdown table to benchmarks/results/pdf_extract.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import pymupdf

REPO = Path(__file__).resolve().parent.parent

from citrus_assets.cpt_corpus.pdf.extract import extract_pdf, leftover_hyphenations  # noqa: E402
from citrus_assets.cpt_corpus.pdf.page import (  # noqa: E402
    TEXT_FLAGS,
    _display_words,
    looks_tabular,
    read_page,
    words_markdown,
)

GOAL = 0.8
LLM = "pymupdf4llm.to_markdown (peer)"
PARALLEL = 'extract_pdf(tables="auto"), 2 processes, one per file'
# file stem -> (running header/footer strings, a sentence only the right reading order + de-hyphenation yield)
QUALITY = {
    "cermine_example1_intl-psychogeriatrics-2013": (
        ["A. Sundström et al.", "Life events do not increase risk of dementia"],
        "delay the onset of dementia and approaches that promote continued independent living",
    ),
    "cermine_example2_bmc-health-serv-res-2014": (
        ["BMC Health Services Research 2014, 14:1", "Page 2 of 10", "Page 9 of 10"],
        "a situational analysis to identify and understand the systems",
    ),
    "cermine_test1_j-trauma-manag-outcomes-2010": (
        ["Journal of Trauma Management & Outcomes 2010, 4:1", "Page 10 of 11"],
        "pharmacologic anticoagulation with low molecular weight heparins (LMWHs) as the primary",
    ),
    "cermine_test2_rehabil-res-pract-2010": (
        ["Rehabilitation Research and Practice"],
        "Treatment requires a complex combination of pharmacological and lifestyle interventions",
    ),
}


def data_dir() -> Path:
    return Path(os.environ.get("CITRUS_DATA") or REPO.parent / "shared" / "data") / "pdfs"


def bare(files: list[Path], mode: str | None) -> int:
    n = 0
    for f in files:
        doc = pymupdf.open(f)
        for page in doc:
            page.get_text() if mode is None else page.get_text(mode, flags=TEXT_FLAGS)
            n += 1
        doc.close()
    return n


def through_extract(files: list[Path], tables: str, table_markdown: str = "words") -> int:
    n = 0
    for f in files:
        row, bad = extract_pdf(f, tables=tables, table_markdown=table_markdown)
        assert bad is None, bad
        n += row["pages"]
    return n


def _pages_of(f: Path) -> int:
    with pymupdf.open(f) as doc:
        return doc.page_count


def through_llm(files: list[Path]) -> int:
    import pymupdf4llm

    for f in files:
        pymupdf4llm.to_markdown(str(f))
    return sum(_pages_of(f) for f in files)


def _extract_pages(f: Path) -> int:
    row, bad = extract_pdf(f)
    assert bad is None, bad
    return row["pages"]


def through_pool(files: list[Path], workers: int = 2) -> int:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:  # one task (process) per file
        return sum(pool.map(_extract_pages, files))


def _plain(markdown: str) -> str:
    """Markdown -> text for the same checks: emphasis and heading marks dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[*_#`]+", "", markdown))


def quality(files: list[Path]) -> list[dict]:
    """Per file and extractor: headers/footers left, reading order, references separated, leftover hyphens."""
    import pymupdf4llm

    out = []
    for f in files:
        headers, flowing = QUALITY.get(f.stem, ([], ""))
        row, _ = extract_pdf(f)
        md = pymupdf4llm.to_markdown(str(f))
        for name, body, refs in (("extract_pdf", row["body"], row["references"]), ("pymupdf4llm", md, "")):
            flat = _plain(body)
            out.append(
                {
                    "file": f.stem,
                    "extractor": name,
                    "headers_left": sum(flat.count(_plain(h)) for h in headers),
                    "reading_order": bool(flowing) and flowing in flat,
                    "references_separated": bool(refs),
                    "leftover_hyphens": leftover_hyphenations(body),
                }
            )
    return out


def timed(fn) -> tuple[float, float, int]:
    w, c = time.perf_counter(), time.process_time()
    n = fn()
    return time.perf_counter() - w, time.process_time() - c, n


def table_breakdown(files: list[Path]) -> dict:
    """Per-page cost of the gate, find_tables (gated / not gated pages) and to_markdown."""
    out = {
        "pages": 0,
        "gate_s": 0.0,
        "gated": 0,
        "ft_gated_s": 0.0,
        "ft_other_s": 0.0,
        "ft_other_pages": 0,
        "tables_gated": 0,
        "tables_other": 0,
        "md_s": 0.0,
        "md_tables": 0,
        "wmd_s": 0.0,
    }
    for f in files:
        doc = pymupdf.open(f)
        for page in doc:
            out["pages"] += 1
            lines = read_page(page, page.number + 1)
            t = time.perf_counter()
            gated = looks_tabular(page, lines)
            out["gate_s"] += time.perf_counter() - t
            t = time.perf_counter()
            found = page.find_tables()
            dt = time.perf_counter() - t
            tables = [x for x in (found.tables if found else []) if x.row_count >= 2 and x.col_count >= 2]
            if gated:
                out["gated"] += 1
                out["ft_gated_s"] += dt
                out["tables_gated"] += len(tables)
            else:
                out["ft_other_pages"] += 1
                out["ft_other_s"] += dt
                out["tables_other"] += len(tables)
            for tab in tables:
                t = time.perf_counter()
                tab.header  # noqa: B018 - computed once, lazily; both renderers use it
                words_markdown(tab, _display_words(page))
                out["wmd_s"] += time.perf_counter() - t
                t = time.perf_counter()
                tab.to_markdown(clean=False, fill_empty=False)
                out["md_s"] += time.perf_counter() - t
                out["md_tables"] += 1
        doc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--all-reps", type=int, default=1, help='repetitions of tables="all" (slow)')
    ap.add_argument("--llm-reps", type=int, default=1, help="repetitions of pymupdf4llm.to_markdown (slow)")
    args = ap.parse_args()
    files = sorted(data_dir().glob("*.pdf"))
    if not files:
        sys.exit(f"no PDFs in {data_dir()} (set CITRUS_DATA)")
    load_before = os.getloadavg()
    paths = {
        "get_text() (baseline)": lambda: bare(files, None),
        'get_text("dict")': lambda: bare(files, "dict"),
        'extract_pdf(tables="off")': lambda: through_extract(files, "off"),
        'extract_pdf(tables="auto") (default)': lambda: through_extract(files, "auto"),
        'extract_pdf(tables="auto", table_markdown="to_markdown")': (
            lambda: through_extract(files, "auto", "to_markdown")
        ),
        'extract_pdf(tables="all")': lambda: through_extract(files, "all"),
        PARALLEL: lambda: through_pool(files),
        LLM: lambda: through_llm(files),
    }
    through_extract(files, "auto")  # warm-up: imports, the layout model's first load
    through_llm(files[:1])
    limits = {'extract_pdf(tables="all")': args.all_reps, LLM: args.llm_reps, PARALLEL: max(1, min(2, args.reps))}
    runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in paths}
    for rep in range(args.reps):
        for name, fn in paths.items():
            if rep >= limits.get(name, args.reps):
                continue
            runs[name].append(timed(fn))
    breakdown = table_breakdown(files)
    checks = quality(files)
    load_after = os.getloadavg()

    base_wall = min(w for w, _, _ in runs["get_text() (baseline)"])
    base_cpu = min(c for _, c, _ in runs["get_text() (baseline)"])
    n_pages = runs["get_text() (baseline)"][0][2]
    lines = [
        "# PDF extraction benchmark",
        "",
        f"{len(files)} real two-column journal PDFs, {n_pages} pages ({', '.join(f.name for f in files)}).",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores shared with other work "
        f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after), Python {platform.python_version()}, "
        f'pymupdf {pymupdf.__version__}. {args.reps} repetitions ({args.all_reps} for tables="all", '
        f"{args.llm_reps} for pymupdf4llm, {limits[PARALLEL]} for the process pool), alternating "
        "paths; best = minimum wall time, ratio = pages/s of the path / pages/s of get_text() (goal >= "
        f"{GOAL}x). CPU s counts this process only (the pool's work is in its children).",
        "",
        "| path | best s | median s | pages/s (best) | ratio (wall) | CPU s (best) | ratio (CPU) | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rs in runs.items():
        walls, cpus = [w for w, _, _ in rs], [c for _, c, _ in rs]
        best, cpu = min(walls), min(cpus)
        ratio, cratio = base_wall / best, base_cpu / cpu
        goal = "" if "get_text" in name or name == LLM else ("met" if ratio >= GOAL else "missed")
        cpu_cells = "n/a (in the children) | n/a" if name == PARALLEL else f"{cpu:.3f} | {cratio:.2f}x"
        lines.append(
            f"| {name} | {best:.3f} | {statistics.median(walls):.3f} | {n_pages / best:.1f} | "
            f"{ratio:.2f}x | {cpu_cells} | {goal} |"
        )
    b = breakdown
    lines += [
        "",
        "Where table detection time goes (one pass, every page through `find_tables()`):",
        "",
        "| step | pages / tables | seconds | per page / table |",
        "|---|---|---|---|",
        f"| gate `looks_tabular` (all pages) | {b['pages']} pages | {b['gate_s']:.3f} | "
        f"{1000 * b['gate_s'] / b['pages']:.1f} ms |",
        f"| `find_tables` on gated pages | {b['gated']} pages, {b['tables_gated']} tables | {b['ft_gated_s']:.2f} | "
        f"{b['ft_gated_s'] / max(1, b['gated']):.2f} s |",
        f"| `find_tables` on pages the gate skips | {b['ft_other_pages']} pages, {b['tables_other']} tables | "
        f"{b['ft_other_s']:.2f} | {b['ft_other_s'] / max(1, b['ft_other_pages']):.2f} s |",
        f'| Markdown from words (`table.header` + cells + `get_text("words")`) | {b["md_tables"]} tables | '
        f"{b['wmd_s']:.2f} | {b['wmd_s'] / max(1, b['md_tables']):.3f} s |",
        f"| `Table.to_markdown()` | {b['md_tables']} tables | {b['md_s']:.2f} | "
        f"{b['md_s'] / max(1, b['md_tables']):.3f} s |",
    ]
    lines += [
        "",
        "Quality on the same files (headers/footers left: occurrences of the known running strings; reading order: "
        "the sentence that needs it is whole; references separated from the body):",
        "",
        "| file | extractor | headers/footers left | reading order | references separated | leftover hyphens |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['file']} | {c['extractor']} | {c['headers_left']} | {'yes' if c['reading_order'] else 'no'} "
            f"| {'yes' if c['references_separated'] else 'no'} | {c['leftover_hyphens']} |"
        )
    text = "\n".join(lines) + "\n"
    out = REPO / "benchmarks" / "results" / "pdf_extract.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    best = {name: min(w for w, _, _ in rs) for name, rs in runs.items()}
    text += notes(best, breakdown, checks)
    out.write_text(text)
    print(text)


def notes(best: dict[str, float], b: dict, checks: list[dict]) -> str:
    r = {k: best["get_text() (baseline)"] / v for k, v in best.items()}
    auto_s, llm_s, pool_s = best['extract_pdf(tables="auto") (default)'], best[LLM], best[PARALLEL]

    def total(extractor: str, key: str) -> int:
        return sum(int(c[key]) for c in checks if c["extractor"] == extractor)

    n_files = sum(1 for c in checks if c["extractor"] == "extract_pdf")
    off, dct = r['extract_pdf(tables="off")'], r['get_text("dict")']
    auto, allp = best['extract_pdf(tables="auto") (default)'], best['extract_pdf(tables="all")']
    tomd = best['extract_pdf(tables="auto", table_markdown="to_markdown")']
    met = "met" if r['extract_pdf(tables="auto") (default)'] >= GOAL else "**missed**"
    met_off = "met" if off >= GOAL else "**missed**"
    return f"""
## Reading the numbers

* The goal (>= {GOAL}x the pages/s of bare `get_text()`) is {met} with table detection (default) and
  {met_off} without it (`tables="off"`, {off:.2f}x).
* Without tables the floor is MuPDF itself: `get_text("dict")` alone -- needed for font sizes, bold,
  fonts and line boxes (title, headings, captions, footnotes, columns) -- runs at {dct:.2f}x of
  `get_text()`; the Python layout work (columns, headers/footers, paragraphs, de-hyphenation) takes
  it to {off:.2f}x. No rewrite of the Python part can pass {dct:.2f}x while reading the dict.
* With tables, `find_tables()` dominates: pymupdf 2.0 runs its ONNX layout model on the page (page
  render + feature extraction + inference), {b["ft_gated_s"] / max(1, b["gated"]):.2f} s a gated page and
  {b["ft_other_s"] / max(1, b["ft_other_pages"]):.2f} s an other page on this shared machine. The gate
  (`looks_tabular`: a "Table n" caption line, or two long rules around short, cell-like lines) costs
  {1000 * b["gate_s"] / b["pages"]:.1f} ms a page and sends {b["gated"]} of {b["pages"]} pages to
  `find_tables`; they hold {b["tables_gated"]} tables, and on the {b["ft_other_pages"]} pages it skips
  `find_tables` finds {b["tables_other"]} (a reference list read as a two-column table). Detection on every
  page (`tables="all"`) costs {allp / auto:.1f}x the gated run.
* `Table.to_markdown()` re-extracts the page for every cell: {b["md_s"] / max(1, b["md_tables"]):.2f} s a
  table here, against {b["wmd_s"] / max(1, b["md_tables"]):.3f} s for the default, which fills the same
  Markdown grid from `table.header`/`table.rows` with MuPDF's words (and keeps the spaces that
  `to_markdown` loses on these PDFs: "Respondentgroup", "43Treatmentprotocols"); with `to_markdown` the
  gated run takes {tomd / auto:.1f}x as long.
* For a large corpus, table detection is the part to parallelize (one process per file) or to switch
  off where tables do not matter (`tables="off"` keeps every other feature). One process per file on the
  2 cores: {pool_s:.2f} s against {auto_s:.2f} s in one process ({auto_s / pool_s:.1f}x), on a machine
  shared with other work.
* Peer: `pymupdf4llm.to_markdown` took {llm_s:.2f} s for the same pages: our default extractor (with table
  detection) is {llm_s / auto_s:.1f}x faster. Quality over the {n_files} files: running headers/footers left
  {total("extract_pdf", "headers_left")} (ours) vs {total("pymupdf4llm", "headers_left")} (pymupdf4llm);
  reading-order sentence whole in {total("extract_pdf", "reading_order")} vs
  {total("pymupdf4llm", "reading_order")} files; references separated in
  {total("extract_pdf", "references_separated")} vs {total("pymupdf4llm", "references_separated")} (to_markdown
  gives one Markdown text); leftover line-end hyphens {total("extract_pdf", "leftover_hyphens")} vs
  {total("pymupdf4llm", "leftover_hyphens")}.
"""


if __name__ == "__main__":
    main()
