"""A small lake for the lineage browser tests (the TestClient tests here and the Playwright test in tests/ui).

Written the way assets write it: data files through :class:`Lake`, lineage through :class:`LineageWriter`
(record_lineage layout), a real source file whose lines the seeds cite, an LLM-made asset whose prompt and
response hold HTML and a script, a data card row with its ``card.md``, and a checkpoint trained on the
LLM-made partition.
"""

import json
from pathlib import Path

import pyarrow as pa

from resources.lake import Lake
from resources.lineage import LineageWriter, record_id, source_id, table_data_version

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LINES = ['{"question": "fever and rash?"}', '{"question": "' + EVIL.replace('"', "'") + '"}']
MODEL, REVISION = "Qwen/Qwen2.5-0.5B-Instruct", "7ae557604adf67be50417f59c2c2f167def9a775"


def build_lake(tmp_path: Path) -> dict:
    """Write the lake under ``tmp_path``; returns its ids (sources, seeds, answers), source file and root."""
    root = tmp_path / "lake"
    src = tmp_path / "raw" / "questions.jsonl"
    src.parent.mkdir(parents=True)
    src.write_text("\n".join(LINES) + "\n")
    lk = Lake(str(root))
    writer = LineageWriter(lk.lineage_root)
    ids: dict = {}

    def mat(asset, part, table, run="run-1"):
        path = lk.write_asset(asset, part, table)
        dv = table_data_version(table)
        writer.write_materialization(
            asset=asset,
            partition=part,
            run_id=run,
            data_version=dv,
            code_version="v1",
            table=table,
            data_path=lk.url(path),
        )
        return dv

    sids = [source_id(str(src), raw) for raw in LINES]
    seeds = [record_id("qseed", s) for s in sids]
    mat(
        "question_seeds",
        "medqa|train",
        pa.table(
            {
                "record_id": seeds,
                "parent_ids": [[s] for s in sids],
                "source_uri": [str(src)] * 2,
                "source_locator": ["line 1", "line 2"],
                "question": [json.loads(x)["question"] for x in LINES],
            }
        ),
    )
    answers = [record_id("ans", s) for s in seeds]
    sampling = json.dumps({"temperature": 0.7, "top_p": 0.95}, sort_keys=True)
    ans_dv = mat(
        "answers",
        "medqa|train",
        pa.table(
            {
                "record_id": answers,
                "parent_ids": [[s] for s in seeds],
                "prompt": ["<|im_start|>user\nfever and rash?", "<|im_start|>user\n" + EVIL],
                "response": ["Likely measles.", "Answer: " + EVIL],
                "gen_model_id": [MODEL] * 2,
                "gen_model_revision": [REVISION] * 2,
                "gen_prompt_template": ["answer_v1"] * 2,
                "gen_prompt_hash": ["ph-a", "ph-b"],
                "gen_sampling": [sampling] * 2,
                "gen_prompt_tokens": [12, 40],
                "gen_completion_tokens": [5, 30],
            }
        ),
    )
    writer.write_checkpoint_inputs(
        checkpoint_asset="sft_stage1_checkpoint",
        checkpoint_partition=None,
        checkpoint_data_version="ckpt-1",
        run_id="train-1",
        inputs=[("answers", "medqa|train", ans_dv)],
    )
    mat(
        "sft_stage1_checkpoint",
        "__all__",
        pa.table(
            {
                "record_id": [record_id("ckpt", "sft_stage1", ans_dv)],
                "parent_ids": [[]],
                "model_path": ["ckpt/sft_stage1"],
            }
        ),
    )
    card_md = lk.data_path("sft_stage1_data_card", None, "card.md")
    lk.fs.makedirs(card_md.rsplit("/", 1)[0], exist_ok=True)
    with lk.fs.open(card_md, "wb") as fh:
        fh.write(
            f"# Data card of sft_stage1_checkpoint\n\n| source | units |\n|---|---|\n| questions.jsonl | 2 |\n\n"
            f"Note: {EVIL}\n".encode()
        )
    mat(
        "sft_stage1_data_card",
        "__all__",
        pa.table(
            {
                "record_id": [record_id("datacard", "sft_stage1", "ck")],
                "parent_ids": [[]],
                "checkpoint_asset": ["sft_stage1_checkpoint"],
                "checkpoint_data_version": ["ckpt-1"],
                "complete": [True],
                "problems": [[]],
                "card_md_path": [lk.url(card_md)],
                "card_json": ["{}"],
            }
        ),
    )
    ids.update(sources=sids, seeds=seeds, answers=answers, src=str(src), root=str(root))
    return ids
