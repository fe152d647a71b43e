"""Instruction data: chat normalization of both input formats, quarantine reasons, dedup, the inbox lister."""

import json

import pytest

from citrus_assets.reasoning_data.chat import (
    BadChat,
    chat_from_record,
    conversation_key,
    is_well_formed,
    prompt_key,
)
from citrus_assets.reasoning_data.instructions.instruction_files import INSTRUCTION_SCHEMA, load_instruction_file
from citrus_assets.reasoning_data.instructions.sensors import instruction_set_keys
from resources.inbox import InboxResource

SHAREGPT = {
    "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": " Hi there "},
        {"from": "gpt", "value": "Hello!"},
        {"from": "human", "value": "Bye"},
        {"from": "gpt", "value": "Goodbye."},
    ]
}
OPENAI = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Goodbye."},
    ]
}


def test_sharegpt_and_openai_formats_normalize_to_the_same_chat():
    a, fmt_a = chat_from_record(SHAREGPT)
    b, fmt_b = chat_from_record(OPENAI)
    assert (fmt_a, fmt_b) == ("conversations", "messages")
    assert a == b
    assert [m["role"] for m in a] == ["system", "user", "assistant", "user", "assistant"]
    assert a[1]["content"] == "Hi there"  # surrounding whitespace stripped
    # user/assistant spelled in a conversations record, and role/content keys inside "conversations"
    c, _ = chat_from_record(
        {"conversations": [{"from": "user", "value": "Hi there"}, {"from": "assistant", "value": "Hello!"}]}
    )
    d, _ = chat_from_record(
        {"conversations": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]}
    )
    assert c == d == [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]
    assert is_well_formed(a)


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"messages": [{"role": "user", "content": "Hi"}]}, "no assistant turn at the end"),
        ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]}, "is empty"),
        ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot3", "value": "x"}]}, "unknown role 'bot3'"),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "system", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ]
            },
            "system turn not first",
        ),
        ({"messages": [{"role": "assistant", "content": "y"}]}, "no user turn"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": "b"},
                    {"role": "assistant", "content": "y"},
                ]
            },
            "two user turns in a row",
        ),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}, "no text content"),
        ({"messages": []}, "no turns"),
        ({"text": "hello"}, "neither"),
    ],
)
def test_malformed_conversations_are_rejected_with_a_reason(record, reason):
    with pytest.raises(BadChat, match=reason):
        chat_from_record(record)


def test_file_quarantines_bad_lines_and_skips_exact_duplicates(tmp_path):
    good = json.dumps(OPENAI)
    same_but_spaced = json.dumps(
        {"messages": [dict(m, content="  " + m["content"].replace(" ", "   ")) for m in OPENAI["messages"]]}
    )
    lines = [
        good.encode(),
        b"{not json",
        same_but_spaced.encode(),
        "caf\xe9".encode("latin-1"),
        b"",
        json.dumps([1, 2]).encode(),
        json.dumps(SHAREGPT).encode(),
        json.dumps({"messages": [{"role": "user", "content": "Only a question"}]}).encode(),
    ]
    path = tmp_path / "chats.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = load_instruction_file(path, "chats")
    table = result.table()
    assert table.schema == INSTRUCTION_SCHEMA
    assert table.num_rows == 1 and result.duplicates == 2  # the whitespace variant and the ShareGPT twin
    reasons = {q.source_locator: q.reason for q in result.quarantine}
    assert set(reasons) == {"line 2", "line 4", "line 6", "line 8"}
    assert reasons["line 2"].startswith("bad JSON")
    assert reasons["line 4"].startswith("not UTF-8")
    assert reasons["line 6"] == "record is not a JSON object"
    assert reasons["line 8"] == "no assistant turn at the end"
    row = table.to_pylist()[0]
    assert row["source_locator"] == "line 1" and row["n_user_turns"] == 2 and row["language"] == "en"
    assert row["conversation_key"] == conversation_key(row["messages"])
    assert row["record_id"].startswith("inst-") and row["parent_ids"][0].startswith("src-")


def test_keys_normalize_case_and_whitespace_but_not_content():
    a = [{"role": "user", "content": "What  is BP?"}, {"role": "assistant", "content": "Blood pressure."}]
    b = [{"role": "user", "content": "what is bp?"}, {"role": "assistant", "content": "blood   pressure."}]
    c = [{"role": "user", "content": "What is BP?"}, {"role": "assistant", "content": "Bipolar disorder."}]
    assert conversation_key(a) == conversation_key(b) != conversation_key(c)
    assert prompt_key(a) == prompt_key(c)


def test_bundled_samples(repo_root):
    folder = repo_root / "sample" / "instructions"
    inbox = InboxResource(instructions_dir=str(folder))
    keys = instruction_set_keys(inbox)
    assert keys == ["general_chat_demo", "sharegpt_demo"]
    chat = load_instruction_file(folder / "general_chat_demo.jsonl", "general_chat_demo")
    assert (len(chat.rows), chat.duplicates, len(chat.quarantine)) == (8, 1, 1)
    assert sorted(r["n_user_turns"] for r in chat.rows)[-2:] == [2, 3]
    share = load_instruction_file(folder / "sharegpt_demo.jsonl", "sharegpt_demo")
    assert (len(share.rows), share.formats) == (4, {"conversations": 4})
    assert [q.reason for q in share.quarantine] == ["turn 1 has unknown role 'narrator'"]


def test_real_chinese_sharegpt_sample(shared_data):
    path = shared_data / "instructions" / "medical_sft_zh.sample.jsonl"
    result = load_instruction_file(path, "medical_sft_zh")
    n_lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert len(result.rows) + result.duplicates + len(result.quarantine) == n_lines
    assert len(result.rows) > 0.9 * n_lines
    table = result.table()
    assert set(table["language"].to_pylist()) == {"zh"}
    assert all(is_well_formed(m) for m in table["messages"].to_pylist())
    assert len(set(table["record_id"].to_pylist())) == table.num_rows


def test_inbox_sensor_registers_new_files_once(tmp_path, repo_root):
    import dagster as dg

    from citrus_assets.reasoning_data.instructions.assets import instruction_sets
    from citrus_assets.reasoning_data.instructions.sensors import instruction_inbox_sensor

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "batch_one.jsonl").write_text(json.dumps(OPENAI) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"inbox": InboxResource(instructions_dir=str(inbox))}
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        result = instruction_inbox_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["batch_one"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["batch_one"]
    instance.add_dynamic_partitions(instruction_sets.name, ["batch_one"])
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        again = instruction_inbox_sensor(ctx)  # a skip (that may carry the sensor's content cursor)
        assert isinstance(again, dg.SkipReason) or (not again.run_requests and again.skip_reason)
