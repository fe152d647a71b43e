"""End-to-end: one month of the bundled consultations through the whole JMED chain."""

import json
import re

import dagster as dg

from citrus_assets.common.stages import load_stage
from citrus_assets.jmed.assets import dialogue_months
from citrus_assets.reasoning_data.seeds.loaders import load_jmed
from resources.inbox import InboxResource
from resources.lake import Lake
from resources.llm import Generation, LLMResource
from tests.support.resources import make_resources

JMED = load_stage("citrus_assets.jmed")  # the stage's assets and checks, found in its package
assets, checks = JMED.assets, JMED.checks

MONTH = "2026-11"


class FakeClinician:
    """Same surface as LLMResource: valid EMR JSON for the record prompt, a clean stem for the question prompt."""

    model_id, model_revision = "fake-clinician", "r1"

    def __init__(self):
        self.calls = []

    def render(self, messages):
        return messages if isinstance(messages, str) else "\n".join(f"<{m['role']}>{m['content']}" for m in messages)

    def reply(self, prompt: str) -> str:
        if "structured medical record" in prompt:
            zh = re.search(r"[\u4e00-\u9fff]{4}", prompt.split("Consultation:")[-1])
            dx = {
                "rust-coloured": "Lobar pneumonia",
                "TSH": "Hypothyroidism",
                "shrimp": "Urticaria",
                "膀胱": "急性膀胱炎",
                "跖趾": "痛风",
            }
            diagnosis = next((v for k, v in dx.items() if k in prompt), "")
            return (
                "```json\n"
                + json.dumps(
                    {
                        "age": 40,
                        "sex": "female" if "woman" in prompt or "女" in prompt else "male",
                        "department": "呼吸内科" if zh and "咳" in prompt else "",
                        "chief_complaint": "symptoms for days",
                        "present_illness": "see consultation",
                        "history": "",
                        "exam_results": "abnormal tests",
                        "diagnosis": diagnosis,
                    },
                    ensure_ascii=False,
                )
                + "\n```"
            )
        if "最可能的诊断是什么" in prompt:
            return "患者40岁，反复不适数日，体格检查及化验异常，请结合病史分析。最可能的诊断是什么？"
        return "A 40-year-old patient has had symptoms for several days with abnormal tests. What is the most likely diagnosis?"

    def generate(self, prompts, params):
        self.calls.append(len(prompts))
        return [[Generation(self.reply(self.render(p)), 50, 30, "stop", False)] for p in prompts]


def run_month(tmp_path, llm, reviews=None):
    lake_root = str(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dialogue_months.name, [MONTH])
    ops = {"emr_records": {"config": {"max_tokens": 48}}, "jmed_questions": {"config": {"max_tokens": 24}}}
    if reviews is not None:
        ops["jmed_reviews"] = {"config": {"reviews_dir": str(reviews)}}
    result = dg.materialize(
        [*assets, *checks],
        partition_key=MONTH,
        instance=instance,
        run_config={"ops": ops},
        resources=make_resources(lake_root, inbox=InboxResource(), llm=llm),
    )
    return result, Lake(lake_root)


def metadata(result, asset):
    ev = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert len(ev) == 1
    return {k: v.value for k, v in ev[0].materialization.metadata.items()}


def test_tiny_model_extraction_fails_and_is_reported(tmp_path, tiny_model_dir, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    result, lake = run_month(tmp_path, LLMResource(model=tiny_model_dir, cache_dir=str(tmp_path / "cache")))
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    emr = metadata(result, "emr_records")
    assert emr["consultations"] == 5 and emr["llm_json_ok"] == 0 and emr["llm_diagnosis"] == 0
    # the random model writes no JSON: the diagnosis comes from the doctors' explicit phrases only
    assert emr["rule_diagnosis"] == 5 and emr["quarantined"] == 0
    assert emr["field_sources"]["age"] == {"rule": 5} and emr["field_sources"]["diagnosis"] == {"rule": 5}
    q = metadata(result, "jmed_questions")
    assert q["template"] == 5 and q["llm_accepted"] == 0
    assert metadata(result, "dialogues")["quarantined"] == 1  # the consultation without a doctor turn
    bench = lake.read_table("jmed_benchmark", MONTH)
    assert sorted(bench["id"].to_pylist()) == ["nov-001", "nov-002", "nov-003"]  # the sample's 3-tier approvals


def test_good_path_with_scripted_model_and_release_round_trip(tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    llm = FakeClinician()
    result, lake = run_month(tmp_path, llm)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    assert llm.calls == [5, 5]  # one batched call per LLM step
    emr = lake.read_table("emr_records", MONTH).to_pylist()
    assert {r["diagnosis_source"] for r in emr} == {"llm"} and all(r["llm_json_ok"] for r in emr)
    assert all("[NAME]" in r["prompt"] or "[" in r["prompt"] for r in emr)
    assert not any("Daniel" in r["prompt"] or "13912345678" in r["prompt"] for r in emr)
    q = metadata(result, "jmed_questions")
    assert q["llm_accepted"] == 5
    options = lake.read_table("jmed_options", MONTH).to_pylist()
    assert all(
        len(r["options"]) == 21 and r["options"][-1]["text"] in ("None of the above", "以上都不是") for r in options
    )
    reviews = {r["dialogue_id"]: r["status"] for r in lake.read_table("jmed_reviews", MONTH).to_pylist()}
    assert reviews == {
        "nov-001": "approved",
        "nov-002": "approved",
        "nov-003": "approved",
        "nov-004": "pending_chief",
        "nov-005": "rejected_primary",
    }
    # the lake never holds the raw consultation downstream of de-identification (data, quarantine, lineage)
    import pyarrow.parquet as pq

    pii = ["Daniel Brooks", "13912345678", "r.patel@clinic.example.org"]

    def text(p):  # Parquet pages are compressed: scan the decoded values
        return (
            str(pq.read_table(p).to_pylist()) if p.suffix == ".parquet" else p.read_bytes().decode("utf-8", "replace")
        )

    root = tmp_path / "lake"
    raw_kept = [p for p in root.rglob("*") if p.is_file() and any(x in text(p) for x in pii)]
    assert raw_kept and all(p.relative_to(root).parts[-3] == "dialogues" for p in raw_kept), raw_kept
    export = tmp_path / "lake" / "jmed_benchmark" / MONTH / "jmed.jsonl"
    loaded = load_jmed(export, seed_set="jmed_2026_11")
    assert not loaded.quarantine and len(loaded.rows) == 3
    bench = {r["id"]: r for r in lake.read_table("jmed_benchmark", MONTH).to_pylist()}
    for seed in loaded.rows:
        meta = json.loads(seed["meta"])
        item = bench[meta["id"]]
        assert meta["department"] == item["department"] and seed["stem"] == item["question"]
        assert [o["text"] for o in seed["options"]] == [o["text"] for o in item["options"]]
        assert seed["answer_letters"] == item["answer"]


def test_missed_pii_is_quarantined_per_consultation(tmp_path, monkeypatch, repo_root):
    """A scrubber that misses everything: each consultation the residual detector still flags is set aside
    with a reason (no raw text in the quarantine), the partition and its check pass on what is left."""
    from collections import Counter

    from citrus_assets.jmed import steps

    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(steps, "scrub_turns", lambda turns: ([dict(t) for t in turns], Counter()))
    result, lake = run_month(tmp_path, FakeClinician())
    # every consultation of the sample holds PII, so all five are set aside: an empty partition is a
    # warning (quality's empty-table rule), not a failure of the blocking check
    assert result.success
    assert all(e.passed or e.severity == dg.AssetCheckSeverity.WARN for e in result.get_asset_check_evaluations())
    meta = metadata(result, "deidentified_dialogues")
    kept = lake.read_table("deidentified_dialogues", MONTH)
    assert meta["quarantined"] == 5 and kept.num_rows == 0
    bad = lake.read_quarantine("deidentified_dialogues", MONTH).to_pylist()
    assert len(bad) == meta["quarantined"] and all("residual PII" in q["reason"] for q in bad)
    assert not any("Daniel" in str(q) or "13912345678" in str(q) for q in bad)


def test_blocking_pii_check_stops_the_chain(tmp_path, monkeypatch, repo_root):
    """If de-identification misses something AND the quarantine gate is bypassed, the blocking check
    (its own detector) fails and nothing downstream of it is built or stored."""
    from collections import Counter

    from citrus_assets.jmed import steps

    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(steps, "scrub_turns", lambda turns: ([dict(t) for t in turns], Counter()))
    monkeypatch.setattr(steps, "residual_in_turns", lambda turns: [])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dialogue_months.name, [MONTH])
    lake_root = str(tmp_path / "lake")
    llm = FakeClinician()
    result = dg.materialize(
        [*assets, *checks],
        partition_key=MONTH,
        instance=instance,
        raise_on_error=False,
        resources=make_resources(lake_root, inbox=InboxResource(), llm=llm),
    )
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["pii_removed"]
    built = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert built == {"dialogues", "deidentified_dialogues"} and llm.calls == []
    assert not Lake(lake_root).exists("emr_records", MONTH)
