import pytest

from resources.lineage.ids import ID_RE, canonical_json, is_record_id, record_id, source_id


def test_record_id_stable_and_content_derived():
    a = record_id("qseed", "src-x", {"b": 1, "a": [1, 2]})
    assert a == record_id("qseed", "src-x", {"a": [1, 2], "b": 1})  # key order does not matter
    assert a == record_id("qseed", "src-x", {"b": 1, "a": [1, 2]})
    # pinned value: changing the scheme re-keys every lake, so it must be deliberate
    assert (
        record_id("ans", "q", 0)
        == "ans-" + __import__("hashlib").blake2b(canonical_json(["q", 0]).encode(), digest_size=10).hexdigest()
    )
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


def test_record_id_refuses_an_unregistered_kind():
    """Every prefix is registered with its meaning (resources.lineage.ids.KINDS); a new one is added there first."""
    from resources.lineage.ids import KINDS

    assert {"src", "qseed", "ans", "trace", "sft", "ckpt", "s1mix", "s2mix", "s3mix"} <= KINDS.keys()
    assert all(_well_formed(k) and meaning.strip() for k, meaning in KINDS.items())
    with pytest.raises(ValueError, match="unknown record kind 'sftmix'"):
        record_id("sftmix", "x")
    assert record_id("s2mix", "x").startswith("s2mix-")


def _well_formed(kind: str) -> bool:
    return is_record_id(f"{kind}-{'0' * 20}")


def test_every_literal_kind_in_the_code_is_registered():
    import ast
    from pathlib import Path

    from resources.lineage.ids import KINDS

    root = Path(__file__).resolve().parents[2]
    used = set()
    for pkg in ("citrus_assets", "resources", "training", "quality"):
        for path in (root / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) == "record_id"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    used.add(node.args[0].value)
    assert len(used) > 20 and used <= KINDS.keys(), sorted(used - KINDS.keys())
