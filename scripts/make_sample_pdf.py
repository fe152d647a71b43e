"""Writes the bundled sample PDF (sample/pdfs/batch_001/): a short two-column clinical note with a
running header and footer, page numbers, a hyphenated line end, a table, a figure caption and a
references section — the layout features the PDF extraction handles. Text written for this project."""

from pathlib import Path

import pymupdf

OUT = Path(__file__).resolve().parent.parent / "sample" / "pdfs" / "batch_001" / "hypertension_primer.pdf"

LEFT = [
    "Hypertension is the most common modifiable risk",
    "factor for stroke, myocardial infarction and chronic",
    "kidney disease. Office blood pressure should be",
    "measured after five minutes of rest, with a well",
    "sized cuff, on two occasions before a diag-",
    "nosis is made. Home or ambulatory monitoring",
    "confirms the diagnosis and detects white coat",
    "hypertension, which is common in older adults.",
    "Secondary causes deserve attention in young",
    "patients, in resistant hypertension and when",
    "hypokalemia is present: primary aldosteronism,",
    "renal artery stenosis and sleep apnea.",
]
RIGHT = [
    "Lifestyle measures lower systolic pressure by",
    "several mm Hg each: sodium restriction, weight",
    "loss, regular aerobic exercise and less alcohol.",
    "Drug treatment usually starts with a thiazide-like",
    "diuretic, an ACE inhibitor or an angiotensin",
    "receptor blocker, or a calcium channel blocker;",
    "many patients need two drugs. Potassium and",
    "creatinine are checked within four weeks of",
    "starting an ACE inhibitor.",
    "Figure 1. Stepwise treatment of hypertension.",
]
PAGE2_LEFT = [
    "In pregnancy, ACE inhibitors and angiotensin",
    "receptor blockers are contraindicated; labetalol,",
    "nifedipine and methyldopa are preferred. Severe",
    "hypertension with headache or proteinuria sug-",
    "gests preeclampsia and needs urgent assessment.",
]
REFERENCES = [
    "References",
    "1. Example A. Measuring blood pressure.",
    "   J Clin Notes. 2020;1:1-5.",
    "2. Example C. Secondary hypertension.",
    "   Clin Primer. 2021;2:10-20.",
]


def page(doc, number: int, left: list[str], right: list[str], table: bool = False) -> None:
    p = doc.new_page(width=595, height=842)
    p.insert_text((50, 40), "Citrus Lake Clinical Primer - Hypertension", fontsize=8)
    p.insert_text((280, 815), f"Page {number}", fontsize=8)
    if number == 1:
        p.insert_text((50, 80), "Hypertension in adults: a short primer", fontsize=16)
    y = 110
    for line in left:
        p.insert_text((50, y), line, fontsize=9)
        y += 12
    y = 110
    for line in right:
        p.insert_text((310, y), line, fontsize=9)
        y += 12
    if table:
        rows = [
            ("Stage", "Systolic (mm Hg)", "Diastolic (mm Hg)"),
            ("Elevated", "120-129", "<80"),
            ("Stage 1", "130-139", "80-89"),
            ("Stage 2", ">=140", ">=90"),
        ]
        p.insert_text((50, 320), "Table 1. Blood pressure categories in adults.", fontsize=8)
        x0, y0, w, h = 50, 330, 160, 16
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                rect = pymupdf.Rect(x0 + c * w, y0 + r * h, x0 + (c + 1) * w, y0 + (r + 1) * h)
                p.draw_rect(rect, color=(0, 0, 0), width=0.5)
                p.insert_text((rect.x0 + 4, rect.y1 - 4), cell, fontsize=8)


def main() -> None:
    doc = pymupdf.open()
    doc.set_metadata({"title": "Hypertension in adults: a short primer"})
    page(doc, 1, LEFT, RIGHT, table=True)
    page(doc, 2, PAGE2_LEFT, REFERENCES)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc.save(OUT, garbage=4, deflate=True)
    print(OUT.name, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
