"""Generate the degeneration filter's labelled sample with the built-in model (run once; output committed).

Real project prompts, rendered by the stages' own functions, answered by the built-in model
(``BUILTIN_MODEL``, SmolLM2-135M-Instruct, CPU, request cache off), greedy as the stages sample by default:

* ``textbook_question``: ``textbook_evol.evol_messages`` over chunks of the bundled sample textbooks;
* ``open_rewrite``: ``rewrite.rewrite_messages`` over the bundled MedQA demo seeds;
* ``sft_rewrite``: ``sft_rewrite.rewrite_messages`` over the same seeds with short hand-written trace notes;
* ``jmed_question``: ``jmed.steps.question_messages`` over small EMR records written from the bundled dialogues;
* ``chosen_completion``: ``model_training.preference.rejection.open_messages`` (the RL sampling prompt, whose correct samples
  become chosen completions).

Each output is the text the stage would filter (the parsed answer for textbook questions, the cleaned
rewrite, the <think> block when the SFT rewrite is well-formed, ...). The ``label`` field (``degenerate`` /
``fine``) is added BY HAND afterwards in benchmarks/data/degeneration_sample.jsonl; re-running this script
overwrites the file without labels.

    .venv/bin/python -m benchmarks.degeneration_generate [--per-kind 8] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import torch  # noqa: E402

from citrus_assets.cpt_corpus.textbooks.assets import TextbookChunkingConfig  # noqa: E402
from citrus_assets.cpt_corpus.textbooks.chunking import chunk_batch  # noqa: E402
from citrus_assets.cpt_corpus.textbooks.evol import OPERATORS, evol_messages, parse_qa  # noqa: E402
from citrus_assets.jmed.steps import question_messages  # noqa: E402
from citrus_assets.model_training.preference.rejection import open_messages  # noqa: E402
from citrus_assets.reasoning_data.questions.rewrite import clean_rewrite, rewrite_messages  # noqa: E402
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file  # noqa: E402
from citrus_assets.reasoning_data.traces.sft_rewrite import parse_response  # noqa: E402
from citrus_assets.reasoning_data.traces.sft_rewrite import rewrite_messages as sft_messages  # noqa: E402
from resources.llm import BUILTIN_MODEL, LLMResource, SamplingParams  # noqa: E402

OUT = REPO / "benchmarks" / "data" / "degeneration_sample.jsonl"

EMRS = [  # small records written from the bundled dialogues' shape (made-up patients)
    {
        "language": "en",
        "age": "45",
        "sex": "male",
        "department": "Cardiology",
        "diagnosis": "stable angina",
        "chief_complaint": "chest tightness on exertion for 2 months",
        "present_illness": "pressure behind the sternum when climbing stairs, relieved by rest within 5 minutes",
        "history": "smoker, hypertension",
        "exam_results": "ECG at rest normal",
    },
    {
        "language": "en",
        "age": "30",
        "sex": "female",
        "department": "",
        "diagnosis": "urinary tract infection",
        "chief_complaint": "burning on urination for 3 days",
        "present_illness": "frequency and urgency, no fever",
        "history": "",
        "exam_results": "urine dipstick nitrite positive",
    },
    {
        "language": "en",
        "age": "8",
        "sex": "male",
        "department": "Pediatrics",
        "diagnosis": "acute otitis media",
        "chief_complaint": "ear pain and fever since yesterday",
        "present_illness": "pulling at the right ear, 38.6 C",
        "history": "",
        "exam_results": "bulging red right eardrum",
    },
    {
        "language": "en",
        "age": "62",
        "sex": "female",
        "department": "",
        "diagnosis": "type 2 diabetes mellitus",
        "chief_complaint": "thirst and frequent urination",
        "present_illness": "weight loss of 4 kg in 3 months",
        "history": "obesity",
        "exam_results": "fasting glucose 9.8 mmol/L, HbA1c 8.1%",
    },
    {
        "language": "zh",
        "age": "52",
        "sex": "男",
        "department": "呼吸内科",
        "diagnosis": "社区获得性肺炎",
        "chief_complaint": "发热咳嗽3天",
        "present_illness": "咳黄痰，体温最高39℃",
        "history": "高血压",
        "exam_results": "胸片示右下肺斑片影",
    },
    {
        "language": "zh",
        "age": "35",
        "sex": "女",
        "department": "消化内科",
        "diagnosis": "胃食管反流病",
        "chief_complaint": "反酸烧心2个月",
        "present_illness": "饭后及平卧时加重",
        "history": "",
        "exam_results": "胃镜示食管下段黏膜破损",
    },
]


def transcript(seed: dict, answer: str) -> str:
    facts = seed["stem"][:300]
    return json.dumps(
        {
            "attempts": [
                {
                    "facts": facts,
                    "steps": [
                        {
                            "step": "The findings and the history narrow the differential.",
                            "verdict": "keep",
                            "feedback": "",
                        },
                        {"step": "The key finding points to one option.", "verdict": "keep", "feedback": ""},
                    ],
                    "conclusion": f"CONCLUSION: {answer}",
                }
            ]
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    k = args.per_kind

    files = sorted(p for p in (REPO / "sample" / "textbooks").rglob("*") if p.is_file())
    chunks = chunk_batch(files, TextbookChunkingConfig().spec())[0]
    seeds = (
        load_seed_file(REPO / "sample" / "seeds" / "medqa_demo.jsonl", "demo").rows
        + load_seed_file(REPO / "sample" / "benchmarks" / "medqa" / "bundled_4_options_test.jsonl", "demo").rows
    )
    jobs = []  # (kind, source, messages, expected language)
    for i in range(k):
        c = chunks[i % len(chunks)]
        op = OPERATORS[i % len(OPERATORS)]
        jobs.append(
            ("textbook_question", f"{c['record_id']}:{op}", evol_messages(op, c["heading_path"], c["text"]), "en")
        )
    for s in seeds[:k]:
        jobs.append(("open_rewrite", s["record_id"], rewrite_messages(s["stem"], s["language"]), s["language"]))
    for s in seeds[:k]:
        gt = next(o["text"] for o in s["options"] if o["letter"] in s["answer_letters"])
        jobs.append(("sft_rewrite", s["record_id"], sft_messages(s["stem"], transcript(s, gt), gt), s["language"]))
    for i in range(k):
        rec = EMRS[i % len(EMRS)]
        jobs.append(("jmed_question", f"emr{i % len(EMRS)}", question_messages(rec), rec["language"]))
    for s in seeds[:k]:
        jobs.append(("chosen_completion", s["record_id"], open_messages(s["stem"]), s["language"]))

    torch.set_num_threads(args.threads)  # a shared 2-core machine: one thread wastes less time waiting
    llm = LLMResource(model=BUILTIN_MODEL, device="cpu", use_cache=False)
    rows, t0 = [], time.perf_counter()
    # short prompts first: a run stopped early still has every kind but the longest
    for kind in ("open_rewrite", "jmed_question", "chosen_completion", "sft_rewrite", "textbook_question"):
        mine = [j for j in jobs if j[0] == kind]
        # the stages' default sampling (greedy: textbook_questions, open rewrite first round, demo run configs)
        params = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, seed=0)
        gens = llm.generate([j[2] for j in mine], params)
        for (kind_, source, _, lang), g in zip(mine, gens):
            raw = g[0].text
            if kind_ == "textbook_question":
                qa = parse_qa(raw)
                texts = {"question": qa[0], "answer": qa[1]} if qa else {"raw": raw}
            elif kind_ == "open_rewrite":
                texts = {"question": clean_rewrite(raw)}
            elif kind_ == "sft_rewrite":
                parsed = parse_response(raw)
                texts = {"think": parsed[0]} if parsed else {"raw": raw}
            else:
                texts = {"text": raw.strip()}
            rows.append(
                {
                    "kind": kind_,
                    "source": source,
                    "language": lang,
                    "finish_reason": g[0].finish_reason,
                    "texts": texts,
                    "label": None,
                    "note": "",
                }
            )
        print(f"{kind}: {len(mine)} generations, {time.perf_counter() - t0:.0f}s", flush=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        with open(OUT, "w", encoding="utf-8") as fh:  # after every kind: a killed run keeps what it made
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT.relative_to(REPO)} (model {llm.model_id}@{llm.model_revision})")


if __name__ == "__main__":
    main()
