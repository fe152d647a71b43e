"""The LLM cost guard, the stale-pairs rule and the EMPTY lines of the main job's summary (no model)."""

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.demo import MainJobResult, MaterializedOutput, format_summary
from citrus_assets.training.sampler import sampler_report, with_sampler
from quality.checks import empty_check_result
from resources.llm import LLMClient, LLMResource
from resources.llm.cost_guard import LLMBudgetExceeded, LLMCostGuard, automatic_origin, run_budget
from resources.llm.types import Generation

AUTO = {"dagster/from_automation_condition": "true"}


class CountingBackend:
    model_id, revision, streams_results = "fake", "", False

    def __init__(self):
        self.sent = 0

    def render(self, messages):
        return str(messages)

    def generate(self, requests, params, **kw):
        self.sent += sum(len(r.sample_indices) for r in requests)
        return [[Generation(f"a{i}", 1, 1, "stop", False, s) for s in r.sample_indices] for i, r in enumerate(requests)]


def test_origin_of_a_run():
    assert automatic_origin(AUTO) == "automation"
    assert automatic_origin({"dagster/sensor_name": "seed_inbox_sensor"}) == "sensor seed_inbox_sensor"
    assert automatic_origin({"dagster/backfill": "x"}) == ""  # launched by a person


def test_budget_stops_before_the_batch_that_crosses_it():
    backend = CountingBackend()
    client = LLMClient(backend)
    client.budget = run_budget(LLMCostGuard(max_requests_per_auto_run=3), AUTO)
    client.generate(["q1", "q2"])
    with pytest.raises(LLMBudgetExceeded) as exc:
        client.generate(["q3", "q4"])
    assert backend.sent == 2 and client.budget.used == 2  # the crossing batch was never sent
    assert isinstance(exc.value, dg.Failure) and exc.value.metadata["llm_cost_guard"].value["asked"] == 2
    assert run_budget(LLMCostGuard(max_requests_per_auto_run=3), {}).limit is None  # manual: counted only


def test_switched_off_means_no_new_request_but_cached_answers_are_free():
    off = run_budget(LLMCostGuard(auto_runs_enabled=False), {"dagster/sensor_name": "s"})
    assert off.limit == 0 and off.disabled
    off.charge(0)
    with pytest.raises(LLMBudgetExceeded, match="switched off"):
        off.charge(1)


def test_llm_resource_takes_the_run_budget_from_its_tags():
    res = LLMResource(max_requests_per_auto_run=5)
    run = dg.DagsterRun(job_name="j", tags=AUTO)
    res.setup_for_execution(type("InitContext", (), {"dagster_run": run})())  # what Dagster passes: the run
    assert res.budget.limit == 5 and res.budget.origin == "automation"


def test_pairs_from_a_previous_stage3_model_are_stale():
    ckpt = pa.table({"record_id": ["ckpt-new"]})
    pairs = with_sampler(pa.table({"record_id": ["p1", "p2"]}), "ckpt-old")
    report = sampler_report(pairs, ckpt)
    assert not report.ok and report.stale_rows == 2 and "ckpt-old" in report.reason()
    assert sampler_report(with_sampler(pairs, "ckpt-new"), ckpt).ok
    assert sampler_report(with_sampler(pairs, "resource:served"), ckpt).ok  # a model configured on purpose
    assert not sampler_report(pa.table({"record_id": ["p1"]}), ckpt).ok  # no sampler recorded: unknown = stale
    assert not sampler_report(with_sampler(pairs, "ckpt-new"), None).ok  # no stage-3 checkpoint


def test_empty_input_fails_per_asset_policy():
    empty = pa.table({"record_id": pa.array([], pa.string())})
    warn = empty_check_result("reasoning_traces", empty, reason="0 of 8 verified")
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN and "0 of 8 verified" in warn.description
    assert empty_check_result("sft_stage3_mix", empty).severity == dg.AssetCheckSeverity.ERROR
    assert empty_check_result("sft_stage3_mix", pa.table({"record_id": ["x"]})) is None


def test_summary_shows_empty_stages_with_their_reason():
    res = MainJobResult(outputs=[
        MaterializedOutput("reasoning_traces", "medqa_demo", 0, "/lake/x", "r", 8,
                           "0 of 8 verified; the built-in 135M model cannot solve them; quarantine at /q"),
        MaterializedOutput("sft_examples", "medqa_demo", 0, "/lake/y", "r"),
        MaterializedOutput("question_seeds", "medqa_demo", 8, "/lake/z", "r")])
    text = format_summary(res, "/lake", "/db")
    assert "EMPTY stages: 2" in text
    assert "EMPTY reasoning_traces [medqa_demo]: 0 of 8 verified; the built-in 135M model cannot solve them" in text
    assert "EMPTY sft_examples [medqa_demo]: no reason recorded" in text and "EMPTY question_seeds" not in text
