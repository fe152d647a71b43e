"""Peak memory and wall time of the stage-3 SFT mix (``sft_stage3_mix``) against the number of medical examples,
materialized through Dagster with the lake IO manager, before / after a change side by side (issue 17 goal 3).

Synthetic inputs, built once per size by a process of their own and published into a temporary lake through the
commit protocol (``publish_partition``): ``N`` ``sft_examples`` rows over 2 seed partitions (messages of ~1-2 KB,
the assistant turn repeated in ``response`` as the real asset does, the generation fields filled), about 55% easy,
38% hard, 5% without a label (counted hard), 0.3% malformed, 1% repeating another example's prompt; their
``question_difficulty`` labels (2% conflicting); ``N/2`` ``nonmedical_reasoning`` rows. Each measured run is a FRESH
process (``--code DIR`` runs it on another checkout, e.g. ``git worktree add /tmp/mixbefore <commit>``) that
materializes ``sft_stage3_mix`` alone (decontamination on, against the bundled evaluation sample only: the index
is built before the runs so no run pays for it); peak RSS from ``wait4``, load from ``os.getloadavg``.

    .venv/bin/python -m benchmarks.scale.mix_memory --sizes 10000,100000 --code /tmp/mixbefore,. \\
        --labels before,after [--out benchmarks/results/mix_memory.md]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = ("set_a", "set_b")
WORDS = (
    "patient presents with fever cough dyspnea chest pain acute chronic history of hypertension diabetes "
    "examination reveals tachycardia crackles bilateral lower lobes laboratory leukocytosis elevated troponin "
    "therefore the most likely diagnosis is pneumonia myocardial infarction embolism consider differential "
    "management includes antibiotics anticoagulation oxygen monitoring because the findings suggest"
).split()


def _text(rng: random.Random, lo: int, hi: int) -> str:
    """About ``lo``..``hi`` characters of clinical-looking words."""
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi) // 8))


def prepare(n: int, work: Path) -> dict:
    """Publish the inputs of size ``n`` into ``work/lake-<n>`` (and build the decontamination index cache)."""
    import pyarrow as pa

    from citrus_assets.common.decontamination.index import eval_index
    from citrus_assets.reasoning_data.mixes.mixing import index_cache_dir
    from citrus_assets.reasoning_data.mixes.nonmedical_assets import NONMEDICAL_ASSET, NONMEDICAL_SCHEMA
    from citrus_assets.reasoning_data.schemas import DIFFICULTY_SCHEMA, EASY, HARD, SFT_EXAMPLE_SCHEMA
    from resources.lake import Lake
    from resources.lineage import LineageWriter
    from resources.lineage.commit import publish_partition

    lake = Lake(str(work / f"lake-{n}"))
    writer = LineageWriter(lake.lineage_root)
    rng = random.Random(n)
    template = _text(rng, 400, 400)
    stats = {"examples": 0, "malformed": 0, "repeated_prompts": 0, "unlabeled": 0, "easy": 0, "hard": 0}
    prompts: list[str] = []
    for p_i, part in enumerate(PARTITIONS):
        examples, labels = [], []
        for i in range(p_i * n // 2, (p_i + 1) * n // 2):
            qid = f"q-{i:08d}"
            r = rng.random()
            if r < 0.01 and prompts:
                user = rng.choice(prompts)
                stats["repeated_prompts"] += 1
            else:
                user = f"Case {i}: " + _text(rng, 300, 700) + " What is the most likely diagnosis?"
                if len(prompts) < 1000:
                    prompts.append(user)
            answer = f"<think>{_text(rng, 700, 1300)}</think><answer>{_text(rng, 20, 60)}</answer>"
            messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
            if rng.random() < 0.003:
                stats["malformed"] += 1
                messages = None if rng.random() < 0.5 else [messages[0], {"role": "assistant", "content": "no tags"}]
            examples.append(
                {
                    "record_id": f"sftex-{i:020x}",
                    "parent_ids": [f"trace-{i:020x}"],
                    "question_id": qid,
                    "language": "en",
                    "messages": messages,
                    "response": answer,
                    "final_answer": "pneumonia",
                    "n_tokens": 400,
                    "gen_model_id": "fake-model",
                    "gen_model_revision": "r1",
                    "gen_prompt_template": template,
                    "gen_prompt_hash": f"{i:016x}",
                    "gen_sampling": json.dumps({"temperature": 0.7, "top_p": 0.95, "max_tokens": 2048}),
                    "gen_prompt_tokens": 300,
                    "gen_completion_tokens": 400,
                    "ground_truth": "pneumonia",
                }
            )
            u = rng.random()
            if u < 0.05:
                stats["unlabeled"] += 1
                continue
            label = EASY if u < 0.6 else HARD
            stats["easy" if label == EASY else "hard"] += 1
            for k, lab in enumerate([label] + ([HARD if label == EASY else EASY] if rng.random() < 0.02 else [])):
                labels.append(
                    {
                        "record_id": f"diff-{i:012x}-{k}",
                        "parent_ids": [qid],
                        "question_id": qid,
                        "difficulty": lab,
                        "rule": "all_correct",
                        "judges": ["m1", "m2"],
                        "judges_correct": [lab == EASY, lab == EASY],
                    }
                )
        stats["examples"] += len(examples)
        for asset, rows, schema in (
            ("sft_examples", examples, SFT_EXAMPLE_SCHEMA),
            ("question_difficulty", labels, DIFFICULTY_SCHEMA),
        ):
            table = pa.Table.from_pylist(rows, schema=schema)
            publish_partition(lake, writer, asset=asset, partition=part, table=table, run_id="prep")
        del examples, labels
    nonmed = [
        {
            "record_id": f"nonmed-{i:020x}",
            "parent_ids": [f"line-{i}"],
            "messages": [
                {"role": "user", "content": f"Puzzle {i}: " + _text(rng, 200, 400)},
                {"role": "assistant", "content": f"<think>{_text(rng, 500, 1000)}</think><answer>{i}</answer>"},
            ],
            "source": "nonmedical:logic",
            "category": "nonmedical",
            "answer": str(i),
            "source_uri": "logic.jsonl",
            "source_locator": f"line {i + 1}",
        }
        for i in range(n // 2)
    ]
    table = pa.Table.from_pylist(nonmed, schema=NONMEDICAL_SCHEMA)
    publish_partition(lake, writer, asset=NONMEDICAL_ASSET, partition=None, table=table, run_id="prep")
    eval_index("", index_cache_dir(lake), n=13)  # the index cache: no measured run builds it
    stats["nonmedical"] = len(nonmed)
    return stats


def child(n: int, work: Path) -> dict:
    """Materialize ``sft_stage3_mix`` alone (Dagster, the lake IO manager) on the published inputs."""
    import dagster as dg

    from citrus_assets.reasoning_data.mixes.assets import sft_stage3_mix
    from citrus_assets.reasoning_data.seeds.assets import seed_sets
    from resources.lake import LakeResource
    from resources.lake_io import LakeIOManager

    root = str(work / f"lake-{n}")
    upstream = [  # read from the lake by the IO manager (the parent published them)
        dg.AssetSpec("sft_examples", partitions_def=seed_sets),
        dg.AssetSpec("question_difficulty", partitions_def=seed_sets),
        dg.AssetSpec("nonmedical_reasoning"),
    ]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(seed_sets.name, list(PARTITIONS))
    t0 = time.perf_counter()
    result = dg.materialize(
        [sft_stage3_mix, *upstream],
        selection=[sft_stage3_mix],
        instance=instance,
        resources={"io_manager": LakeIOManager(root=root), "lake": LakeResource(root=root)},
        run_config={"ops": {"sft_stage3_mix": {"config": {"tokenizer": "builtin"}}}},
        raise_on_error=False,
    )
    wall = time.perf_counter() - t0
    md = {}
    for ev in result.get_asset_materialization_events():
        md = {k: v.value for k, v in ev.materialization.metadata.items()}
    sel = md.get("selection") or {}
    import citrus_assets

    return {
        "code": str(Path(citrus_assets.__file__).resolve().parents[1]),
        "success": result.success,
        "wall_s": round(wall, 1),
        "rows": md.get("dagster/row_count"),
        "export_sha256": md.get("export_sha256"),
        "data_version": md.get("data_version"),
        "quarantined": md.get("quarantined"),
        "duplicates": md.get("duplicates"),
        "medical": (sel.get("medical_hard") or 0) + (sel.get("medical_easy") or 0),
        "nonmedical": sel.get("nonmedical"),
    }


def run_child(n: int, work: Path, code: Path) -> dict:
    out = work / f"mix-{n}-{code.name}-{time.monotonic_ns()}.json"
    empty = work / "no-eval-data"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(code), "CITRUS_DATA": str(empty), "CITRUS_EVAL_DATA": str(empty)}
    # this file as a script (the other checkout may not have it); the checkout's code first on the path
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), str(work), str(out)]
    load_before = os.getloadavg()[0]
    with open(work / "children.log", "ab") as log:  # Dagster's event log, kept out of the table's output
        proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
    res = json.loads(out.read_text()) if out.exists() else {"success": False, "exit_status": status}
    res.update(
        n=n,
        peak_rss_gib=round(usage.ru_maxrss / 2**20, 3),
        load=f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
    )
    return res


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] in ("--child", "--prepare"):
        n, work = int(sys.argv[2]), Path(sys.argv[3])
        res = child(n, work) if sys.argv[1] == "--child" else prepare(n, work)
        Path(sys.argv[4]).write_text(json.dumps(res))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--code", default=".", help="comma-separated checkouts the children run (before,after)")
    ap.add_argument("--labels", default="", help="a label per checkout (default: its folder name)")
    ap.add_argument("--out", default="", help="append the Markdown table here")
    ap.add_argument("--work", default="", help="folder for the lakes (default: a temporary one)")
    args = ap.parse_args(argv)
    codes = [Path(c).resolve() for c in args.code.split(",") if c]
    labels = [x for x in args.labels.split(",") if x] or [c.name for c in codes]

    def commit(code: Path) -> str:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True
        ).stdout.strip()

    rows = []
    with tempfile.TemporaryDirectory(prefix="citrus-mix-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in [int(x) for x in args.sizes.split(",") if x]:
            stats_path = work / f"prep-{n}.json"
            t0 = time.perf_counter()
            if not stats_path.exists():  # inputs kept in a --work folder are reused
                subprocess.run(  # its own process: the parent never holds the inputs
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.scale.mix_memory",
                        "--prepare",
                        str(n),
                        str(work),
                        str(stats_path),
                    ],
                    cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                    check=True,
                )
            stats = json.loads(stats_path.read_text())
            print(f"inputs {n}: {stats} ({time.perf_counter() - t0:.0f} s)", flush=True)
            for code, label in zip(codes, labels):
                rows.append({**run_child(n, work, code), "label": label, "commit": commit(code), "inputs": stats})
                print(rows[-1], flush=True)
    lines = [
        f"\n### sft_stage3_mix through Dagster + the lake IO manager ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        "| code | commit | medical examples | peak RSS GiB | wall s | mix rows | quarantined | duplicates | "
        "export sha256 | data version | load (1 min, start-end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['commit']} | {r['n']:,} | {r['peak_rss_gib']:.3f} | {r.get('wall_s')} | "
            f"{r.get('rows')} | {r.get('quarantined')} | {r.get('duplicates')} | "
            f"{(r.get('export_sha256') or '')[:12]} | {r.get('data_version')} | {r['load']} |"
        )
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
