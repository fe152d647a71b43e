"""PDF extraction for the CPT corpus: PDFs made here with pymupdf, plus the real journal articles."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pymupdf
import pytest

from citrus_assets.cpt_corpus.pdf.extract import (
    body_pages,
    extract_batch,
    extract_pdf,
    leftover_hyphenations,
    max_repeated_line_page_share,
    text_per_page,
)
from citrus_assets.cpt_corpus.pdf.layout import (
    Line,
    PageLines,
    find_running_lines,
    is_page_number,
    make_blocks,
    order_blocks,
)
from citrus_assets.cpt_corpus.pdf.text import Vocabulary, join_break
from resources.lake import QuarantineRecord
from resources.lineage.ids import is_record_id, source_id

HEADER = "Synthetic Journal of Medicine 2024; 12: 1-3"
LEFT_X, RIGHT_X = 50, 310

TITLE = "Column Order in a Synthetic Study"
ALPHA = (
    "Alpha starts the left column of the first page and runs on for three lines so that the column is a "
    "proper block of text on its own in this test."
)
BRAVO = (
    "Bravo starts the right column of the first page and it must come after the whole left column when the "
    "page is read in the natural order of two columns."
)
CHARLIE = (
    "Charlie reports that the treatment of patients was well-known to all, and the COVID-19 wards were "
    "closed in the winter after the second wave."
)
CAPTION = "Table 1. Doses by group"
DELTA = (
    "Delta closes the second page in the right column with a sentence that does not end here but goes on "
    "in the right column as continued on the third page, where this sentence ends."
)
ECHO = (
    "Echo is the last paragraph of the body text and it sits in the left column of the third page, so it "
    "must come before the references on the right."
)


# ---------------------------------------------------------------------------------------------- builders
def _lines(page, x, y, lines, size=10, font="helv"):
    for ln in lines:
        page.insert_text((x, y), ln, fontsize=size, fontname=font)
        y += size * 1.25
    return y


def make_two_column_pdf(path: Path) -> Path:
    """Three two-column pages: running header, "Page n" footer, hyphenated words, a ruled table."""
    doc = pymupdf.open()
    for n in range(1, 4):
        page = doc.new_page(width=595, height=842)
        page.insert_text((50, 40), HEADER, fontsize=8, fontname="helv")
        page.insert_text((290, 815), f"Page {n}", fontsize=8, fontname="helv")
        if n == 1:
            page.insert_text((50, 90), TITLE, fontsize=18, fontname="hebo")
            _lines(
                page,
                LEFT_X,
                130,
                [
                    "Alpha starts the left column of the first page and",
                    "runs on for three lines so that the column is a",
                    "proper block of text on its own in this test.",
                ],
            )
            _lines(
                page,
                RIGHT_X,
                130,
                [
                    "Bravo starts the right column of the first page and",
                    "it must come after the whole left column when the",
                    "page is read in the natural order of two columns.",
                ],
            )
        elif n == 2:
            _lines(
                page,
                LEFT_X,
                80,
                [
                    "Charlie reports that the treat-",
                    "ment of patients was well-",
                    "known to all, and the COVID-",
                    "19 wards were closed in the",
                    "winter after the second wave.",
                ],
            )
            _lines(
                page,
                RIGHT_X,
                80,
                [
                    "Delta closes the second page in the right",
                    "column with a sentence that does not end",
                    "here but goes on in the right column as",
                ],
            )
            page.insert_text((50, 470), CAPTION, fontsize=9, fontname="hebo")
            xs, ys = [50, 200, 350, 545], [480, 500, 520, 540]
            for x in xs:
                page.draw_line((x, ys[0]), (x, ys[-1]), width=0.8)
            for y in ys:
                page.draw_line((xs[0], y), (xs[-1], y), width=0.8)
            cells = [["Group", "Dose", "Patients"], ["Placebo", "0 mg", "40"], ["Active", "25 mg", "41"]]
            for r, row in enumerate(cells):
                for c, txt in enumerate(row):
                    page.insert_text((xs[c] + 5, ys[r] + 14), txt, fontsize=9, fontname="helv")
        else:
            y = _lines(page, LEFT_X, 80, ["continued on the third page, where this", "sentence ends."])
            _lines(
                page,
                LEFT_X,
                y + 20,
                [
                    "Echo is the last paragraph of the body text and",
                    "it sits in the left column of the third page, so",
                    "it must come before the references on the right.",
                ],
            )
            page.insert_text((RIGHT_X, 80), "References", fontsize=11, fontname="hebo")
            _lines(
                page,
                RIGHT_X,
                98,
                [
                    "1. Smith J, Jones K. A trial of things. Lancet",
                    "2020;1:1-10.",
                    "2. Brown A. Another trial. BMJ 2021;2:3-4.",
                ],
                size=8,
            )
    doc.save(path)
    doc.close()
    return path


def _image_page(doc):
    page = doc.new_page(width=595, height=842)
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pix.set_rect(pix.irect, (180, 40, 40))
    page.insert_image(pymupdf.Rect(100, 100, 400, 400), pixmap=pix)


FILLER = (
    "The clinic measured blood pressure at every visit and adjusted the dose of the diuretic.",
    "Patients with kidney disease were followed by a nurse who checked their weight and symptoms.",
    "Most of the patients kept to the plan and none of them was admitted to the hospital again.",
)


def _text_page(doc, text="A page with a real text layer that is long enough to count as text."):
    """A page of real text (above the 200 characters per page a usable document has)."""
    page = doc.new_page(width=595, height=842)
    for k, line in enumerate((text, *FILLER)):
        page.insert_text((72, 100 + 16 * k), line, fontsize=11)


def minimal_pdf(objects: list[str]) -> bytes:
    """A well-formed PDF (correct xref offsets) made of the given object bodies."""
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture
def two_col(tmp_path) -> Path:
    return make_two_column_pdf(tmp_path / "two_col.pdf")


# ---------------------------------------------------------------------------------------------- made PDFs
def test_two_column_reading_order_headers_hyphens_table(two_col):
    row, bad = extract_pdf(two_col)
    assert bad is None
    assert row["body"].split("\n\n") == [TITLE, ALPHA, BRAVO, CHARLIE, CAPTION, DELTA, ECHO]
    assert HEADER not in row["body"] and "Page 1" not in row["body"]
    assert row["removed_header_footer_lines"] == 6  # header + footer on 3 pages
    assert row["dehyphenated"] == 1  # treat-|ment joined; well-|known and COVID-|19 keep their hyphen
    assert row["tables_markdown"] == ["|Group|Dose|Patients|\n|---|---|---|\n|Placebo|0 mg|40|\n|Active|25 mg|41|"]
    assert "Placebo" not in row["body"] and "25 mg" not in row["body"]
    assert row["captions"] == [CAPTION]
    assert row["references"].startswith("References\n\n1. Smith J")
    assert "Brown A" in row["references"] and "Smith J" not in row["body"]
    assert row["references_offset"] == len(row["body"])  # nothing after the references
    assert row["title"] == TITLE
    assert (row["pages"], row["page_start"], row["page_end"], row["source_locator"]) == (3, 1, 3, "pages 1-3")
    assert row["flagged_pages"] == [] and row["n_chars"] == len(row["body"])
    pages = body_pages(row)
    assert len(pages) == 3 and pages[0].startswith(TITLE) and pages[1].startswith("Charlie")


def test_table_modes(two_col):
    words, _ = extract_pdf(two_col)
    pymupdf_md, _ = extract_pdf(two_col, table_markdown="to_markdown")
    assert pymupdf_md["tables_markdown"] == words["tables_markdown"]
    off, _ = extract_pdf(two_col, tables="off")
    assert off["tables_markdown"] == [] and "Placebo" in off["body"]  # no table found: its text stays
    every, _ = extract_pdf(two_col, tables="all")
    assert every["tables_markdown"] == words["tables_markdown"]


def test_ids_lineage_and_row_contract(two_col, tmp_path):
    row, _ = extract_pdf(two_col, uri="s3://bucket/pdfs/two_col.pdf")
    assert is_record_id(row["record_id"]) and row["record_id"].startswith("pdfdoc-")
    assert row["parent_ids"] == [source_id("s3://bucket/pdfs/two_col.pdf", two_col.read_bytes())]
    assert row["source_uri"] == "s3://bucket/pdfs/two_col.pdf"
    again, _ = extract_pdf(two_col)
    assert again["record_id"] == row["record_id"]  # content-derived
    assert again["source_uri"] == "two_col.pdf"  # default uri: the file name


def test_checkers_pass_on_clean_output_and_fail_on_leaks(two_col):
    row, _ = extract_pdf(two_col)
    assert max_repeated_line_page_share(body_pages(row)) <= 0.5
    assert leftover_hyphenations(row["body"]) == 0
    assert 100 < text_per_page(row) < 1000
    leaked = [f"{HEADER}\nbody text of page {i}" for i in range(4)]
    assert max_repeated_line_page_share(leaked) == 1.0
    assert max_repeated_line_page_share(["Page 3\nx", "Page 4\ny", "other"]) == pytest.approx(2 / 3)
    assert max_repeated_line_page_share(["only one page"]) == 0.0
    assert leftover_hyphenations("the treat-\nment and the treat- ment") == 2
    assert leftover_hyphenations("pre- and post-operative, well-known, COVID-\n19") == 0
    assert text_per_page({"pages": 4, "flagged_pages": [4], "body": "x" * 200, "references": "y" * 100}) == 100


def test_image_only_page_is_flagged(tmp_path):
    doc = pymupdf.open()
    _text_page(doc)
    _image_page(doc)
    path = tmp_path / "scan.pdf"
    doc.save(path)
    row, bad = extract_pdf(path)
    assert bad is None and row["flagged_pages"] == [2] and row["pages"] == 2
    assert "real text layer" in row["body"]


def test_all_image_pdf_is_quarantined(tmp_path):
    doc = pymupdf.open()
    _image_page(doc)
    _image_page(doc)
    path = tmp_path / "slides.pdf"
    doc.save(path)
    row, bad = extract_pdf(path)
    assert row is None and bad.reason.startswith("no_text_layer") and "1-2" in bad.reason


def test_encrypted_pdf_is_quarantined_owner_only_is_read(tmp_path):
    doc = pymupdf.open()
    _text_page(doc)
    locked, owner_only = tmp_path / "locked.pdf", tmp_path / "owner_only.pdf"
    doc.save(locked, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")
    doc.save(owner_only, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", permissions=0)
    row, bad = extract_pdf(locked)
    assert row is None and bad.reason.startswith("encrypted") and bad.source_uri == "locked.pdf"
    row, bad = extract_pdf(owner_only)
    assert bad is None and "real text layer" in row["body"]


def _bad_files(tmp_path, two_col) -> dict[str, Path]:
    data = two_col.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty_file": b"",
        "not_pdf": b"This is a plain text file, not a PDF.\n" * 20,
        "zero_pages": minimal_pdf(["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"]),
        "corrupt": b"%PDF-1.7\n" + b"\x00garbage" * 100 + b"\n%%EOF\n",
    }
    out = {}
    for reason, raw in files.items():
        p = tmp_path / f"{reason}.pdf"
        p.write_bytes(raw)
        out[reason] = p
    return out


def test_bad_files_are_quarantined_with_a_reason(tmp_path, two_col):
    for reason, path in _bad_files(tmp_path, two_col).items():
        row, bad = extract_pdf(path)
        assert row is None, reason
        assert isinstance(bad, QuarantineRecord)
        assert bad.reason.split(":")[0] == reason, (reason, bad.reason)
        assert bad.source_uri == path.name and isinstance(bad.raw, str)
    row, bad = extract_pdf(tmp_path / "missing.pdf")
    assert row is None and bad.reason.startswith("unreadable")


def test_batch_funnel_and_duplicates(tmp_path, two_col):
    bad = _bad_files(tmp_path, two_col)
    copy = tmp_path / "copy_of_two_col.pdf"
    shutil.copy(two_col, copy)
    doc = pymupdf.open()
    _text_page(doc)
    _image_page(doc)
    doc.save(tmp_path / "scan.pdf")
    paths = [two_col, *bad.values(), copy, tmp_path / "scan.pdf"]
    rows, quarantine, stats = extract_batch(paths)
    assert stats["files_in"] == 8 == stats["ok"] + stats["duplicates"] + stats["quarantined"]
    assert (stats["ok"], stats["duplicates"], stats["quarantined"]) == (2, 1, 5)
    assert stats["quarantined_by_reason"] == {r: 1 for r in sorted(bad)}
    assert stats["pages"] == 5 and stats["flagged_pages"] == 1 and stats["tables"] == 1
    merged = next(r for r in rows if r["source_uri"] == "two_col.pdf")
    assert len(merged["parent_ids"]) == 2  # the copy's source id joins the first row
    assert len({r["record_id"] for r in rows}) == len(rows)
    assert len(quarantine) == 5


# ---------------------------------------------------------------------------------------------- pure rules
def test_dehyphenation_rule():
    vocab = Vocabulary()
    vocab.add("the dementia-free group and a follow-up visit; healthcare workers at an older age")
    cases = {
        ("the treat-", "ment of"): ("the treatment of", True),
        ("a well-", "known fact"): ("a well-known fact", False),
        ("the COVID-", "19 wards"): ("the COVID-19 wards", False),
        ("anti-", "TNF drugs"): ("anti-TNF drugs", False),
        ("IL-", "six"): ("IL-six", False),
        ("were dementia-", "free at"): ("were dementia-free at", False),
        ("health-", "care workers"): ("healthcare workers", True),
        ("a meta-", "analysis"): ("a meta-analysis", False),
        ("first-", "and second-line"): ("first- and second-line", False),
        ("pages 482-", "5."): ("pages 482-5.", False),
        ("a word", "next"): ("a word next", False),
        ("1990–", "1995"): ("1990–1995", False),
        ("soft\u00ad", "ware"): ("software", True),
        ("age-", "related decline"): ("age-related decline", False),  # "age" is a word of the document
        ("cor-", "related with"): ("correlated with", True),  # "cor" is not
    }
    for (left, right), expected in cases.items():
        assert join_break(left, right, vocab) == expected, (left, right)


def test_page_numbers():
    for t in ("12", "Page 3", "page 3 of 10", "- 4 -", "iv", "3/10"):
        assert is_page_number(t), t
    for t in ("Table 2", "12 patients", "2020;1:1-10.", ""):
        assert not is_page_number(t), t


def _line(x0, y0, x1, text, block=0, size=10.0):
    return Line(x0, y0, x1, y0 + 10, text, size, block=block, ocx=(x0 + x1) / 2, ocy=y0 + 5)


def test_order_blocks_regions_cut_by_full_width_blocks():
    lines = [_line(50, 50, 545, "FULL TOP", 0)]
    lines += [_line(50, 100 + 12 * i, 290, f"L1 {i}", 1) for i in range(4)]
    lines += [_line(310, 100 + 12 * i, 545, f"R1 {i}", 2) for i in range(4)]
    lines += [_line(50, 300, 545, "FULL MIDDLE", 3)]
    lines += [_line(50, 350 + 12 * i, 290, f"L2 {i}", 4) for i in range(4)]
    lines += [_line(310, 350 + 12 * i, 545, f"R2 {i}", 5) for i in range(4)]
    page = PageLines(1, (0, 0, 595, 842), lines)
    blocks, gutter = make_blocks(page, 0, [True] * len(lines))
    assert gutter is not None and 290 <= gutter <= 310
    order = [b.lines[0].text.split()[0] for b in order_blocks(blocks)]
    assert order == ["FULL", "L1", "R1", "FULL", "L2", "R2"]
    assert order_blocks(blocks)[3].lines[0].text == "FULL MIDDLE"


def test_mixed_mupdf_block_is_split_by_column():
    # MuPDF sometimes puts right-column lines and a left-column footnote in one block
    lines = [_line(50, 100 + 12 * i, 290, f"left {i}", 0) for i in range(5)]
    lines += [_line(310, 100 + 12 * i, 545, f"right {i}", 1) for i in range(5)]
    lines += [_line(50, 700, 200, "footnote a", 1, size=7), _line(310, 160, 545, "right 5", 1)]
    page = PageLines(1, (0, 0, 595, 842), lines)
    blocks, _ = make_blocks(page, 0, [True] * len(lines))
    kinds = sorted((b.kind, len(b.lines)) for b in blocks)
    assert kinds == [("left", 1), ("left", 5), ("right", 6)]


def test_single_column_page_has_no_gutter():
    lines = [_line(50, 100 + 12 * i, 545 - (i % 3) * 40, f"line {i} of one wide column", 0) for i in range(30)]
    blocks, gutter = make_blocks(PageLines(1, (0, 0, 595, 842), lines), 0, [True] * 30)
    assert gutter is None and all(b.kind == "full" for b in blocks)


def test_running_lines_need_repetition_at_a_similar_height():
    def page(n, extra):
        return PageLines(
            n,
            (0, 0, 595, 842),
            [
                _line(50, 30, 300, "Journal of Tests 2024"),  # header on every page
                _line(50, 400, 545, f"body text {n}"),
                _line(290, 810, 300, str(n)),  # bare page number
                *extra,
            ],
        )

    pages = [
        page(1, [_line(50, 30, 300, "Only on page one")]),
        page(2, []),
        page(3, []),
        page(4, [_line(50, 400, 300, "Journal of Tests 2024")]),
    ]  # same text mid-page: kept
    drop = find_running_lines(pages)
    texts = {(pi, pages[pi].lines[li].text) for pi, li in drop}
    assert {t for _, t in texts} == {"Journal of Tests 2024", "1", "2", "3", "4"}
    assert (3, "Journal of Tests 2024") in texts and len([t for t in texts if t[0] == 3]) == 2
    assert all(pages[pi].lines[li].y0 < 100 or pages[pi].lines[li].y0 > 800 for pi, li in drop)


# ---------------------------------------------------------------------------------------------- real PDFs
REAL = {
    # file stem -> (running header/footer strings, a text that only reading order + de-hyphenation yield)
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


@pytest.fixture(scope="module")
def real_rows():
    """All four real PDFs extracted once (table detection makes this the slow part)."""
    repo = Path(__file__).resolve().parents[2]
    folder = Path(os.environ.get("CITRUS_DATA") or repo.parent / "shared" / "data") / "pdfs"
    if not folder.is_dir():
        pytest.skip(f"real sample PDFs not found at {folder} (set CITRUS_DATA)")
    rows, quarantine, stats = extract_batch(sorted(folder.glob("*.pdf")))
    return {Path(r["source_uri"]).stem: r for r in rows}, quarantine, stats


def test_real_pdfs_extract_cleanly(shared_data, real_rows):
    rows, quarantine, stats = real_rows
    assert quarantine == [] and set(rows) == set(REAL)
    assert stats["pages"] == 28 and stats["flagged_pages"] == 0
    for stem, row in rows.items():
        headers, flowing = REAL[stem]
        assert max_repeated_line_page_share(body_pages(row)) <= 0.5, stem
        for h in headers:
            assert h not in row["body"], (stem, h)
        assert row["removed_header_footer_lines"] >= row["pages"] - 1, stem
        assert leftover_hyphenations(row["body"]) == 0, stem
        assert leftover_hyphenations(row["references"]) == 0, stem
        assert flowing in row["body"], stem
        assert row["references"].startswith("References"), stem
        assert row["references_offset"] > 0 and len(row["references"]) > 1000, stem
        assert 2000 < text_per_page(row) < 8000, (stem, text_per_page(row))
        assert row["title"] and len(row["title"]) > 20, stem
        assert row["dehyphenated"] > 0 and row["flagged_pages"] == [], stem


def test_real_references_are_separated(shared_data, real_rows):
    rows, _, _ = real_rows
    trauma = rows["cermine_test1_j-trauma-manag-outcomes-2010"]
    assert "Kudsk KA, Fabian TC" in trauma["references"] and "Kudsk KA" not in trauma["body"]
    assert trauma["title"].startswith("Complications related to deep venous thrombosis prophylaxis")
    psych = rows["cermine_example1_intl-psychogeriatrics-2013"]
    assert psych["title"] == "Stressful life events are not associated with the development of dementia"
    assert "Fratiglioni, L." in psych["references"]
    hindawi = rows["cermine_test2_rehabil-res-pract-2010"]  # no metadata title; "Research Article" skipped
    assert hindawi["title"] == "Patient Experiences of Structured Heart Failure Programmes"


def test_real_tables_found_and_not_duplicated(shared_data, real_rows):
    rows, _, stats = real_rows
    assert stats["tables"] >= 4
    psych = rows["cermine_example1_intl-psychogeriatrics-2013"]  # Tables 1 and 2 (booktabs rules)
    assert len(psych["tables_markdown"]) == 2
    assert "|Age: mean, SD|67.7, SD = 9.6|" in psych["tables_markdown"][0]
    assert "67.7, SD = 9.6" not in psych["body"]
    assert "Table 1. Baseline characteristics" in psych["captions"][0]
    bmc = rows["cermine_example2_bmc-health-serv-res-2014"]  # Table 1, and Table 2 on two landscape pages
    assert len(bmc["tables_markdown"]) == 3
    assert bmc["tables_markdown"][0].startswith("|Item|Yes (%)|No (%)|Respondents|\n|---|---|---|---|\n")
    assert "|Privacy given|99|1|97|" in bmc["tables_markdown"][0]
    assert "|4.3 Treatment protocols|" in bmc["tables_markdown"][2]  # the landscape continuation page
    assert "Privacy given" not in bmc["body"]
    assert any(c.startswith("Figure 1") for c in bmc["captions"])
