import pytest

from resources.lineage.ids import ID_RE, canonical_json, is_record_id, record_id, source_id


def test_record_id_stable_and_content_derived():
    a = record_id("qseed", "src-x", {"b": 1, "a": [1, 2]})
    assert a == record_id("qseed", "src-x", {"a": [1, 2], "b": 1})  # key order does not matter
    assert a == record_id("qseed", "src-x", {"b": 1, "a": [1, 2]})
    # pinned value: changing the scheme re-keys every lake, so it must be deliberate
    assert record_id("ans", "q", 0) == "ans-" + __import__("hashlib").blake2b(
        canonical_json(["q", 0]).encode(), digest_size=10
    ).hexdigest()
    assert ID_RE.match(a) and is_record_id(a)
    assert a.startswith("qseed-") and len(a.split("-", 1)[1]) == 20
    assert record_id("qseed", "src-x", {"a": [2, 1], "b": 1}) != a  # different content, different id
    assert record_id("qseed", "src-y", {"a": [1, 2], "b": 1}) != a
    assert record_id("qseed", "a", "b") != record_id("qseed", "ab")  # parts are not concatenated


@pytest.mark.parametrize("kind", ["", "Ans", "1ans", "ans-x", "a" * 25, "ans x", "ąns"])
def test_record_id_kind_validation(kind):
    with pytest.raises(ValueError):
        record_id(kind, "x")


def test_record_id_needs_parts():
    with pytest.raises(ValueError):
        record_id("ans")


def test_source_id_position_independent():
    raw = '{"q": "fever?"}'
    a = source_id("s3://bucket/medqa/train.jsonl", raw)
    # same file name and content: same id wherever the file lives and whatever line it is on
    assert a == source_id("/local/copy/train.jsonl", raw)
    assert a == source_id("C:\\data\\train.jsonl", raw.encode("utf-8"))
    assert a == source_id("s3://bucket/medqa/train.jsonl/", raw)
    assert a.startswith("src-") and is_record_id(a)
    assert source_id("s3://bucket/medqa/dev.jsonl", raw) != a  # other file
    assert source_id("s3://bucket/medqa/train.jsonl", raw + " ") != a  # other content


def test_is_record_id():
    assert not is_record_id("nope")
    assert not is_record_id("ans-" + "0" * 19)
