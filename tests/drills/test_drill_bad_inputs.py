"""Drill 4: bad inputs through the real source assets, summed up in ONE table.

Each input family gets a batch mixing good units with broken ones: malformed JSONL, non-UTF-8 lines and
files, questions whose options have no answer or whose answer letter is not an option, a truncated WARC.gz,
empty / truncated / corrupt / encrypted / not-a-PDF files, an empty text file. question_seeds,
web_documents, pdf_documents and textbook_chunks are materialized through Dagster with the lake IO manager;
every run must succeed, keep its good units, and put every bad unit in the asset's quarantine file with a
reason, the count matching the materialization metadata. The test prints
``input kind -> asset -> quarantined -> reason``.
"""

import json
import random
import shutil

import dagster as dg
import pymupdf

from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks
from citrus_assets.cpt_corpus.web.assets import web_documents, web_shards
from citrus_assets.reasoning_data.seeds.assets import question_seeds, seed_sets
from resources.inbox import InboxResource
from resources.lake import Lake
from tests.drills import drill_support as S
from tests.support.resources import make_resources
from tests.support.web_synth import SynthDoc, make_document, write_jsonl, write_warc

SAMPLE_PDF = S.REPO / "sample" / "pdfs" / "batch_001" / "hypertension_primer.pdf"
SAMPLE_BOOK = S.REPO / "sample" / "textbooks" / "cardiology" / "hypertension.md"

# (asset, partition, file name or None, locator or None) -> (input kind, expected reason prefix)
EXPECTED = {
    ("question_seeds", "bad_seeds", "line 3"): ("malformed JSONL line", "malformed JSON"),
    ("question_seeds", "bad_seeds", "line 4"): ("non-UTF-8 JSONL line", "not UTF-8"),
    ("question_seeds", "bad_seeds", "line 5"): ("options without an answer", "no answer given"),
    ("question_seeds", "bad_seeds", "line 6"): (
        "answer letter outside the options",
        "answer letter(s) ['F'] not among",
    ),
    ("web_documents", "cut", None): ("truncated WARC.gz", "truncated WARC record"),
    ("web_documents", "broken", "line 3"): ("malformed JSONL line", "malformed JSON"),
    ("web_documents", "broken", "line 4"): ("non-UTF-8 JSONL line", "not UTF-8"),
    ("pdf_documents", "bad_pdfs", "empty.pdf"): ("empty PDF", "empty_file"),
    ("pdf_documents", "bad_pdfs", "truncated.pdf"): ("truncated PDF", "truncated"),
    ("pdf_documents", "bad_pdfs", "corrupt.pdf"): ("corrupt PDF", "corrupt"),
    ("pdf_documents", "bad_pdfs", "locked.pdf"): ("encrypted PDF", "encrypted"),
    ("pdf_documents", "bad_pdfs", "notes.pdf"): ("not a PDF", "not_pdf"),
    ("textbook_chunks", "bad_books", "latin1.txt"): ("non-UTF-8 text file", "not_utf8"),
    ("textbook_chunks", "bad_books", "empty.txt"): ("empty text file", "empty_file"),
    ("textbook_chunks", "bad_books", "locked.pdf"): ("encrypted PDF", "encrypted"),
    ("textbook_chunks", "bad_books", "truncated.pdf"): ("truncated PDF", "truncated"),
}


def locked_pdf(path) -> None:
    doc = pymupdf.open(SAMPLE_PDF)
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")


def make_inbox(root) -> InboxResource:
    seeds, web, pdfs, books = root / "seeds", root / "web", root / "pdfs" / "bad_pdfs", root / "books" / "bad_books"
    for d in (seeds, web, pdfs, books):
        d.mkdir(parents=True)
    good = S.SEEDS.read_bytes().splitlines()[:2]
    q = json.loads(good[0])
    no_answer = {k: v for k, v in q.items() if k not in ("answer", "answer_idx")}
    outside = dict(q, answer_idx="F", answer="")
    latin1 = json.dumps(dict(q, question="Fi\u00e8vre et toux depuis trois jours."), ensure_ascii=False).encode(
        "latin-1"
    )
    (seeds / "bad_seeds.jsonl").write_bytes(
        b"\n".join(
            [
                *good,
                b'{"question": "cut off in the mid',
                latin1,
                json.dumps(no_answer).encode(),
                json.dumps(outside).encode(),
            ]
        )
        + b"\n"
    )

    rng = random.Random(4)
    docs = [SynthDoc(f"d{i}", make_document(rng), f"https://drill.example/{i}", "original") for i in range(6)]
    warc = write_warc(web / "cut.warc.gz", docs)
    warc.write_bytes(warc.read_bytes()[: int(warc.stat().st_size * 0.6)])
    write_jsonl(
        web / "broken.jsonl",
        docs[:2],
        extra_lines=[b'{"id": "x", "text": "unterminated', "caf\xe9 au lait".encode("latin-1")],
    )

    shutil.copy(SAMPLE_PDF, pdfs / "primer.pdf")
    (pdfs / "empty.pdf").write_bytes(b"")
    (pdfs / "truncated.pdf").write_bytes(SAMPLE_PDF.read_bytes()[:3000])
    (pdfs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + random.Random(5).randbytes(4000) + b"\n%%EOF\n")
    locked_pdf(pdfs / "locked.pdf")
    (pdfs / "notes.pdf").write_text("this is not a pdf")

    shutil.copy(SAMPLE_BOOK, books / "hypertension.md")
    (books / "latin1.txt").write_bytes("Fi\xe8vre et toux.\n".encode("latin-1"))
    (books / "empty.txt").write_text("  \n")
    locked_pdf(books / "locked.pdf")
    (books / "truncated.pdf").write_bytes(SAMPLE_PDF.read_bytes()[:3000])
    return InboxResource(
        seeds_dir=str(seeds), web_dir=str(web), pdfs_dir=str(root / "pdfs"), textbooks_dir=str(root / "books")
    )


def test_bad_inputs_are_quarantined_with_reasons_and_counts(tmp_path):
    inbox = make_inbox(tmp_path / "inbox")
    lake_root = str(tmp_path / "lake")
    resources = make_resources(lake_root, inbox=inbox)
    instance = dg.DagsterInstance.ephemeral()
    runs = [
        (question_seeds, seed_sets, "bad_seeds"),
        (web_documents, web_shards, "cut"),
        (web_documents, web_shards, "broken"),
        (pdf_documents, pdf_batches, "bad_pdfs"),
        (textbook_chunks, textbook_batches, "bad_books"),
    ]
    lake = Lake(lake_root)
    found, rows = {}, []
    for asset, parts, key in runs:
        instance.add_dynamic_partitions(parts.name, [key])
        result = dg.materialize([asset], partition_key=key, resources=resources, instance=instance)
        assert result.success
        md = S.metadata(result, asset.key.to_user_string())
        name = asset.key.to_user_string()
        q = lake.read_quarantine(name, key).to_pylist()
        assert md["quarantined"] == len(q) > 0
        assert lake.read_table(name, key).num_rows > 0  # the good units of the batch are kept
        assert all(r["reason"] and r["source_uri"] and r["asset"] == name and r["partition"] == key for r in q)
        for r in q:
            fname = r["source_uri"].rsplit("/", 1)[-1]
            exp_key = next(
                (k for k in EXPECTED if k[:2] == (name, key) and k[2] in (r["source_locator"], fname)),
                (name, key, None) if (name, key, None) in EXPECTED else None,
            )
            assert exp_key is not None, f"unexpected quarantine row {r}"
            found.setdefault(exp_key, []).append(r["reason"])
        rows.append((name, key, md["dagster/row_count"], len(q)))
    assert set(found) == set(EXPECTED), set(EXPECTED) ^ set(found)
    by_kind: dict[tuple, list] = {}
    for k, reasons in found.items():
        kind, prefix = EXPECTED[k]
        assert len(reasons) == 1 and reasons[0].startswith(prefix), (k, reasons)
        by_kind.setdefault((kind, k[0]), []).append(reasons[0])

    print("\nDRILL bad-inputs: input kind -> asset -> quarantined -> reason")
    for (kind, asset), reasons in by_kind.items():
        print(f"  {kind:<34} {asset:<16} {len(reasons):>2}  {reasons[0][:90]}")
    print("  per run (asset, partition, rows kept, quarantined):", rows)
    print(f"  total quarantined: {sum(r[3] for r in rows)} in {len(rows)} runs, every run succeeded")
