"""PDFs as they are published (issue 15): a scan with a garbage OCR layer, a slide deck that is mostly images,
a deck with a running footer and a placeholder title, an article with a bundled supplement. PDFs made here
with pymupdf. One unusable document is quarantined with its reason and never fails the batch's check."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import dagster as dg
import pymupdf
import pytest

from citrus_assets.cpt_corpus.pdf.extract import extract_batch, extract_pdf
from citrus_assets.cpt_corpus.pdf.text import plausible_metadata_title, text_quality, unusable_text
from tests.support.resources import make_resources

WORDS = (
    "patients heart failure reduced ejection fraction therapy dose diuretic kidney function blood pressure "
    "trial outcome mortality admission follow visit clinic nurse education weight sodium fluid symptoms "
    "breath fatigue oedema rhythm atrial valve imaging echo score risk benefit harm review evidence"
).split()
FOOTER = "Department of Cardiology | Grand Rounds 2024"


def _sentence(rng: random.Random, n: int = 9) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def make_deck(path: Path, n: int = 6, image_slides: int = 0, bullets: int = 4, title: str = "PowerPoint Presentation"):
    """16:9 slides: a title, bullets, a footer at 80% of the height (outside the header/footer band) and a number."""
    rng = random.Random(n * 7 + image_slides)
    doc = pymupdf.open()
    for i in range(1, n + 1):
        page = doc.new_page(width=720, height=405)
        if i <= image_slides:  # a picture and nothing else
            pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 36), 0)
            pix.clear_with(180)
            page.insert_image(page.rect, pixmap=pix)
            continue
        page.insert_text((40, 60), f"{rng.choice(WORDS).capitalize()} and {rng.choice(WORDS)} in practice", fontsize=26)
        y = 115
        for _ in range(bullets):
            page.insert_text((60, y), "- " + _sentence(rng), fontsize=14)
            y += 28
        page.insert_text((40, 330), FOOTER, fontsize=9)
        page.insert_text((660, 385), str(i), fontsize=9)
    doc.set_metadata({"title": title})
    doc.save(path)
    return path


def make_garbage_scan(path: Path, n: int = 3) -> Path:
    """A scan whose OCR layer reads "1 1 / I / 1 I 1 1 ..." under the title "“SA WA"."""
    rng = random.Random(1)
    doc = pymupdf.open()
    for _ in range(n):
        page = doc.new_page()
        page.insert_text((72, 72), "\u201cSA WA", fontsize=20)
        y = 110
        for _ in range(40):
            page.insert_text(
                (72, y), " ".join(rng.choice(["1", "I", "/", "1 1", "l", "|", "1I"]) for _ in range(30)), fontsize=10
            )
            y += 14
    doc.save(path)
    return path


def make_article_with_supplement(path: Path, main_refs: int = 52, supp_refs: int = 4) -> Path:
    """Body, References (the main list), "Supplementary online data" with its own short References."""
    rng = random.Random(3)
    lines: list[tuple[str, int]] = [("Diuretic Dosing in Heart Failure: a Synthetic Trial", 18)]
    for _ in range(3):
        lines += [(_sentence(rng, 12) + ",", 10) for _ in range(6)] + [(_sentence(rng, 8) + ".", 10), ("", 10)]
    lines.append(("References", 12))
    lines += [
        (f"{k}. Author{k} A, Writer B. {_sentence(rng, 6)}. J Card Fail. 20{k % 20:02d};{k}:1-9.", 9)
        for k in range(1, main_refs + 1)
    ]
    lines += [("", 10), ("Supplementary online data", 12)]
    lines += [(_sentence(rng, 12) + ".", 10) for _ in range(5)]
    lines.append(("References", 12))
    lines += [(f"S{k}. Suppl{k} C. {_sentence(rng, 5)}. Heart. 2019;{k}:2-3.", 9) for k in range(1, supp_refs + 1)]
    doc = pymupdf.open()
    page, y = doc.new_page(), 72
    for text, size in lines:
        if y > 760:
            page, y = doc.new_page(), 72
        if text:
            page.insert_text((72, y), text, fontsize=size, fontname="hebo" if size == 12 else "helv")
        y += size * 1.6
    doc.save(path)
    return path


def test_garbage_ocr_layer_is_quarantined_with_its_reason(tmp_path):
    row, bad = extract_pdf(make_garbage_scan(tmp_path / "scan.pdf"))
    assert row is None and bad.reason.startswith("garbage_text:")
    q = text_quality("1 1 / I / 1 I 1 1 " * 30)
    assert q["letter_share"] < 0.5 and q["short_token_share"] > 0.9


def test_deck_mostly_images_is_quarantined_not_failed(tmp_path):
    row, bad = extract_pdf(make_deck(tmp_path / "pictures.pdf", n=10, image_slides=8, bullets=1))
    assert row is None and bad.reason.startswith("too_little_text:") and "8 of 10 pages are images" in bad.reason


def test_deck_running_footer_placeholder_title_and_slide_paragraphs(tmp_path):
    row, bad = extract_pdf(make_deck(tmp_path / "deck.pdf"))
    assert bad is None, bad
    assert FOOTER not in row["body"] and row["removed_header_footer_lines"] >= 12
    assert row["title"] != "PowerPoint Presentation" and row["title"].endswith("in practice")
    slides = row["body"].split("\n\n")
    assert len(slides) == 6  # one paragraph per slide
    first = slides[0].splitlines()
    assert first[0].endswith("in practice") and len(first) == 5 and all(b.startswith("- ") for b in first[1:])
    assert unusable_text(row) is None


@pytest.mark.parametrize(
    "title",
    [
        "PowerPoint Presentation",
        "Slide 1",
        "Presentation1",
        "Untitled",
        "Microsoft Word - Chapter 3 Heart failure",
        "Microsoft PowerPoint - grand rounds",
        "Document1",
        "manuscript_v3.docx",
    ],
)
def test_placeholder_metadata_titles_are_refused(title):
    assert plausible_metadata_title(title) is None


def test_real_metadata_title_is_kept():
    assert plausible_metadata_title("Loop Diuretics in Acute Heart Failure") == "Loop Diuretics in Acute Heart Failure"


def test_references_split_at_the_main_list_not_the_supplement(tmp_path):
    row, bad = extract_pdf(make_article_with_supplement(tmp_path / "article.pdf"))
    assert bad is None, bad
    refs = row["references"]
    assert refs.startswith("References") and "52. Author52" in refs and "1. Author1" in refs
    assert "S1. Suppl1" not in refs
    assert "Supplementary online data" in row["body"] and "S4. Suppl4" in row["body"]  # the supplement stays
    assert "Author17 A" not in row["body"]


def test_batch_with_unusable_documents_passes_the_blocking_check(tmp_path, repo_root):
    from citrus_assets.common.stages import load_stage
    from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents

    checks = load_stage("citrus_assets.cpt_corpus").checks
    from resources.inbox import InboxResource
    from resources.lake import Lake

    batch = tmp_path / "pdfs" / "batch_b"
    batch.mkdir(parents=True)
    shutil.copy(repo_root / "sample" / "pdfs" / "batch_001" / "hypertension_primer.pdf", batch / "primer.pdf")
    make_garbage_scan(batch / "scan.pdf")
    make_deck(batch / "pictures.pdf", n=10, image_slides=8, bullets=1)
    make_deck(batch / "deck.pdf")
    rows, quarantine, stats = extract_batch(sorted(batch.iterdir()))
    assert stats["quarantined_by_reason"] == {"garbage_text": 1, "too_little_text": 1} and len(rows) == 2
    root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(pdf_batches.name, ["batch_b"])
    result = dg.materialize(
        [pdf_documents, *checks],
        partition_key="batch_b",
        instance=instance,
        resources=make_resources(root, inbox=InboxResource(pdfs_dir=str(tmp_path / "pdfs"))),
    )
    assert result.success
    evals = result.get_asset_check_evaluations()
    assert evals and all(e.passed for e in evals)
    reasons = {
        q["source_uri"].rsplit("/", 1)[-1]: q["reason"].split(":")[0]
        for q in Lake(root).read_quarantine("pdf_documents", "batch_b").to_pylist()
    }
    assert reasons == {"scan.pdf": "garbage_text", "pictures.pdf": "too_little_text"}


def test_check_rule_still_fails_a_garbage_row_that_slipped_through():
    import pandas as pd

    from citrus_assets.cpt_corpus.pdf.checks import not_garbage

    junk = "1 1 / I / 1 I 1 1 | l " * 200
    df = pd.DataFrame([{"body": junk, "n_chars": len(junk), "pages": 1, "flagged_pages": [], "page_offsets": [0]}])
    assert list(not_garbage.derive(df)) == [False]
