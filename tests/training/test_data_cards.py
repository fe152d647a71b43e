"""Data cards: the card of a checkpoint on the known lineage graph (exact content), inputs that are checkpoints,
the fallback to the checkpoint row, and the card assets end to end (stand-in checkpoint, files, check)."""

import json
import os

import dagster as dg
import pyarrow as pa
import pytest

from citrus_assets.common.metadata import output
from citrus_assets.model_training.data_cards.assets import (
    CARD_JSON,
    CARD_MD,
    DATA_CARD_COMPLETE,
    DATA_CARD_SCHEMA,
    cpt_data_card,
    data_card_assets,
    data_card_checks,
    write_text,
)
from citrus_assets.model_training.data_cards.cards import build_card, card_markdown, metadata_entries
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from resources.lake import Lake, LakeResource
from resources.lineage import LineageStore, LineageWriter
from resources.lineage.ids import record_id, source_id
from resources.lineage.writer import table_data_version
from tests.lineage.lineage_graph import MODEL, PUBMED_URI, REVISION, TRAIN_URI, build_graph, seeds_table
from tests.support.resources import make_resources

SEEDS, ANSWERS, SFT = dg.AssetKey("question_seeds"), dg.AssetKey("answers"), dg.AssetKey("sft_examples")
CHECK_KEYS = [
    dg.AssetCheckKey(SEEDS, "seeds_valid"),
    dg.AssetCheckKey(ANSWERS, "answers_valid"),
    dg.AssetCheckKey(SFT, "sft_valid"),
]


def ckpt_row(stage: str, data_versions: dict, parents=()) -> dict:
    return {
        "record_id": record_id("ckpt", stage, "w"),
        "parent_ids": list(parents),
        "stage": stage,
        "model_path": f"/models/{stage}",
        "base_model": "base",
        "weights_sha256": "w" * 64,
        "steps": 3,
        "tokens_seen": 96,
        "wall_s": 1.0,
        "final_loss": 2.5,
        "hyperparameters": json.dumps({"lr": 1e-5}),
        "data_versions": json.dumps(data_versions, sort_keys=True),
    }


@pytest.fixture
def graph(tmp_path):
    root = str(tmp_path / "lake" / "_lineage")
    dvs = build_graph(root)
    store = LineageStore(root, str(tmp_path / "lineage.duckdb"))
    yield store, dvs, root
    store.close()


def report(instance, asset_key, partition, **metadata):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key, partition=partition, metadata=metadata))


def evaluate(instance, asset_key, partition, check, passed, blocking=True):
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check,
            passed=passed,
            partition=partition,
            blocking=blocking,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        )
    )


def test_card_of_the_known_graph(graph):
    store, dvs, _ = graph
    instance = dg.DagsterInstance.ephemeral()
    report(
        instance,
        SEEDS,
        "medqa|train",
        data_version=dvs["question_seeds:medqa|train"],
        quarantined=2,
        duplicates_skipped=1,
        languages={"en": 3},
        preview=dg.MetadataValue.md("| x |"),
        unjudged_ids=["a", "b"],
    )
    report(instance, ANSWERS, "medqa|train", data_version="some-other-version", quarantined=9)  # not what was read
    report(
        instance,
        SFT,
        None,
        data_version=dvs["sft_examples:__all__"],
        decontamination={"removed": 1, "benchmarks": ["medqa"], "index_items": 10, "eval_data_dir": "d"},
        dropped_by_reason={"too_long": 2},
    )
    evaluate(instance, SEEDS, "medqa|train", "seeds_valid", True)
    evaluate(instance, SEEDS, "pubmed|train", "seeds_valid", False, blocking=False)
    evaluate(instance, ANSWERS, "medqa|train", "answers_valid", True)
    row = ckpt_row("sft", {"sft_examples": dvs["sft_examples:__all__"]})

    card = build_card(store, instance, "sft_checkpoint", row, data_version="ckpt-v1", check_keys=CHECK_KEYS)

    assert card["inputs_from"] == "checkpoint_inputs"
    assert card["inputs"] == [
        {
            "asset": "sft_examples",
            "partition": "__all__",
            "data_version": dvs["sft_examples:__all__"],
            "kind": "data",
            "n_records": 3,
            "in_lineage": True,
        }
    ]
    nodes = [
        (
            n["depth"],
            n["asset"],
            n["partition"],
            n["data_version"],
            n["code_version"],
            n["n_records"],
            n["inputs"],
            n["sources"],
        )
        for n in card["lineage"]
    ]
    assert nodes == [
        (
            0,
            "sft_examples",
            "__all__",
            dvs["sft_examples:__all__"],
            "v1",
            3,
            ["answers/medqa|train", "answers/pubmed|train", "question_seeds/medqa|train"],
            {},
        ),
        (1, "answers", "medqa|train", dvs["answers:medqa|train"], "v1", 3, ["question_seeds/medqa|train"], {}),
        (1, "answers", "pubmed|train", dvs["answers:pubmed|train"], "v1", 1, ["question_seeds/pubmed|train"], {}),
        (1, "question_seeds", "medqa|train", dvs["question_seeds:medqa|train"], "v1", 3, [], {TRAIN_URI: 3}),
        (2, "question_seeds", "pubmed|train", dvs["question_seeds:pubmed|train"], "v1", 1, [], {PUBMED_URI: 1}),
    ]
    assert card["sources"] == [
        {"uri": PUBMED_URI, "n_units": 1, "cited_by": ["question_seeds/pubmed|train"]},
        {"uri": TRAIN_URI, "n_units": 3, "cited_by": ["question_seeds/medqa|train"]},
    ]
    gen = [
        (
            g["asset"],
            g["partition"],
            g["model_id"],
            g["model_revision"],
            g["prompt_template"],
            g["prompt_hash"],
            g["n_records"],
        )
        for g in card["generations"]
    ]
    assert gen == [
        ("answers", "medqa|train", MODEL, REVISION, "answer_v1", f"ph{k}", 1) for k in ("a1", "a2", "a3")
    ] + [("answers", "pubmed|train", MODEL, REVISION, "answer_v1", "pha4", 1)]
    assert card["models"] == [{"model_id": MODEL, "model_revision": REVISION, "n_records": 4}]

    by = {(n["asset"], n["partition"]): n for n in card["lineage"]}
    seeds = by["question_seeds", "medqa|train"]
    assert seeds["quarantined"] == 2 and seeds["filters"] == {"duplicates_skipped": 1}  # no preview, ids, languages
    assert by["answers", "medqa|train"]["quarantined"] is None  # metadata of another data version is not used
    assert card["metadata_not_found"] == ["answers/medqa|train", "answers/pubmed|train", "question_seeds/pubmed|train"]
    assert by["sft_examples", "__all__"]["filters"] == {"dropped_by_reason": {"too_long": 2}}
    assert card["decontamination"] == [
        {
            "asset": "sft_examples",
            "partition": "__all__",
            "removed": 1,
            "benchmarks": ["medqa"],
            "index_items": 10,
            "eval_data_dir": "d",
        }
    ]
    checks = {
        (n["asset"], n["partition"], c["check"]): (c["passed"], c["blocking"], c["severity"])
        for n in card["lineage"]
        for c in n["checks"]
    }
    assert checks == {
        ("sft_examples", "__all__", "sft_valid"): (None, None, None),
        ("answers", "medqa|train", "answers_valid"): (True, True, "ERROR"),
        ("answers", "pubmed|train", "answers_valid"): (None, None, None),
        ("question_seeds", "medqa|train", "seeds_valid"): (True, True, "ERROR"),
        ("question_seeds", "pubmed|train", "seeds_valid"): (False, False, "WARN"),
    }
    assert card["checks"] == {
        "looked_up": True,
        "n_evaluated": 3,
        "n_passed": 2,
        "n_failed": 1,
        "n_not_evaluated": 2,
        "failed": ["question_seeds/pubmed|train:seeds_valid"],
    }
    assert card["totals"] == {
        "n_inputs": 1,
        "n_asset_partitions": 5,
        "n_sources": 2,
        "n_source_units": 4,
        "n_models": 1,
        "n_generated_records": 4,
    }
    assert card["problems"] == ["check failed: question_seeds/pubmed|train:seeds_valid"] and not card["complete"]
    assert card["checkpoint"]["data_version"] == "ckpt-v1" and card["checkpoint"]["hyperparameters"] == {"lr": 1e-5}

    md = card_markdown(card)
    assert md.startswith("# Data card: sft_checkpoint\n\n**Status: INCOMPLETE.**")
    assert f"| {TRAIN_URI} | 3 | question_seeds/medqa\\|train |" in md
    assert f"| answers | medqa\\|train | {MODEL} | {REVISION} | answer_v1 | pha1 | 1 |" in md
    assert "| question_seeds | pubmed\\|train | seeds_valid | FAILED | no | — |" in md
    assert "  - duplicates_skipped: 1" in md and "| sft_examples | __all__ | 1 | " in md
    # no wall-clock time of its own: the same lineage and instance give the same card
    assert build_card(store, instance, "sft_checkpoint", row, data_version="ckpt-v1", check_keys=CHECK_KEYS) == card
    # without the defined checks: every check evaluated in the instance on a listed asset
    found = build_card(store, instance, "sft_checkpoint", row, data_version="ckpt-v1")
    assert {(n["asset"], n["partition"], c["check"]): c["passed"] for n in found["lineage"] for c in n["checks"]} == {
        ("answers", "medqa|train", "answers_valid"): True,
        ("answers", "pubmed|train", "answers_valid"): None,
        ("question_seeds", "medqa|train", "seeds_valid"): True,
        ("question_seeds", "pubmed|train", "seeds_valid"): False,
    }


def test_the_walk_takes_the_version_a_step_read(graph):
    store, dvs, root = graph
    w = LineageWriter(root)
    seeds = seeds_table(TRAIN_URI, ["s1", "s2", "s3"], [1, 2, 3])
    newer = pa.concat_tables([seeds, seeds.slice(0, 1).set_column(0, "record_id", pa.array(["qseed-" + "0" * 20]))])
    w.write_materialization(
        asset="question_seeds",
        partition="medqa|train",
        run_id="run-9",
        data_version=table_data_version(newer),
        code_version="v2",
        table=newer,
        data_path="x",
    )
    card = build_card(store, None, "sft_checkpoint", ckpt_row("sft", {}), data_version="ckpt-v1")
    seeds_nodes = [
        (n["partition"], n["data_version"], n["n_records"]) for n in card["lineage"] if n["asset"] == "question_seeds"
    ]
    assert seeds_nodes == [
        ("medqa|train", dvs["question_seeds:medqa|train"], 3),
        ("pubmed|train", dvs["question_seeds:pubmed|train"], 1),
    ]


def test_checkpoint_inputs_are_listed_not_walked_and_the_row_is_the_fallback(graph):
    store, dvs, root = graph
    w = LineageWriter(root)
    sft_row = ckpt_row("sft", {})
    sft_table = pa.Table.from_pylist([sft_row], schema=CHECKPOINT_SCHEMA)
    w.write_materialization(
        asset="sft_checkpoint",
        partition=None,
        run_id="run-2",
        data_version="ckpt-v1",
        code_version="c1",
        table=sft_table,
        data_path="lake/sft_checkpoint/__all__/data.parquet",
    )
    w.write_checkpoint_inputs(
        checkpoint_asset="rl_checkpoint",
        checkpoint_partition=None,
        checkpoint_data_version="rl-v1",
        run_id="run-2",
        inputs=[("sft_checkpoint", None, "ckpt-v1"), ("answers", "pubmed|train", dvs["answers:pubmed|train"])],
    )
    card = build_card(store, None, "rl_checkpoint", ckpt_row("rl", {}), data_version="rl-v1")
    assert [(i["asset"], i["kind"], i["n_records"]) for i in card["inputs"]] == [
        ("answers", "data", 1),
        ("sft_checkpoint", "checkpoint", 1),
    ]
    assert [(n["depth"], n["asset"], n["partition"], n["kind"]) for n in card["lineage"]] == [
        (0, "answers", "pubmed|train", "data"),
        (0, "sft_checkpoint", "__all__", "checkpoint"),
        (1, "question_seeds", "pubmed|train", "data"),
    ]
    assert card["sources"] == [{"uri": PUBMED_URI, "n_units": 1, "cited_by": ["question_seeds/pubmed|train"]}]
    assert card["complete"] and card["checks"]["looked_up"] is False and card["metadata_not_found"] == []
    assert "base checkpoint (see its own card)" in card_markdown(card)

    # no checkpoint_inputs for this version: the row's data_versions are the inputs
    row = ckpt_row("sft", {"answers": "unknown-version", "sft_examples": dvs["sft_examples:__all__"]})
    card = build_card(store, None, "other_checkpoint", row)
    assert card["inputs_from"].startswith("checkpoint row")
    assert [(i["asset"], i["in_lineage"]) for i in card["inputs"]] == [("answers", False), ("sft_examples", True)]
    assert card["totals"]["n_asset_partitions"] == 5 and card["totals"]["n_source_units"] == 4
    assert card["problems"] == ["input answers/__all__@unknown-version has no lineage"]

    card = build_card(store, None, "empty_checkpoint", ckpt_row("cpt", {}))
    assert card["problems"] == ["no input data version recorded", "no source file reached"]


def test_metadata_entries_pick_filters_dedup_decontamination():
    md = {
        "quarantined": dg.MetadataValue.int(3),
        "funnel": dg.MetadataValue.json([{"step": "read"}] * 60),
        "decontamination": dg.MetadataValue.json({"removed": 0}),
        "tokens": 5,
        "dedup": {"duplicates": 1},
        "rejects_path": dg.MetadataValue.path("/x/rejects.parquet"),
        "unlabeled_question_ids": ["q"],
        "token_length_histogram": dg.MetadataValue.md("![h](data:...)"),
    }
    quarantined, filters, decont = metadata_entries(md)
    assert quarantined == 3 and decont == {"removed": 0}
    assert list(filters) == ["dedup", "funnel", "rejects_path"] and filters["rejects_path"] == "/x/rejects.parquet"
    assert len(filters["funnel"]) == 51 and filters["funnel"][-1] == "... 10 more"


# ==================================================================== end to end
DOC_URI = "docs.jsonl"
DOC_LINES = ["fever and rash", "aspirin dosing", "chest pain"]


def standins(check_passes: bool):
    @dg.asset(name="docs")
    def docs() -> dg.Output:
        t = pa.table(
            {
                "record_id": [record_id("cptdoc", x) for x in DOC_LINES],
                "parent_ids": [[source_id(DOC_URI, x)] for x in DOC_LINES],
                "source_uri": [DOC_URI] * 3,
                "source_locator": [f"line {i + 1}" for i in range(3)],
                "text": DOC_LINES,
            }
        )
        return output(t, quarantined=1, duplicates_removed=2)

    @dg.asset_check(asset="docs", name="docs_valid", blocking=False)
    def docs_valid(docs: pa.Table) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=check_passes, severity=dg.AssetCheckSeverity.WARN)

    @dg.asset(name="cpt_shards")
    def shards(docs: pa.Table) -> dg.Output:
        ids = docs["record_id"].to_pylist()
        t = pa.table(
            {
                "record_id": [record_id("cptshard", ids)],
                "parent_ids": [ids],
                "text": ["..."],
                "gen_model_id": ["m"],
                "gen_model_revision": ["r1"],
                "gen_prompt_template": ["t"],
                "gen_prompt_hash": ["h1"],
            }
        )
        return output(t)

    @dg.asset(name="cpt_checkpoint")
    def checkpoint(context: dg.AssetExecutionContext, lake: LakeResource, cpt_shards: pa.Table) -> dg.Output:
        dvs = {"cpt_shards": table_data_version(cpt_shards)}
        table = pa.Table.from_pylist([ckpt_row("cpt", dvs)], schema=CHECKPOINT_SCHEMA)
        LineageWriter(lake.lake().lineage_root).write_checkpoint_inputs(
            checkpoint_asset="cpt_checkpoint",
            checkpoint_partition=None,
            checkpoint_data_version=table_data_version(table),
            run_id=context.run.run_id,
            inputs=[(a, None, v) for a, v in dvs.items()],
        )
        return output(table)

    return docs, docs_valid, shards, checkpoint


def run_card(tmp_path, monkeypatch, check_passes: bool):
    monkeypatch.delenv("CITRUS_LINEAGE_DB", raising=False)
    root = str(tmp_path / "lake")
    resources = make_resources(root)
    instance = dg.DagsterInstance.ephemeral()
    docs, docs_valid, shards, checkpoint = standins(check_passes)
    first = dg.materialize([docs, shards, docs_valid], resources=resources, instance=instance)
    assert first.success
    result = dg.materialize(
        [docs, shards, docs_valid, checkpoint, cpt_data_card, data_card_checks[0]],
        selection=["cpt_checkpoint", "cpt_data_card"],
        resources=resources,
        instance=instance,
    )
    assert result.success
    return Lake(root), result


def test_card_asset_end_to_end(tmp_path, monkeypatch):
    lake, result = run_card(tmp_path, monkeypatch, check_passes=True)
    table = lake.read_table("cpt_data_card")
    assert table.schema.equals(DATA_CARD_SCHEMA)
    row = table.to_pylist()[0]
    ckpt = lake.read_table("cpt_checkpoint").to_pylist()[0]
    assert row["parent_ids"] == [ckpt["record_id"]] and row["stage"] == "cpt" and row["complete"]
    assert (
        row["n_inputs"],
        row["n_asset_partitions"],
        row["n_sources"],
        row["n_source_units"],
        row["n_models"],
        row["n_failed_checks"],
    ) == (1, 2, 1, 3, 1, 0)
    md_path, json_path = row["card_md_path"], row["card_json_path"]
    assert md_path == lake.data_path("cpt_data_card", None, CARD_MD)
    assert json_path == lake.data_path("cpt_data_card", None, CARD_JSON)
    card = json.loads(open(json_path).read())
    assert card == json.loads(row["card_json"])
    assert card["sources"] == [{"uri": DOC_URI, "n_units": 3, "cited_by": ["docs/__all__"]}]
    assert [(n["asset"], n["n_records"], n["quarantined"], n["filters"]) for n in card["lineage"]] == [
        ("cpt_shards", 1, None, {}),
        ("docs", 3, 1, {"duplicates_removed": 2}),
    ]
    assert card["generations"] == [
        {
            "asset": "cpt_shards",
            "partition": "__all__",
            "model_id": "m",
            "model_revision": "r1",
            "prompt_template": "t",
            "prompt_hash": "h1",
            "n_records": 1,
        }
    ]
    docs_check = card["lineage"][1]["checks"]
    assert [(c["check"], c["passed"], c["evaluated_this_version"]) for c in docs_check] == [("docs_valid", True, True)]
    assert card["checks"]["n_evaluated"] == 1 and card["checks"]["n_failed"] == 0
    md = open(md_path).read()
    mat = next(e for e in result.get_asset_materialization_events() if e.asset_key == cpt_data_card.key)
    assert mat.materialization.metadata["card"].value == md and md.startswith("# Data card: cpt_checkpoint")
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {DATA_CARD_COMPLETE: True}
    with LineageStore(lake.lineage_root, os.path.join(lake.root, "_lineage", "lineage.duckdb")) as store:
        trace = store.trace(row["record_id"])
    assert {n["asset"] for n in trace["nodes"]} == {"cpt_data_card", "cpt_checkpoint"}


def test_card_check_fails_on_a_failed_upstream_check(tmp_path, monkeypatch):
    lake, result = run_card(tmp_path, monkeypatch, check_passes=False)
    row = lake.read_table("cpt_data_card").to_pylist()[0]
    assert row["failed_checks"] == ["docs/__all__:docs_valid"] and not row["complete"]
    assert row["problems"] == ["check failed: docs/__all__:docs_valid"]
    ev = next(e for e in result.get_asset_check_evaluations() if e.check_name == DATA_CARD_COMPLETE)
    assert not ev.passed and ev.asset_key == cpt_data_card.key
    assert set(ev.metadata["failed"].value) == {"column_values_to_be_between(n_failed_checks)", "rule:card_complete"}


def test_one_card_asset_and_check_per_checkpoint():
    assert [a.key.to_user_string() for a in data_card_assets] == [
        "cpt_data_card",
        "sft_stage1_data_card",
        "sft_stage2_data_card",
        "sft_stage3_data_card",
        "rl_data_card",
    ]
    assert [next(iter(a.dependency_keys)).to_user_string() for a in data_card_assets] == [
        "cpt_checkpoint",
        "sft_stage1_checkpoint",
        "sft_stage2_checkpoint",
        "sft_stage3_checkpoint",
        "rl_checkpoint",
    ]
    from citrus_assets.definitions import defs  # the stage loader sets the group (common/stages.py)

    graph = defs.resolve_asset_graph()
    assert all(graph.get(a.key).group_name == "training" for a in data_card_assets)
    assert [next(iter(c.check_keys)) for c in data_card_checks] == [
        dg.AssetCheckKey(a.key, DATA_CARD_COMPLETE) for a in data_card_assets
    ]


def test_card_files_are_written_through_the_lake_filesystem():
    lake = Lake("memory://cards-lake")
    path = lake.data_path("cpt_data_card", None, CARD_MD)
    written = write_text(lake, path, "# Data card ✓\n")
    assert written == lake.url(path) == "memory:///cards-lake/cpt_data_card/__all__/card.md"
    with lake.fs.open(path, "rb") as fh:
        assert fh.read().decode("utf-8") == "# Data card ✓\n"
    assert [p.rsplit("/", 1)[-1] for p in lake.fs.ls(path.rsplit("/", 1)[0], detail=False)] == ["card.md"]
