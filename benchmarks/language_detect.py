"""Cost of the one language detector (common/text/language.py) per call, before and after its shortcuts.

"before": ``reference_detect`` over py3langid's shipped identifier (float16 table), i.e. the detector as it was;
"after, first sight": ``detect_language`` on a text it has not seen (ASCII shortcut, float32 table);
"after, seen again": the same text a second time in the process (the memo; the chain detects each open question
twice and each reasoning text twice). Texts: the real samples under $CITRUS_DATA or ../shared/data, by kind.
Answers are compared text by text (any difference is printed and fails the run).

    python -m benchmarks.language_detect [--out benchmarks/results/language_detect.md] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

from citrus_assets.common.text import language as L


def data_root() -> Path:
    return Path(os.environ.get("CITRUS_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def sample_texts(root: Path) -> dict[str, list[str]]:
    """Real texts by kind (questions, options, explanations, abstracts, dialogues, instructions, web pages)."""
    b = root / "benchmarks"
    out: dict[str, list[str]] = {}

    def jsonl(p: Path) -> list[dict]:
        return [json.loads(ln) for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]

    if (p := b / "medqa" / "us_4_options_test.jsonl").exists():
        rows = jsonl(p)
        out["MedQA question (en)"] = [r["question"] for r in rows]
        out["MedQA option (en)"] = [str(v) for r in rows for v in r["options"].values()]
    if (p := b / "medmcqa" / "dev.jsonl").exists():
        rows = jsonl(p)
        out["MedMCQA question (en)"] = [r["question"] for r in rows]
        out["MedMCQA explanation (en)"] = [r["exp"] for r in rows if r.get("exp")]
    if (p := b / "pubmedqa" / "ori_pqal.json").exists():
        rows = list(json.loads(p.read_text(encoding="utf-8")).values())
        out["PubMedQA abstract (en)"] = [" ".join(r["CONTEXTS"]) for r in rows]
    if (p := b / "medbullets" / "medbullets_op4.csv").exists():
        with p.open(encoding="utf-8", newline="") as f:
            out["MedBullets explanation (en)"] = [r["explanation"] for r in csv.DictReader(f) if r.get("explanation")]
    if (p := b / "mmlu_pro" / "health_test.sample.jsonl").exists():
        out["MMLU-Pro question (en)"] = [r["question"] for r in jsonl(p)]
    if (p := root / "dialogues" / "covid_dialogue_zh.sample.json").exists():
        rows = json.loads(p.read_text(encoding="utf-8"))
        out["COVID dialogue (zh)"] = [" ".join(map(str, r.get("Dialogue") or [])) for r in rows]
    if (p := root / "dialogues" / "chatdoctor_synthetic.sample.json").exists():
        rows = json.loads(p.read_text(encoding="utf-8"))
        out["ChatDoctor answer (en)"] = [r["output"] for r in rows if r.get("output")]
    if (p := root / "instructions" / "medical_sft_zh.sample.jsonl").exists():
        out["medical SFT turn (zh)"] = [t["value"] for r in jsonl(p) for t in r["conversations"] if t.get("value")]
    if (p := root / "web" / "cc_en_head-0091.jsonl").exists():
        out["Common Crawl page"] = [r["text"] for r in jsonl(p)]
    return {k: v for k, v in out.items() if v}


def shipped_identifier():
    """py3langid's model exactly as it ships (float16 table): the detector before the float32 widening."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _us_per_call(fn, texts: list[str], repeat: int) -> float:
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best.append((time.perf_counter() - t0) / len(texts) * 1e6)
    return statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="benchmarks/results/language_detect.md")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root = data_root()
    kinds = sample_texts(root)
    if not kinds:
        raise SystemExit(f"no sample texts under {root} (set CITRUS_DATA)")
    old = shipped_identifier()
    L.load_langid()
    rows, differ = [], 0
    for kind, texts in kinds.items():
        before = [L.reference_detect(t, old) for t in texts]
        L._memo.clear()
        after = [L.detect_language(t) for t in texts]
        differ += sum(a != b for a, b in zip(before, after))
        t_before = _us_per_call(lambda t: L.reference_detect(t, old), texts, args.repeat)

        def first_sight(t: str) -> str:
            L._memo.clear()
            return L.detect_language(t)

        t_first = _us_per_call(first_sight, texts, args.repeat)
        L._memo.clear()
        for t in texts:
            L.detect_language(t)
        t_seen = _us_per_call(L.detect_language, texts, args.repeat)
        ascii_share = sum(t.isascii() for t in texts) / len(texts)
        chars = statistics.mean(len(t) for t in texts)
        rows.append((kind, len(texts), chars, ascii_share, t_before, t_first, t_seen))
        print(kind, len(texts), f"{t_before:.0f} -> {t_first:.0f} / {t_seen:.1f} us", flush=True)
    load = os.getloadavg()
    lines = [
        "# Language detector: cost per call (benchmarks/language_detect.py)",
        "",
        f"Load (1/5/15 min) at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (shared 2-core machine: "
        "compare the columns of one row, not rows across runs). Median of "
        f"{args.repeat} passes. Answers that differ between before and after: **{differ}** of "
        f"{sum(len(v) for v in kinds.values()):,} texts.",
        "",
        "| texts | n | mean chars | ASCII share | before us/call | after, first sight us/call | after, seen again "
        "us/call | first sight / before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, n, chars, share, tb, tf, ts in rows:
        lines.append(
            f"| {kind} | {n:,} | {chars:,.0f} | {share:.0%} | {tb:.0f} | {tf:.0f} | {ts:.1f} | {tf / tb:.2f}x |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    if differ:
        raise SystemExit(f"{differ} answers differ")


if __name__ == "__main__":
    main()
