"""Domain/language/token labelling of CPT documents and token-sized sharding with a manifest."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from citrus_assets.cpt_corpus.corpus.labelling import (
    MedicalVocabularyScorer,
    count_tokens,
    domain_stats,
    label_documents,
    language_tag,
)
from citrus_assets.cpt_corpus.corpus.sharding import manifest_table, pack_shards, write_shards
from resources.lake import Lake
from resources.lineage.ids import is_record_id, record_id

CLINICAL_EN = (
    "The patient presented with fever, cough and dyspnea. Chest x-ray showed pneumonia; blood cultures "
    "were drawn and intravenous antibiotics were started. Serum creatinine was elevated and the "
    "physician adjusted the dose of metformin."
)
TRAVEL_EN = (
    "We took the train from Lisbon to Porto and spent three days walking along the river, eating pastries "
    "and visiting old churches. The hotel had a lovely view of the bridge at sunset."
)
CLINICAL_ZH = "患者男性，65岁，因胸痛3小时入院。心电图提示急性心肌梗死，给予阿司匹林口服及静脉注射治疗，血压平稳。"
TRAVEL_ZH = "我们去杭州旅游，在西湖边散步，品尝了当地的美食，还参观了灵隐寺。天气很好，风景非常美丽。"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize(
    "text,expected",
    [(CLINICAL_EN, "medical"), (TRAVEL_EN, "general"), (CLINICAL_ZH, "medical"), (TRAVEL_ZH, "general")],
)
def test_scorer_labels(text, expected):
    label, score = MedicalVocabularyScorer().label(text)
    assert label == expected, (label, score)
    assert score >= 0


def test_scorer_threshold_and_empty():
    assert MedicalVocabularyScorer(threshold=1000.0).label(CLINICAL_EN)[0] == "general"
    assert MedicalVocabularyScorer().label("") == ("general", 0.0)
    # stems match inflections, whole words do not match inside other words
    s = MedicalVocabularyScorer(terms_en=("diagnos*", "liver"), terms_zh=())
    assert s.hits("Diagnosed, diagnosis, liver, livers, delivery") == 4


def test_language_tag_and_count_tokens(tokenizer):
    assert language_tag(CLINICAL_EN) == "en"
    assert language_tag(TRAVEL_ZH) == "zh"
    assert language_tag("  ") == "und"
    counts = count_tokens([CLINICAL_EN, "", TRAVEL_EN], tokenizer, batch_size=2)
    assert counts[0] > 0 and counts[1] == 0 and counts[2] > 0


def _sources():
    pdf = pa.table(
        {
            "record_id": ["pdfdoc-a", "pdfdoc-b"],
            "parent_ids": [["src-1"], ["src-2"]],
            "body": [CLINICAL_EN, TRAVEL_EN + "\n\nSmith J. A paper. 2020."],
            "references": ["", "Smith J. A paper. 2020."],
            "source_uri": ["a.pdf", "b.pdf"],
        }
    )
    web = pa.table(
        {
            "record_id": ["web-1", "web-2", "web-3"],
            "parent_ids": [["s1"], ["s2"], ["s3"]],
            "text": [TRAVEL_EN, CLINICAL_ZH, TRAVEL_ZH],
            "language": ["en", "zh", "zh"],
            "source_uri": ["u1", "u2", "u3"],
        }
    )
    return {"pdf_documents": pdf, "web_corpus": web}


def test_label_documents(tokenizer):
    out = label_documents(_sources(), tokenizer, MedicalVocabularyScorer())
    assert out.num_rows == 5
    rows = out.to_pylist()
    assert [r["source"] for r in rows] == ["pdf", "pdf", "web", "web", "web"]
    assert rows[0]["record_id"] == record_id("cptdoc", "pdf", "pdfdoc-a") and is_record_id(rows[0]["record_id"])
    assert rows[0]["parent_ids"] == ["pdfdoc-a"]
    assert "Smith J." not in rows[1]["text"]  # references stripped from the pdf body
    assert [r["domain"] for r in rows] == ["medical", "general", "general", "medical", "general"]
    assert [r["language"] for r in rows] == ["en", "en", "en", "zh", "zh"]
    assert all(r["n_tokens"] > 0 and r["n_chars"] == len(r["text"]) for r in rows)
    stats = domain_stats(out)
    assert stats["documents"] == 5 and stats["tokens"] == sum(r["n_tokens"] for r in rows)
    assert stats["by_source"]["pdf"]["medical"]["documents"] == 1
    assert 0 < stats["medical_share"] < 1
    with pytest.raises(ValueError):
        label_documents({"nope": _sources()["web_corpus"]}, tokenizer)


def _docs(tokens):
    return pa.table(
        {
            "record_id": [f"d{i}" for i in range(len(tokens))],
            "n_tokens": tokens,
            "domain": ["medical" if i % 3 == 0 else "general" for i in range(len(tokens))],
            "text": ["x" * n for n in tokens],
        }
    )


def test_pack_shards_respects_target():
    tokens = [30, 40, 20, 150, 10, 60, 45, 5, 99, 1]
    shards = pack_shards(_docs(tokens), 100)
    ids = [i for s in shards for i in s.column("record_id").to_pylist()]
    assert ids == [f"d{i}" for i in range(len(tokens))]  # every document once, in order
    for s in shards:
        total = sum(s.column("n_tokens").to_pylist())
        assert total <= 100 or s.num_rows == 1
    assert any(s.column("record_id").to_pylist() == ["d3"] for s in shards)  # oversized doc alone
    assert pack_shards(_docs([]), 100) == []
    with pytest.raises(ValueError):
        pack_shards(_docs(tokens), 0)


def test_write_shards_and_manifest(tmp_path, tokenizer):
    lake = Lake(str(tmp_path / "lake"))
    labelled = label_documents(_sources(), tokenizer)
    rows = []
    for source in ("pdf", "web"):
        part = labelled.filter(pc.equal(labelled.column("source"), source))
        rows += write_shards(lake, "cpt_shards", "v1", source, pack_shards(part, 40))
    manifest = manifest_table(rows)
    assert manifest.column_names == [
        "source",
        "shard",
        "path",
        "documents",
        "tokens",
        "medical_tokens",
        "medical_share",
    ]
    assert manifest.column("shard").to_pylist()[0] == "shard-pdf-00000.parquet"
    back = [pq.read_table(p) for p in manifest.column("path").to_pylist()]
    assert sum(t.num_rows for t in back) == labelled.num_rows == sum(manifest.column("documents").to_pylist())
    total = sum(labelled.column("n_tokens").to_pylist())
    assert sum(manifest.column("tokens").to_pylist()) == total
    assert sum(manifest.column("medical_tokens").to_pylist()) == domain_stats(labelled)["medical_tokens"]
    for r, t in zip(manifest.to_pylist(), back):
        assert r["tokens"] == sum(t.column("n_tokens").to_pylist())
        assert r["medical_share"] == pytest.approx(r["medical_tokens"] / r["tokens"])
