"""N MedQA-style seed questions as one JSONL file in the inbox format ``load_medqa_jsonl`` reads.

Every question is a short clinical vignette of one of the conditions in ``CONDITIONS`` (age, sex, vital
signs and lab values drawn from a generator seeded by the question's index, so the file is the same
for the same ``n`` and ``seed``), asked as "Which of the following is the most likely diagnosis?" with
four options (the condition and three others). Each vignette names its condition's key finding;
``fake_server.condition_of`` recognises it in any prompt that quotes the question, which is how the
fake server knows the truth without a lookup table.

    python -m benchmarks.scale.seeds --n 10000 --out /tmp/inbox/scale_10k.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


class Condition(NamedTuple):
    diagnosis: str
    finding: str  # a phrase only this condition's vignettes contain
    lab: str  # "{v}" is replaced by a value drawn from (lo, hi)
    lo: float
    hi: float


CONDITIONS: tuple[Condition, ...] = (
    Condition("Iron deficiency anemia", "brittle nails and heavy menstrual periods", "serum ferritin {v} ng/mL", 2, 9),
    Condition("Inferior myocardial infarction", "ST elevation in leads II, III and aVF", "troponin I {v} ng/mL", 2, 40),
    Condition(
        "Poststreptococcal glomerulonephritis",
        "cola-colored urine two weeks after a sore throat",
        "serum C3 {v} mg/dL",
        20,
        60,
    ),
    Condition("Graves disease", "a diffuse non-tender goiter and proptosis", "free T4 {v} ng/dL", 3, 7),
    Condition("Diabetic ketoacidosis", "fruity breath and Kussmaul respirations", "serum glucose {v} mg/dL", 350, 700),
    Condition(
        "Acute pancreatitis",
        "epigastric pain radiating to the back after heavy drinking",
        "serum lipase {v} U/L",
        600,
        3000,
    ),
    Condition("Pulmonary embolism", "sudden pleuritic chest pain after a long flight", "D-dimer {v} ng/mL", 900, 4000),
    Condition("Bacterial meningitis", "neck stiffness and a petechial rash", "CSF neutrophils {v} cells/uL", 900, 5000),
    Condition("Addison disease", "hyperpigmented palmar creases and salt craving", "serum sodium {v} mmol/L", 121, 131),
    Condition(
        "Cushing syndrome", "purple abdominal striae and a round face", "late-night salivary cortisol {v} ug/dL", 1, 5
    ),
    Condition("Hypothyroidism", "cold intolerance, constipation and delayed ankle reflexes", "TSH {v} mU/L", 12, 80),
    Condition(
        "Acute appendicitis",
        "periumbilical pain that moved to the right lower quadrant",
        "white cell count {v} x10^9/L",
        12,
        19,
    ),
    Condition("Nephrolithiasis", "colicky flank pain radiating to the groin", "urine red cells {v} per hpf", 10, 60),
    Condition("Gout", "a hot swollen first metatarsophalangeal joint overnight", "serum urate {v} mg/dL", 8, 12),
    Condition("Myasthenia gravis", "ptosis and diplopia that worsen towards evening", "vital capacity {v} L", 2, 4),
    Condition(
        "Guillain-Barre syndrome",
        "ascending weakness with absent reflexes after diarrhea",
        "CSF protein {v} mg/dL",
        80,
        300,
    ),
    Condition(
        "Infective endocarditis", "a new murmur, splinter hemorrhages and fever in a drug user", "CRP {v} mg/L", 60, 250
    ),
    Condition(
        "Aortic dissection",
        "tearing chest pain radiating to the back with unequal arm pressures",
        "D-dimer {v} ng/mL",
        1500,
        6000,
    ),
    Condition(
        "Celiac disease",
        "chronic diarrhea and an itchy vesicular rash on the elbows",
        "tissue transglutaminase IgA {v} U/mL",
        40,
        200,
    ),
    Condition(
        "Sarcoidosis", "bilateral hilar lymphadenopathy and painful red shin nodules", "serum calcium {v} mg/dL", 10, 13
    ),
    Condition("Tuberculosis", "night sweats, weight loss and an upper-lobe cavity", "ESR {v} mm/h", 40, 110),
    Condition(
        "Pheochromocytoma", "episodic headaches, palpitations and sweating", "plasma metanephrines {v} pg/mL", 300, 2000
    ),
    Condition(
        "Multiple sclerosis",
        "painful loss of vision in one eye and earlier leg numbness",
        "CSF oligoclonal bands {v}",
        2,
        9,
    ),
    Condition("Hemochromatosis", "bronze skin, diabetes and joint pain", "transferrin saturation {v}%", 55, 95),
)
CARRIERS = (
    "presents with",
    "comes to the clinic with",
    "is brought to the emergency department with",
    "reports a week of",
)


def make_question(i: int, seed: int = 0) -> dict:
    """Question ``i`` of the set (a MedQA JSONL record)."""
    rng = random.Random(f"{seed}:{i}")
    c = CONDITIONS[i % len(CONDITIONS)]
    age, sex = rng.randint(18, 89), rng.choice(("man", "woman"))
    hr, temp = rng.randint(58, 132), round(rng.uniform(36.2, 39.8), 1)
    sbp, dbp = rng.randint(90, 170), rng.randint(50, 100)
    value = round(rng.uniform(c.lo, c.hi), 1)
    lab = c.lab.format(v=value)
    stem = (
        f"A {age}-year-old {sex} {rng.choice(CARRIERS)} {c.finding}. Pulse is {hr}/min, temperature {temp} °C "
        f"and blood pressure {sbp}/{dbp} mm Hg. Laboratory studies show {lab}. "
        f"Which of the following is the most likely diagnosis?"
    )
    others = [d.diagnosis for d in CONDITIONS if d.diagnosis != c.diagnosis]
    texts = rng.sample(others, 3) + [c.diagnosis]
    rng.shuffle(texts)
    options = dict(zip("ABCD", texts))
    letter = "ABCD"[texts.index(c.diagnosis)]
    return {
        "question": stem,
        "options": options,
        "answer": c.diagnosis,
        "answer_idx": letter,
        "meta_info": f"scale-synthetic-{seed}",
    }


def iter_questions(n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` distinct questions (a repeated vignette is skipped and the next index taken)."""
    seen: set[str] = set()
    i = 0
    while len(seen) < n:
        q = make_question(i, seed)
        i += 1
        if q["question"] in seen:
            continue
        seen.add(q["question"])
        yield q


def write_seeds(path: str | Path, n: int, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for q in iter_questions(n, seed):
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, required=True, help="number of questions")
    ap.add_argument("--out", required=True, help="JSONL file to write (e.g. <inbox>/scale_10k.jsonl)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(write_seeds(a.out, a.n, a.seed))


if __name__ == "__main__":
    main()
