"""Security: an API key given through its environment variable reaches the server and nothing else.

The seed slice (question_seeds -> judge_answers -> open_questions) runs with the ``openai`` backend
against a fake OpenAI-compatible server on 127.0.0.1, once succeeding and once failing after its
retries (error messages are where keys usually leak). Then every byte Dagster and the lake wrote is
scanned: the run storage, event log and schedule storage of the instance (all SQLite files under its
home), every event's serialized form, every file in the lake (data, lineage, quarantine) and the LLM
request cache. The key must appear in none of them, and must have been sent as the bearer token.
"""

import shutil
from pathlib import Path

import dagster as dg

from citrus_assets.reasoning_data.questions.assets import open_questions
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.seeds.judges import JudgePanelResource
from resources.inbox import InboxResource
from resources.llm import LLMResource
from tests.support.resources import make_resources

SECRET = "sk-citrus-SECRET-7f3a9c21e4b6"
KEY_ENV = "CITRUS_TEST_OPENAI_KEY"
PARTITION = "medqa_demo"


def _files_with(secret: bytes, *roots: Path) -> list[str]:
    hits = []
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and secret in p.read_bytes():
                hits.append(str(p.relative_to(root.parent)))
    return hits


def test_api_key_never_stored(tmp_path, repo_root, fake_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(repo_root / "sample" / "seeds" / "medqa_demo.jsonl", inbox / "medqa_demo.jsonl")
    lake_root, cache, home = tmp_path / "lake", tmp_path / "cache", tmp_path / "dagster_home"
    home.mkdir()
    llm = LLMResource(
        backend="openai",
        model="served-model",
        base_url=fake_server.base_url,
        api_key_env=KEY_ENV,
        cache_dir=str(cache),
        max_retries=1,
        timeout_s=5,
    )
    resources = make_resources(
        str(lake_root), inbox=InboxResource(seeds_dir=str(inbox)), llm=llm, judges=JudgePanelResource()
    )
    ops = {"judge_answers": {"config": {"max_tokens": 12}}, "open_questions": {"config": {"max_tokens": 24}}}
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions(seed_sets.name, [PARTITION])
        ok = dg.materialize(
            [question_seeds, judge_answers, open_questions],
            partition_key=PARTITION,
            resources=resources,
            instance=instance,
            run_config={"ops": ops},
        )
        assert ok.success
        fake_server.default = "500"  # a failing run: its errors name the endpoint, never the key
        failed = dg.materialize(
            [question_seeds, judge_answers, open_questions],
            partition_key=PARTITION,
            resources={**resources, "llm": LLMResource(**{**llm.llm_settings(), "cache_dir": str(tmp_path / "c2")})},
            instance=instance,
            run_config={"ops": ops},
            raise_on_error=False,
        )
        assert not failed.success
        errors = [e for e in failed.all_events if e.is_failure]
        assert errors and any(fake_server.base_url in str(e.event_specific_data) for e in errors)
        logs = [dg.serialize_value(e) for run in (ok, failed) for e in instance.all_logs(run.run_id)]
        assert len(logs) > 20 and any("judge_answers" in s for s in logs)
        assert not any(SECRET in s for s in logs)
    assert fake_server.auth_headers and set(fake_server.auth_headers) == {f"Bearer {SECRET}"}
    hits = _files_with(SECRET.encode(), home, lake_root, cache, tmp_path / "c2")
    assert hits == [], f"the API key was written to {hits}"
    # and the scan does find a secret that IS written (the scanner itself works)
    (lake_root / "probe.txt").write_text(f"x{SECRET}x")
    assert _files_with(SECRET.encode(), lake_root) == ["lake/probe.txt"]
