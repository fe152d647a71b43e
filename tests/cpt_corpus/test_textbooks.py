"""Textbook reading, chunking, quarantine, and the Evol-Instruct parser/filters (no Dagster, no model)."""

import pymupdf
import pytest

from citrus_assets.cpt_corpus.textbooks.chunking import ChunkSpec, chunk_batch, chunk_doc, n_words
from citrus_assets.cpt_corpus.textbooks.evol import TopicFilter, judge, parse_qa
from citrus_assets.cpt_corpus.textbooks.sources import plain_heading_level, read_textbook

MD = """# Cardiology

Short intro to the heart and its disease.

## Hypertension

### Treatment

Thiazide diuretics and ACE inhibitors lower blood pressure in most patients with hypertension.
Potassium and creatinine are checked after starting an ACE inhibitor.

```
# not a heading inside a fence
```

## References

1. Some book. 2020.
"""


def _para(topic: str, k: int, words: int = 30) -> str:
    return " ".join(f"{topic}{k}w{i}" for i in range(words - 1)) + " end."


def test_markdown_heading_paths_locators_and_references(tmp_path):
    f = tmp_path / "cardio.md"
    f.write_text(MD)
    doc, bad = read_textbook(f)
    assert bad is None and doc.references_dropped == 1
    rows = chunk_doc(doc, ChunkSpec(max_words=200, overlap_words=20, min_words=5))
    paths = [r["heading_path"] for r in rows]
    assert "Cardiology > Hypertension > Treatment" in paths
    treat = rows[paths.index("Cardiology > Hypertension > Treatment")]
    assert treat["source_locator"] == "lines 9-14" and "not a heading inside a fence" in treat["text"]
    assert all("Some book" not in r["text"] for r in rows)
    assert rows == chunk_doc(read_textbook(f)[0], ChunkSpec(max_words=200, overlap_words=20, min_words=5))  # stable


def test_plain_text_headings():
    assert plain_heading_level("2.1 Recognition") == 3 and plain_heading_level("2 Recognition") == 2
    assert plain_heading_level("Chapter 3: The Kidney") == 1
    assert plain_heading_level("HEART FAILURE") == 1
    assert plain_heading_level("1. Take one tablet daily.") == 0
    assert plain_heading_level("Table 2. Doses") == 0
    assert plain_heading_level("Methods") == 0 and plain_heading_level("Methods", loose=True) == 1


def test_plain_text_chunks_and_tiny_sections_merge(tmp_path):
    f = tmp_path / "renal.txt"
    f.write_text(
        "KIDNEY DISEASE\n\n1 Causes\n\n" + _para("c", 0) + "\n\n1.1 Diabetes\nShort note on diabetes.\n\n"
        "2 Treatment\n\n" + _para("t", 0) + "\n"
    )
    doc, _ = read_textbook(f)
    rows = chunk_doc(doc, ChunkSpec(max_words=100, overlap_words=10, min_words=10))
    assert [r["heading_path"] for r in rows] == ["KIDNEY DISEASE > 1 Causes", "KIDNEY DISEASE > 2 Treatment"]
    assert "1.1 Diabetes\n\nShort note on diabetes." in rows[0]["text"]  # the tiny section merged, heading kept
    assert rows[0]["headings"] == ["KIDNEY DISEASE > 1 Causes", "KIDNEY DISEASE > 1 Causes > 1.1 Diabetes"]
    assert rows[0]["source_locator"] == "lines 5-8" and rows[1]["source_locator"] == "lines 12-12"


@pytest.mark.parametrize("max_words,overlap", [(60, 30), (100, 25), (45, 0)])
def test_long_section_split_with_bounded_overlap(tmp_path, max_words, overlap):
    f = tmp_path / "long.md"
    f.write_text("# Long\n\n" + "\n\n".join(_para("p", k, 12 + 7 * (k % 3)) for k in range(15)) + "\n")
    rows = chunk_doc(read_textbook(f)[0], ChunkSpec(max_words=max_words, overlap_words=overlap, min_words=5))
    assert len(rows) > 2
    assert all(r["n_words"] <= max_words and r["overlap_words"] <= overlap for r in rows)
    assert all(r["overlap_words"] <= r["n_words"] // 2 for r in rows)
    assert rows[0]["overlap_words"] == 0 and (overlap == 0) == all(r["overlap_words"] == 0 for r in rows)
    for prev, cur in zip(rows, rows[1:]):  # the overlap is the previous chunk's tail, verbatim
        tail = cur["text"].split()[: cur["overlap_words"]]
        assert prev["text"].split()[len(prev["text"].split()) - len(tail) :] == tail
    words = [w for r in rows for w in r["text"].split()[r["overlap_words"] :]]
    assert words == f.read_text().split()[2:]  # nothing lost, nothing repeated beyond the overlap


def test_overlap_bound_is_validated():
    with pytest.raises(ValueError):
        ChunkSpec(max_words=100, overlap_words=51)


def test_one_huge_paragraph_is_split_at_sentences(tmp_path):
    f = tmp_path / "huge.txt"
    f.write_text(" ".join(f"Sentence {i} is about the liver and its enzymes." for i in range(60)))
    rows = chunk_doc(read_textbook(f)[0], ChunkSpec(max_words=80, overlap_words=0, min_words=5))
    assert len(rows) >= 6 and all(r["n_words"] <= 80 for r in rows)
    assert all(r["text"].endswith("enzymes.") for r in rows)


def _pdf(path, pages):
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page()
        y = 72
        for text, size in lines:
            page.insert_text((72, y), text, fontsize=size)
            y += size * 2.2
    doc.save(str(path))
    return path


def test_pdf_chunks_with_headings_and_pages(tmp_path):
    body = [f"Sodium restriction lowers blood pressure in patients number {i} with hypertension." for i in range(8)]
    pages = [
        [("Renal Medicine Notes", 16), ("", 10), ("Introduction", 12), *[(b, 10) for b in body[:4]]],
        [
            ("Treatment Options", 12),
            *[(b, 10) for b in body[4:]],
            ("", 10),
            ("References", 12),
            ("1. A. Author. A paper. J Med. 2020;1:1-2.", 10),
        ],
    ]
    path = _pdf(tmp_path / "notes.pdf", pages)
    doc, bad = read_textbook(path)
    assert bad is None and doc.fmt == "pdf"
    rows = chunk_doc(doc, ChunkSpec(max_words=200, overlap_words=20, min_words=5))
    by_path = {r["heading_path"]: r for r in rows}
    assert set(by_path) == {"Renal Medicine Notes > Introduction", "Renal Medicine Notes > Treatment Options"}
    assert by_path["Renal Medicine Notes > Introduction"]["source_locator"] == "pages 1-1"
    assert by_path["Renal Medicine Notes > Treatment Options"]["source_locator"] == "pages 2-2"
    assert all("A. Author" not in r["text"] for r in rows)  # references left out, as in pdf_documents


def test_bad_files_are_quarantined_and_the_batch_goes_on(tmp_path):
    good = tmp_path / "good.md"
    good.write_text(MD)
    enc = _pdf(tmp_path / "src.pdf", [[("Some text about the heart and lungs.", 11)]])
    locked = tmp_path / "locked.pdf"
    d = pymupdf.open(str(enc))
    d.save(str(locked), encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(enc.read_bytes()[:400])
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "latin1.txt").write_bytes("Fi\xe8vre et toux.\n".encode("latin-1"))
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    files = [good, locked, truncated, tmp_path / "empty.txt", tmp_path / "latin1.txt", tmp_path / "notes.docx"]
    rows, quarantine, stats = chunk_batch(files, ChunkSpec())
    assert rows and all(r["source_uri"] == str(good) for r in rows)
    reasons = {q.source_uri.rsplit("/", 1)[-1]: q.reason.split(":")[0] for q in quarantine}
    assert reasons == {
        "locked.pdf": "encrypted",
        "truncated.pdf": "truncated",
        "empty.txt": "empty_file",
        "latin1.txt": "not_utf8",
        "notes.docx": "unknown_type",
    }
    assert stats["quarantined"] == 5 and stats["files_ok"] == 1


def test_duplicate_files_give_one_chunk_with_both_sources(tmp_path):
    (tmp_path / "a.md").write_text(MD)
    (tmp_path / "b.md").write_text(MD)
    rows, _, stats = chunk_batch([tmp_path / "a.md", tmp_path / "b.md"], ChunkSpec(min_words=0))
    assert stats["duplicate_chunks"] == len(rows) and all(len(r["parent_ids"]) == 2 for r in rows)


def test_real_pdf_chunks(shared_data):
    pdf = sorted((shared_data / "pdfs").glob("*.pdf"))[0]
    rows, quarantine, stats = chunk_batch([pdf], ChunkSpec(max_words=220, overlap_words=40, min_words=40))
    assert not quarantine and len(rows) >= 5
    assert all(0 < r["n_words"] <= 220 and r["overlap_words"] <= 40 for r in rows)
    assert len({r["record_id"] for r in rows}) == len(rows)
    assert all(r["source_locator"].startswith("pages ") and r["heading_path"] for r in rows)
    assert len({r["heading_path"] for r in rows}) >= 3  # headings were found, not one flat section
    assert sum(n_words(r["text"]) - r["overlap_words"] for r in rows) > 1000


CHUNK = (
    "First-line drugs for hypertension are a thiazide-like diuretic, an ACE inhibitor and a calcium channel "
    "blocker. Check potassium and creatinine after starting an ACE inhibitor."
)


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I'm sorry, but I cannot help with medical questions.", "refusal"),
        ("As an AI language model, I cannot give medical advice.\nQuestion: x?\nAnswer: y", "refusal"),
        ("Hypertension is a common disease of the arteries.", "unparseable"),
        ("Question: Which drug lowers blood pressure?", "unparseable"),
        ("Question: What is the capital of France?\nAnswer: Paris is the capital city.", "off_topic"),
        (
            "Question: Which blood test is checked after starting an ACE inhibitor?\nAnswer: Potassium and creatinine.",
            None,
        ),
        ("**Question:** Why check potassium?\n**Answer:** ACE inhibitors can raise potassium.", None),
        ("Which drugs are first-line for hypertension?\nAnswer: A thiazide-like diuretic or an ACE inhibitor.", None),
    ],
)
def test_parser_and_filters(text, reason):
    got, detail, qa, _, _ = judge(text, CHUNK, TopicFilter())
    assert got == reason, detail
    if reason is None:
        assert qa[0] and qa[1] and "Answer" not in qa[0] and "*" not in qa[1]


def test_parse_keeps_the_first_pair_only():
    q, a = parse_qa("Question: Why?\nAnswer: Because.\nQuestion: Another?\nAnswer: No.")
    assert (q, a) == ("Why?", "Because.")
