"""Benchmark: the decontamination index's recall, false-positive rate and throughput.

Index: MedQA test (1,273) + MMLU anatomy/clinical knowledge/medical genetics + MMLU-Pro health (the
real files under ``$CITRUS_DATA/benchmarks``, else ``../shared/data/benchmarks``) + 36 made-up Chinese
exam items of CMExam shape (``benchmarks/data/cmexam_like_zh.csv``, read by the project's CMExam loader).

* **Recall on planted contamination** — for every indexed item (MedQA: the first 400), one document per
  variant: exact copy (stem + "A) text" options), case/whitespace/punctuation edits, options re-lettered and
  re-ordered, the project's MCQ prompt (``citrus_mcq_user``), the project's open prompt (``citrus_open_user``)
  with the answer in the assistant turn (an SFT row), and the item embedded in a paragraph of other text.
  A hit is a match naming the planted item.
* **False positives on clean text** — against a MedQA-test-only index: MedBullets, MMLU medical, MMLU-Pro
  health, MedMCQA dev (other benchmarks' items, rendered with their options); the four journal PDFs (whole
  documents and their paragraphs, extracted with the project's extractor); made-up vignettes written with
  USMLE boilerplate; and against the Chinese index, the real Chinese dialogues and instructions.
  MedBullets contains real near-copies of MedQA items: an independent test (word 5-gram Jaccard >= 0.25
  with some MedQA item, computed here without the index) labels them, and they count as true positives,
  not false ones.
* **Parameter sweeps** (each with the others at their defaults): the n-gram ``n_cjk`` for Chinese, the
  short-item floor ``min_tokens``, the coverage ``min_coverage`` and the document-frequency cutoff ``max_df``.
* **The previous rule** (datatrove ``simplify_text``: numbers -> 0; any one 13-gram; items under 13 words
  skipped; stem and options joined) on the same sets, for comparison.
* **Throughput** — indexing and checking, docs/s, vs bare datatrove hashing (``simplify_text`` + word
  tokenizer + 13-grams + xxhash64) of the same texts.

    .venv/bin/python -m benchmarks.decontamination
"""

from __future__ import annotations

import os
import platform
import random
import re
import time
from pathlib import Path

from citrus_assets.common.decontamination.index import NGramIndex, items_from_seeds
from citrus_assets.common.prompts import load_prompt
from citrus_assets.reasoning_data.seeds.loaders import load_seed_file

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "decontamination.md"
ZH_ITEMS = REPO / "benchmarks" / "data" / "cmexam_like_zh.csv"
MEDQA = "medqa/us_4_options_test.jsonl"
MMLU = ["mmlu/anatomy_test.csv", "mmlu/clinical_knowledge_test.csv", "mmlu/medical_genetics_test.csv"]
MMLU_PRO = "mmlu_pro/health_test.sample.jsonl"
rng = random.Random(13)


# -- rendering ---------------------------------------------------------------------------------------
def opts_block(row, letters="ABCDEFGHIJKLMNOPQRSTU", fmt="{L}. {t}", order=None):
    opts = row["options"] if order is None else [row["options"][i] for i in order]
    return "\n".join(fmt.format(L=L, t=o["text"]) for L, o in zip(letters, opts))


def answer_text(row):
    opts = {o["letter"]: o["text"] for o in row["options"]}
    return next((opts[a] for a in row["answer_letters"] if a in opts), "")


def edit_case_ws_punct(text: str) -> str:
    text = text.upper() if rng.random() < 0.5 else text.lower()
    # punctuation before a space may go or change; punctuation inside a token only changes (deleting the
    # ";" of "14;21" would make another number)
    text = re.sub(r"[,;:](?=\s)", lambda m: rng.choice([" ,", "", " -", "，"]), text)
    text = re.sub(r"[,;:](?=\S)", lambda m: rng.choice([" , ", "/", "，"]), text)
    text = re.sub(r"\.(\s)", lambda m: rng.choice(["!", " .", "..."]) + m.group(1), text)
    return re.sub(r" ", lambda m: rng.choice([" ", "  ", "\n", "\t "]), text)


def variants(row) -> dict[str, str]:
    stem = "\n".join(p for p in (row["stem"], row.get("context") or "") if p)
    n = len(row["options"])
    order = list(range(n))
    rng.shuffle(order)
    mcq, open_ = load_prompt("citrus_mcq_user"), load_prompt("citrus_open_user")
    ans = answer_text(row)
    return {
        "exact copy": stem + "\n" + opts_block(row, fmt="{L}) {t}"),
        "case/whitespace/punctuation": edit_case_ws_punct(stem + "\n" + opts_block(row)),
        "re-lettered + re-ordered options": stem + "\n" + opts_block(row, "abcdefghijklmnopqrstu", "({L}) {t}", order),
        "project MCQ prompt": mcq.render(question=stem, options=opts_block(row)),
        "project open prompt + answer": open_.render(question=stem) + f"\n<think>...</think><answer>{ans}</answer>",
        "embedded in a paragraph": "Practice question from my notes, see below.\n\n"
        + stem
        + " "
        + ans
        + "\n\nI found this one hard; the explanation follows next week.",
    }


def rendered(row) -> str:
    return "\n".join(p for p in (row["stem"], row.get("context") or "") if p) + "\n" + opts_block(row)


# -- made-up clean vignettes (boilerplate shared with USMLE items, content not) ----------------------
OPENINGS = [
    "A {age}-year-old woman is brought to the emergency department because of {c}",
    "A {age}-year-old man comes to the physician because of {c}",
    "A {age}-year-old man is brought to the emergency department {m} minutes after {e}",
    "A {age}-year-old woman comes to the physician for a follow-up examination. She has {c}",
    "A previously healthy {age}-year-old boy is brought to the physician by his mother because of {c}",
]
COMPLAINTS = [
    "a 3-day history of fever and productive cough",
    "worsening shortness of breath for 2 weeks",
    "intermittent palpitations for 1 month",
    "a painless neck mass",
    "episodic headaches and sweating",
    "a rash on the lower legs",
    "progressive fatigue and weight loss",
    "low back pain after lifting",
    "difficulty swallowing solids",
    "blurred vision in the left eye",
    "swelling of both ankles",
]
EVENTS = [
    "falling from a ladder",
    "a motorcycle collision",
    "a syncopal episode at work",
    "ingesting an unknown liquid",
]
VITALS = (
    "Her temperature is {t}°C ({f}°F), pulse is {p}/min, respirations are {r}/min, and blood pressure is "
    "{s}/{d} mm Hg. Oxygen saturation is {o}% on room air. Physical examination shows {x}."
)
FINDINGS = [
    "crackles at the right lung base",
    "a grade 2/6 systolic murmur at the apex",
    "pitting edema to the knees",
    "a firm nontender thyroid nodule",
    "decreased breath sounds on the left",
    "no abnormalities",
]
QUESTIONS = [
    "Which of the following is the most likely diagnosis?",
    "Which of the following is the most appropriate next step in management?",
    "Which of the following is the most likely underlying cause of this patient's condition?",
]


def made_up_vignettes(k: int) -> list[str]:
    out = []
    for _ in range(k):
        t = round(rng.uniform(36.5, 39.5), 1)
        v = [
            rng.choice(OPENINGS).format(
                age=rng.randint(18, 85), c=rng.choice(COMPLAINTS), m=rng.randint(10, 60), e=rng.choice(EVENTS)
            )
            + ".",
            "He has a history of hypertension treated with lisinopril."
            if rng.random() < 0.5
            else "She has type 2 diabetes mellitus and takes metformin.",
            VITALS.format(
                t=t,
                f=round(t * 9 / 5 + 32),
                p=rng.randint(60, 130),
                r=rng.randint(12, 28),
                s=rng.randint(90, 170),
                d=rng.randint(50, 100),
                o=rng.randint(88, 99),
                x=rng.choice(FINDINGS),
            ),
            f"Laboratory studies show a hemoglobin concentration of {round(rng.uniform(8, 16), 1)} g/dL and a leukocyte count of {rng.randint(3000, 18000)}/mm3.",
            rng.choice(QUESTIONS),
        ]
        out.append(" ".join(v))
    return out


# -- an independent near-duplicate label (not the index) ----------------------------------------------
def shingles(text: str, k: int = 5) -> set:
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[i : i + k]) for i in range(len(w) - k + 1)}


def near_duplicates(rows, ref_rows, threshold=0.25) -> set[str]:
    inv: dict[str, set[int]] = {}
    ref = [shingles(r["stem"]) for r in ref_rows]
    for j, s in enumerate(ref):
        for g in s:
            inv.setdefault(g, set()).add(j)
    out = set()
    for r in rows:
        s = shingles(r["stem"])
        cand: dict[int, int] = {}
        for g in s:
            for j in inv.get(g, ()):
                cand[j] = cand.get(j, 0) + 1
        if any(c / len(s | ref[j]) >= threshold for j, c in cand.items() if s):
            out.add(r["record_id"])
    return out


# -- the previous rule (datatrove normalization, any one 13-gram) ------------------------------------
class PreviousRule:
    def __init__(self):
        from datatrove.utils.hashing import HashConfig, create_hash_func
        from datatrove.utils.text import TextNormConfig, ngrams, simplify_text
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        self.norm, self.cfg, self.ngrams = simplify_text, TextNormConfig(), ngrams
        self.tok, self.hash, self.refs = load_word_tokenizer("en"), create_hash_func(HashConfig()), set()

    def words(self, text):
        return [w for w in self.tok.word_tokenize(self.norm(text, self.cfg)) if w.strip()]

    def hashes(self, text):
        return [self.hash(" ".join(g)) for g in self.ngrams(self.words(text), 13)]

    def add(self, rows):
        for r in rows:
            self.refs.update(
                self.hashes("\n".join([r["stem"], r.get("context") or ""] + [o["text"] for o in r["options"]]))
            )

    def contaminated(self, text):
        return any(h in self.refs for h in self.hashes(text))


def pct(a, b):
    return f"{a}/{b} ({a / b:.2%})" if b else "—"


def main() -> None:
    data = Path(os.environ.get("CITRUS_DATA") or REPO.parent / "shared" / "data")
    bench = data / "benchmarks"
    if not (bench / MEDQA).is_file():
        raise SystemExit(f"no MedQA test file under {bench}: set CITRUS_DATA")
    load = lambda rel, name: load_seed_file(bench / rel, name).rows  # noqa: E731
    medqa = load(MEDQA, "medqa")
    mmlu = [r for f in MMLU for r in load(f, "mmlu")]
    mmlu_pro = load(MMLU_PRO, "mmlu_pro")
    zh = load_seed_file(ZH_ITEMS, "cmexam_like").rows
    sets = {"medqa": medqa, "mmlu": mmlu, "mmlu_pro": mmlu_pro, "zh (CMExam-like)": zh}
    lines = [
        "# Decontamination: recall, false positives, throughput",
        "",
        f"`python -m benchmarks.decontamination`, {platform.processor() or platform.machine()}, one process; "
        "index rules in `citrus_assets/common/decontamination/index.py`.",
        "",
    ]

    def build(**params):
        idx = NGramIndex(**params)
        for name, rows in sets.items():
            idx.add(items_from_seeds(rows, name))
        return idx

    # ---------------------------------------------------------------- recall
    t0 = time.perf_counter()
    index = build()
    t_index = time.perf_counter() - t0
    n_indexed_items = sum(len(r) for r in sets.values())
    planted: list[tuple[str, str, str, str]] = []  # (set, variant, item id, text)
    for name, rows in sets.items():
        for r in rows[:400] if name == "medqa" else rows:
            planted += [(name, v, r["record_id"], t) for v, t in variants(r).items()]
    # items with the same normalised stem (MMLU-Pro re-uses MMLU items) are one item to the index: a match
    # naming any of them catches the document
    key_of = {r["record_id"]: " ".join(NGramIndex.words(r["stem"])) for rows in sets.values() for r in rows}
    per: dict[tuple[str, str], list[int]] = {}
    t0 = time.perf_counter()
    missed = []
    for name, v, rid, text in planted:
        ok = any(key_of.get(m.item_id) == key_of[rid] for m in index.match(text, limit=10))
        c = per.setdefault((name, v), [0, 0])
        c[0] += ok
        c[1] += 1
        if not ok:
            missed.append((name, v, text[:120]))
    t_check_planted = time.perf_counter() - t0
    prev = PreviousRule()
    for rows in sets.values():
        prev.add(rows)
    prev_per: dict[str, list[int]] = {}
    for name, _variant, _rid, text in planted:
        c = prev_per.setdefault(name, [0, 0])
        c[0] += prev.contaminated(text)
        c[1] += 1
    hit, tot = sum(c[0] for c in per.values()), sum(c[1] for c in per.values())
    lines += [
        "## Recall on planted contamination (goal >= 0.99)",
        "",
        f"Index: {index.n_items} of {n_indexed_items} items indexed ({index.skipped} without evidence), "
        f"{len(index):,} hashes; parameters {index.params()}.",
        "",
        "| set | variant | caught |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {v} | {pct(*c)} |" for (s, v), c in sorted(per.items())]
    lines += [
        "",
        f"**Overall recall: {pct(hit, tot)}.** Previous rule on the same documents: "
        + ", ".join(f"{s} {pct(*c)}" for s, c in prev_per.items())
        + ".",
        "",
    ]
    if missed:
        lines += ["Missed (first 10):", ""] + [f"- {s} / {v}: `{t!r}`" for s, v, t in missed[:10]] + [""]

    # ---------------------------------------------------------------- false positives
    mq_index = NGramIndex()
    mq_index.add(items_from_seeds(medqa, "medqa"))
    prev_mq = PreviousRule()
    prev_mq.add(medqa)
    medbullets = load("medbullets/medbullets_op4.csv", "medbullets")
    dups = near_duplicates(medbullets, medqa)
    clean = {
        "MedBullets (near-copies of MedQA excluded)": [rendered(r) for r in medbullets if r["record_id"] not in dups],
        "MMLU anatomy/clinical knowledge/medical genetics": [rendered(r) for r in mmlu],
        "MMLU-Pro health": [rendered(r) for r in mmlu_pro],
        "MedMCQA dev": [rendered(r) for r in load("medmcqa/dev.jsonl", "medmcqa")],
    }
    from citrus_assets.cpt_corpus.pdf.extract import extract_pdf

    pdf_docs, pdf_paras = [], []
    for p in sorted((data / "pdfs").glob("*.pdf")):
        row, _ = extract_pdf(p)
        if row:
            text = row["body"] + "\n" + "\n".join(row.get("tables_markdown") or [])
            pdf_docs.append(text)
            pdf_paras += [x for x in re.split(r"\n\s*\n", text) if len(x.split()) >= 20]
    clean["journal PDFs (whole documents)"] = pdf_docs
    clean["journal PDFs (paragraphs >= 20 words)"] = pdf_paras
    clean["made-up USMLE-style vignettes"] = made_up_vignettes(300)
    lines += [
        "## False positives on clean text (goal <= 1%)",
        "",
        "Against a MedQA-test-only index (1,273 items).",
        "",
        "| clean set | flagged | previous rule |",
        "|---|---|---|",
    ]
    fp_tot = [0, 0]
    t0 = time.perf_counter()
    n_checked = 0
    for name, docs in clean.items():
        flagged = sum(1 for d in docs if mq_index.contaminated(d))
        n_checked += len(docs)
        fp_tot[0] += flagged
        fp_tot[1] += len(docs)
        lines.append(
            f"| {name} | {pct(flagged, len(docs))} | {pct(sum(prev_mq.contaminated(d) for d in docs), len(docs))} |"
        )
    t_check_clean = time.perf_counter() - t0
    mb_dup_rows = [r for r in medbullets if r["record_id"] in dups]
    caught_dups = sum(1 for r in mb_dup_rows if mq_index.contaminated(rendered(r)))
    # Chinese clean text vs the Chinese items
    zh_index = NGramIndex()
    zh_index.add(items_from_seeds(zh, "zh"))
    zh_clean = zh_clean_texts(data) + made_up_zh_vignettes(300)
    zh_flag = sum(1 for t in zh_clean if zh_index.contaminated(t))
    fp_tot[0] += zh_flag
    fp_tot[1] += len(zh_clean)
    lines += [
        f"| Chinese: real dialogues + instructions, 300 made-up vignettes with exam boilerplate, vs the 36 Chinese items | {pct(zh_flag, len(zh_clean))} | — |",
        "",
        f"**Overall false-positive rate: {pct(*fp_tot)}.**",
        "",
        f"MedBullets rows that are near-copies of a MedQA item (independent 5-gram Jaccard >= 0.25): "
        f"{len(mb_dup_rows)}; the index flags {caught_dups} of them (true positives, not counted above).",
        "",
    ]

    # ---------------------------------------------------------------- sweeps
    lines += [
        "## Parameter sweeps",
        "",
        "Recall: planted variants of the named set; FP: the clean sets above (English: MedBullets, MMLU, "
        "MMLU-Pro, MedMCQA, PDFs, vignettes vs MedQA; Chinese: real Chinese text vs the 36 items).",
        "",
        "| parameter | value | recall | false positives |",
        "|---|---|---|---|",
    ]
    en_clean = [d for docs in clean.values() for d in docs]

    def recall_of(idx, names):
        docs = [(rid, t) for s, _, rid, t in planted if s in names]
        return pct(
            sum(any(key_of.get(m.item_id) == key_of[rid] for m in idx.match(t, limit=10)) for rid, t in docs), len(docs)
        )

    # Chinese: edits that change characters (one in every k replaced), clean text, and each item against an
    # index of the other 35 (they share exam boilerplate)
    def zh_edit(t: str, k: int) -> str:
        return "".join("某" if i % k == k - 1 else c for i, c in enumerate(t))

    for fixed in ({}, {"min_coverage": 0.0}):
        for v in (4, 5, 6, 8, 10, 12, 16):
            zi = NGramIndex(n_cjk=v, **fixed)
            zi.add(items_from_seeds(zh, "zh"))
            edits = []
            for k in (8, 12, 20):
                docs = [(r["record_id"], zh_edit(r["stem"], k) + "\n" + answer_text(r)) for r in zh]
                edits.append(f"1/{k}: {sum(any(m.item_id == rid for m in zi.match(t)) for rid, t in docs)}")
            loo = 0
            for i, r in enumerate(zh):
                other = NGramIndex(n_cjk=v, **fixed)
                other.add(items_from_seeds(zh[:i] + zh[i + 1 :], "zh"))
                loo += other.contaminated(rendered(r))
            lines.append(
                f"| n_cjk (Chinese characters){' (min_coverage 0)' if fixed else ''} | {v} | "
                f"{recall_of(zi, {'zh (CMExam-like)'})}; of 36 with characters replaced {', '.join(edits)} | "
                f"{pct(sum(zi.contaminated(t) for t in zh_clean), len(zh_clean))}; items vs the other 35: "
                f"{loo}/36 |"
            )
    for v in (3, 4, 6, 8, 10):
        idx = NGramIndex(min_tokens=v)
        idx.add(items_from_seeds(medqa, "medqa"))
        mi = NGramIndex(min_tokens=v)
        for name in ("mmlu", "mmlu_pro", "zh (CMExam-like)"):
            mi.add(items_from_seeds(sets[name], name))
        short_fp = pct(
            sum(mi.contaminated(t) for t in clean["MedMCQA dev"] + zh_clean), len(clean["MedMCQA dev"]) + len(zh_clean)
        )
        lines.append(
            f"| min_tokens (short-item floor) | {v} | {recall_of(mi, {'mmlu', 'mmlu_pro', 'zh (CMExam-like)'})} "
            f"({mi.skipped} items below the floor) | {short_fp} (MedMCQA + Chinese text vs MMLU/MMLU-Pro/zh) |"
        )
    for key, values, fixed in (
        ("min_coverage", (0.0, 0.1, 0.2, 0.3), {}),
        ("max_df", (1, 2, 4, 8, 1000), {}),
        ("max_df (min_coverage 0)", (1, 2, 4, 8, 1000), {"min_coverage": 0.0}),
        ("max_df (min_coverage 0, min_hits 1)", (1, 2, 4, 8, 1000), {"min_coverage": 0.0, "min_hits": 1}),
    ):
        for v in values:
            idx = NGramIndex(**{key.split(" ")[0]: v}, **fixed)
            idx.add(items_from_seeds(medqa, "medqa"))
            lines.append(
                f"| {key} | {v} | {recall_of(idx, {'medqa'})} | "
                f"{pct(sum(idx.contaminated(d) for d in en_clean), len(en_clean))} |"
            )
    lines += [
        "",
        f"Document frequency of MedQA-test 13-grams (items holding the n-gram or its shape with other "
        f"numbers): {mq_index.df_histogram()}.",
        "",
    ]

    # ---------------------------------------------------------------- throughput
    item_texts = [t.text for name, rows in sets.items() for t in items_from_seeds(rows, name)]
    docs = en_clean
    t0 = time.perf_counter()
    for t in item_texts:
        prev.hashes(t)
    t_bare_items = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in docs:
        prev.hashes(d)
    t_bare_docs = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in docs:
        index.match(d)
    t_match = time.perf_counter() - t0
    chars = sum(map(len, docs))
    lines += [
        "## Throughput (one core)",
        "",
        "| step | texts | this index | bare datatrove hashing (simplify_text + word tokenizer + 13-grams + xxhash64) | ratio |",
        "|---|---|---|---|---|",
        f"| index benchmark items | {len(item_texts):,} | {len(item_texts) / t_index:,.0f} items/s | "
        f"{len(item_texts) / t_bare_items:,.0f} items/s | {t_bare_items / t_index:.2f}x |",
        f"| check documents ({chars / len(docs):,.0f} chars mean) | {len(docs):,} | {len(docs) / t_match:,.0f} docs/s | "
        f"{len(docs) / t_bare_docs:,.0f} docs/s | {t_bare_docs / t_match:.2f}x |",
        "",
        f"(Planted-recall pass: {len(planted):,} documents in {t_check_planted:.1f} s; clean pass "
        f"{n_checked:,} documents in {t_check_clean:.1f} s.)",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


ZH_OPEN = [
    "患者，{sex}，{age}岁。{c}{d}。",
    "患儿，{sex}，{age}岁。{c}{d}，伴{s}。",
    "患者，{sex}，{age}岁，因{c}{d}入院。",
]
ZH_C = ["反复咳嗽、咳痰", "间断腹痛", "头晕、乏力", "双下肢水肿", "胸闷、气短", "皮肤黄染", "关节疼痛", "发热"]
ZH_D = ["3天", "2周", "半年", "5年", "1个月", "10小时"]
ZH_S = ["恶心呕吐", "食欲下降", "盗汗", "体重减轻", "尿少"]
ZH_X = [
    "查体：体温{t}℃，脉搏{p}次/分，血压{b}/{d} mmHg，双肺呼吸音清。",
    "实验室检查：血红蛋白{h} g/L，白细胞{w}×10^9/L。",
]
ZH_Q = ["最可能的诊断是", "首选的检查是", "下一步最恰当的处理是", "该患者最可能的病因是"]


def made_up_zh_vignettes(k: int) -> list[str]:
    """Chinese exam-style vignettes: the 36 items' boilerplate ("患者，男，45岁。…最可能的诊断是"), other content."""
    out = []
    for _ in range(k):
        v = rng.choice(ZH_OPEN).format(
            sex=rng.choice("男女"), age=rng.randint(1, 85), c=rng.choice(ZH_C), d=rng.choice(ZH_D), s=rng.choice(ZH_S)
        )
        v += "".join(
            x.format(
                t=round(rng.uniform(36.2, 39.8), 1),
                p=rng.randint(60, 130),
                b=rng.randint(90, 170),
                d=rng.randint(50, 100),
                h=rng.randint(70, 160),
                w=round(rng.uniform(3, 18), 1),
            )
            for x in ZH_X
        )
        out.append(v + rng.choice(ZH_Q))
    return out


def zh_clean_texts(data: Path) -> list[str]:
    import json

    out = []
    p = data / "dialogues" / "covid_dialogue_zh.sample.json"
    if p.is_file():
        for d in json.loads(p.read_text(encoding="utf-8")):
            out.append("\n".join([d.get("Description", "")] + list(d.get("Dialogue") or [])))
    p = data / "instructions" / "medical_sft_zh.sample.jsonl"
    if p.is_file():
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append("\n".join(c.get("value", "") for c in json.loads(line).get("conversations", [])))
    return out


if __name__ == "__main__":
    main()
