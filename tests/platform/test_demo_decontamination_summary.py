"""The main job's summary says, per training-bound partition, whether decontamination was on and what it removed."""

from citrus_assets.demo import MainJobResult, MaterializedOutput, format_summary


def _out(asset, decont):
    return MaterializedOutput(asset=asset, partition="-", rows=3, path="p", run_id="r", decontamination=decont)


def test_summary_shows_decontamination_status_and_counts():
    on = {
        "status": "on",
        "index_items": 136,
        "benchmarks": ["medqa", "pubmedqa"],
        "removed": 2,
        "removed_per_benchmark": {"medqa": 2},
    }
    off = {"status": "OFF (allow_no_decontamination)", "index_items": 0, "benchmarks": [], "removed": 0}
    res = MainJobResult(outputs=[_out("sft_stage3_mix", on), _out("sft_stage1_mix", off), _out("question_seeds", None)])
    text = format_summary(res, "/lake", "/db")
    assert "sft_stage3_mix [-]: on; 136 items of 2 benchmarks indexed; 2 rows removed (medqa: 2)" in text
    assert "sft_stage1_mix [-]: OFF (allow_no_decontamination); 0 items" in text
    assert "question_seeds [-]:" not in text.split("Decontamination")[1]


def test_summary_has_no_decontamination_block_without_training_bound_assets():
    res = MainJobResult(outputs=[_out("question_seeds", None)])
    assert "Decontamination" not in format_summary(res, "/lake", "/db")


def test_exit_code_zero_only_when_failed_checks_are_warnings_of_printed_empty_stages():
    from citrus_assets.demo import exit_code, failed_checks

    empty = MaterializedOutput(
        asset="reasoning_traces", partition="medqa_demo", rows=0, path="p", run_id="r", empty_reason="0 of 8 verified"
    )
    full = MaterializedOutput(asset="sft_stage3_mix", partition="-", rows=8, path="p", run_id="r")
    res = MainJobResult(
        outputs=[empty, full],
        check_results={
            "reasoning_traces:has_rows[medqa_demo]": False,
            "sft_stage3_mix:sft_stage3_mix_valid[None]": True,
        },
    )
    assert failed_checks(res) == (["reasoning_traces:has_rows[medqa_demo]"], [])
    assert exit_code(res) == 0
    text = format_summary(res, "/lake", "/db")
    assert "FAILED (WARN, stage EMPTY above) reasoning_traces:has_rows[medqa_demo]" in text and "exit code 0" in text
    # any other failed check is a fault: exit 1, listed plainly
    res.check_results["sft_stage3_mix:sft_stage3_mix_valid[None]"] = False
    assert exit_code(res) == 1
    assert "  FAILED sft_stage3_mix:sft_stage3_mix_valid[None]" in format_summary(res, "/lake", "/db")
    # has_rows of a stage that is NOT empty (rows > 0) failing is not excused either
    res2 = MainJobResult(outputs=[full], check_results={"sft_stage3_mix:has_rows[None]": False})
    assert exit_code(res2) == 1
