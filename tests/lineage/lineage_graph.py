"""A small hand-built lineage graph with known answers (shared by the lineage tests)."""

from __future__ import annotations

import json

import pyarrow as pa

from resources.lineage import LineageWriter, record_id, source_id, table_data_version

TRAIN_URI = "s3://citrus-raw/medqa/train.jsonl"
PUBMED_URI = "/data/raw/pubmed/abstracts.jsonl"
TRAIN_LINES = ['{"q": "fever?"}', '{"q": "rash?"}', '{"q": "cough?"}']
PUBMED_LINES = ['{"abstract": "aspirin..."}']

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
REVISION = "7ae557604adf67be50417f59c2c2f167def9a775"
SAMPLING = json.dumps({"n": 1, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512}, sort_keys=True)

SRC = {f"t{i + 1}": source_id(TRAIN_URI, raw) for i, raw in enumerate(TRAIN_LINES)}
SRC["p1"] = source_id(PUBMED_URI, PUBMED_LINES[0])

SEED = {
    "s1": record_id("qseed", SRC["t1"]),
    "s2": record_id("qseed", SRC["t2"]),
    "s3": record_id("qseed", SRC["t3"]),
    "s4": record_id("qseed", SRC["p1"]),
}
ANS = {
    "a1": record_id("ans", SEED["s1"], 0),
    "a2": record_id("ans", SEED["s2"], 0),
    "a3": record_id("ans", SEED["s1"], SEED["s3"]),
    "a4": record_id("ans", SEED["s4"], 0),
}
SFT = {
    "x1": record_id("sft", ANS["a1"], SEED["s1"]),
    "x2": record_id("sft", ANS["a3"]),
    "x3": record_id("sft", ANS["a4"]),
}


def seeds_table(uri: str, keys: list[str], lines: list[int]) -> pa.Table:
    return pa.table(
        {
            "record_id": [SEED[k] for k in keys],
            "parent_ids": [[SRC[k.replace("s", "t") if uri == TRAIN_URI else "p1"]] for k in keys],
            "source_uri": [uri] * len(keys),
            "source_locator": [f"line {n}" for n in lines],
            "question": ["q"] * len(keys),
        }
    )


def answers_table(rows: list[tuple[str, list[str]]]) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "record_id": [ANS[k] for k, _ in rows],
            "parent_ids": [[SEED[p] for p in ps] for _, ps in rows],
            "answer": ["a"] * n,
            "gen_model_id": [MODEL] * n,
            "gen_model_revision": [REVISION] * n,
            "gen_prompt_template": ["answer_v1"] * n,
            "gen_prompt_hash": [f"ph{k}" for k, _ in rows],
            "gen_sampling": [SAMPLING] * n,
            "gen_prompt_tokens": [100 + i for i in range(n)],
            "gen_completion_tokens": [200 + i for i in range(n)],
        }
    )


def sft_table() -> pa.Table:
    return pa.table(
        {
            "record_id": [SFT["x1"], SFT["x2"], SFT["x3"]],
            "parent_ids": [[ANS["a1"], SEED["s1"]], [ANS["a3"]], [ANS["a4"]]],
            "text": ["t"] * 3,
        }
    )


def build_graph(root: str, run_id: str = "run-1", writer: type[LineageWriter] = LineageWriter) -> dict[str, str]:
    """Write the graph; returns the data version per (asset, partition) key "asset:partition"."""
    w = writer(root)
    dvs: dict[str, str] = {}

    def mat(asset: str, partition: str, table: pa.Table) -> None:
        dv = table_data_version(table)
        dvs[f"{asset}:{partition}"] = dv
        w.write_materialization(
            asset=asset,
            partition=partition,
            run_id=run_id,
            data_version=dv,
            code_version="v1",
            table=table,
            data_path=f"lake/{asset}/{partition}/data.parquet",
        )

    mat("question_seeds", "medqa|train", seeds_table(TRAIN_URI, ["s1", "s2", "s3"], [1, 2, 3]))
    mat("question_seeds", "pubmed|train", seeds_table(PUBMED_URI, ["s4"], [1]))
    mat("answers", "medqa|train", answers_table([("a1", ["s1"]), ("a2", ["s2"]), ("a3", ["s1", "s3"])]))
    mat("answers", "pubmed|train", answers_table([("a4", ["s4"])]))
    mat("sft_examples", "__all__", sft_table())
    w.write_checkpoint_inputs(
        checkpoint_asset="sft_checkpoint",
        checkpoint_partition="__all__",
        checkpoint_data_version="ckpt-v1",
        run_id=run_id,
        inputs=[("sft_examples", "__all__", dvs["sft_examples:__all__"])],
    )
    w.write_checkpoint_inputs(
        checkpoint_asset="pubmed_checkpoint",
        checkpoint_partition=None,
        checkpoint_data_version="ckpt-p1",
        run_id=run_id,
        inputs=[("answers", "pubmed|train", dvs["answers:pubmed|train"])],
    )
    return dvs
