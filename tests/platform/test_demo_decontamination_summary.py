"""The main job's summary says, per training-bound partition, whether decontamination was on and what it removed."""

from citrus_assets.demo import MainJobResult, MaterializedOutput, format_summary


def _out(asset, decont):
    return MaterializedOutput(asset=asset, partition="-", rows=3, path="p", run_id="r", decontamination=decont)


def test_summary_shows_decontamination_status_and_counts():
    on = {"status": "on", "index_items": 136, "benchmarks": ["medqa", "pubmedqa"], "removed": 2,
          "removed_per_benchmark": {"medqa": 2}}
    off = {"status": "OFF (allow_no_decontamination)", "index_items": 0, "benchmarks": [], "removed": 0}
    res = MainJobResult(outputs=[_out("sft_stage3_mix", on), _out("sft_stage1_mix", off), _out("question_seeds", None)])
    text = format_summary(res, "/lake", "/db")
    assert "sft_stage3_mix [-]: on; 136 items of 2 benchmarks indexed; 2 rows removed (medqa: 2)" in text
    assert "sft_stage1_mix [-]: OFF (allow_no_decontamination); 0 items" in text
    assert "question_seeds [-]:" not in text.split("Decontamination")[1]


def test_summary_has_no_decontamination_block_without_training_bound_assets():
    res = MainJobResult(outputs=[_out("question_seeds", None)])
    assert "Decontamination" not in format_summary(res, "/lake", "/db")
