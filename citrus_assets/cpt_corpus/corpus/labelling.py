"""Domain, language and token labels for CPT documents (plain functions, no Dagster).

``label_documents`` turns the CPT source assets (``pdf_documents``: column ``body``, references already cut
out into ``references``; ``web_corpus``: column ``text``; ``textbook_chunks``: column ``text``;
``textbook_questions``: columns ``question`` and ``answer``, written as "Question: ...\nAnswer: ..."; optionally a
``textbook`` table with ``text`` or ``body``) into one table, one row per document:

``record_id`` (``record_id("cptdoc", source, parent record id)``), ``parent_ids`` (``[parent record id]``),
``source`` (``web`` | ``pdf`` | ``textbook`` | ``textbook_chunks`` | ``textbook_questions``), ``source_uri``,
``text``, ``domain`` (``medical`` | ``general``),
``domain_score`` (matched medical terms per 100 words), ``language`` (ISO 639-1 code from py3langid),
``n_tokens`` (target-model tokenizer tokens), ``n_chars``.

The domain label is lexical and offline (``MedicalVocabularyScorer``): the paper targets medical text at
about 30% of CPT tokens and ``domain_stats`` reports that share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from citrus_assets.common.text.language import detect_language
from resources.lineage.ids import record_id

KIND = "cptdoc"
MEDICAL = "medical"
GENERAL = "general"
TARGET_MEDICAL_SHARE = 0.30

# Asset / table names accepted by ``label_documents`` -> the short source tag written to the table.
SOURCE_ALIASES = {
    "web": "web",
    "web_corpus": "web",
    "pdf": "pdf",
    "pdf_documents": "pdf",
    "textbook": "textbook",
    "textbooks": "textbook",
    "textbook_chunks": "textbook_chunks",
    "textbook_questions": "textbook_questions",
}

# English medical vocabulary. A trailing ``*`` marks a stem (matches any word starting with it); other terms
# match as whole words with an optional plural ``s``/``es``. Multi-word terms match with any whitespace.
MEDICAL_TERMS_EN: tuple[str, ...] = tuple(
    """
disease* disorder* syndrome* infection* infectious inflammat* cancer* tumor* tumour* carcinoma* lymphoma
leukemia leukaemia melanoma sarcoma metasta* malignan* benign diabet* hypertens* hypotens* asthma pneumonia
tuberculosis influenza covid sars-cov-2 hiv aids hepatitis cirrhosis sepsis septic stroke infarct* ischemi*
ischaemi* arrhythmi* fibrillation tachycardia bradycardia angina atherosclero* thrombo* embolism anemia
anaemia hemorrhag* haemorrhag* obesity dementia alzheimer* parkinson* epilep* seizure* migraine depressi*
schizophreni* bipolar autism arthritis osteoporosis fracture* lesion* ulcer* dermatitis eczema psoriasis
allergy allergic anaphyla* nephropathy neuropathy retinopathy renal kidney* hepatic liver pulmonary lung*
cardiac cardio* heart myocard* coronary aorta aortic arter* vein* venous capillar* blood plasma serum
platelet* erythrocyte* leukocyte* lymphocyte* neutrophil* antibod* antigen* immun* cytokine* pancrea* insulin
glucose glycem* hemoglobin haemoglobin hba1c cholesterol triglyceride* lipid* creatinine bilirubin albumin
electrolyte* sodium potassium biopsy biopsies patholog* histolog* cytolog* radiolog* mri ct scan ultrasound
x-ray radiograph* mammogra* endoscop* colonoscop* electrocardiogram ecg ekg echocardiogra* laborator* assay*
diagnos* prognos* symptom* clinical clinician* clinic* patient* physician* nurse* nursing surgeon* surgery surgeries surgical
hospital* icu inpatient* outpatient* emergency medic* therap* treatment* treat treated pharmac* drug* dose
doses dosage* dosing tablet* capsule* injection* intravenous* oral subcutaneous intramuscular prescri*
antibiotic* antiviral* antifungal* vaccin* chemotherap* radiotherap* immunotherap* analgesic* opioid* morphine
aspirin ibuprofen paracetamol acetaminophen metformin statin* atorvastatin warfarin heparin penicillin
amoxicillin insulin corticosteroid* steroid* prednisone dexamethasone antihypertensive* beta-blocker*
diuretic* anticoagula* inhibitor* placebo randomi* trial* cohort* efficacy adverse contraindicat* toxicit*
mortality morbidity incidence prevalence epidemiolog* etiolog* aetiolog* pathogen* patho* bacteri* virus
viral fung* parasit* microb* gene genes genetic* genom* mutation* chromosom* protein* enzyme* receptor*
hormone* endocrin* thyroid* adrenal cortisol estrogen oestrogen testosterone pituitar* neuron* neurolog*
brain cerebr* spinal nerve* cortex muscle* skelet* bone* joint* cartilage tendon* ligament* abdom* gastr*
intestin* colonic bowel* stomach esophag* oesophag* bladder urin* prostat* uter* ovar* cervi* pregnan*
obstetric* gynec* gynaec* neonat* pediatric* paediatric* geriatric* fetal foetal placenta* lactation
respirat* ventilat* oxygen* intubat* anesthe* anaesthe* sedat* analges* pain fever febrile cough dyspnea
dyspnoea nausea vomit* diarrh* fatigue edema oedema rash* swelling bleeding fibrosis necrosis apoptosis
biomarker* screening mortality rehabilitat* palliative transplant* dialysis catheter* stent* suture* incision*
resection* excision* amputat* laparoscop* cardiolog* oncolog* dermatolog* psychiatr* psycholog* ophthalm*
orthoped* orthopaed* urolog* nephrolog* hematolog* haematolog* gastroenterolog* pulmonolog* rheumatolog*
infectiolog* comorbid* chronic acute remission relapse* recurren* diastolic systolic pulse heartbeat
bmi tissue* cell cells cellular organ organs physiolog* anatom* lymph* tonsil* sinus* bronch* alveol* trache*
""".split()
)

# Chinese medical vocabulary (matched as substrings).
MEDICAL_TERMS_ZH: tuple[str, ...] = tuple(
    """
疾病 病人 患者 医生 医师 护士 医院 门诊 住院 急诊 手术 治疗 诊断 症状 体征 病理 病因 病史 临床 药物 用药 剂量 处方
抗生素 疫苗 化疗 放疗 免疫 感染 炎症 肿瘤 癌症 癌 糖尿病 高血压 低血压 冠心病 心肌梗死 心力衰竭 心律失常 脑卒中 中风
哮喘 肺炎 结核 流感 肝炎 肝硬化 肾病 肾衰竭 贫血 白血病 淋巴瘤 骨折 关节炎 骨质疏松 痴呆 抑郁 癫痫 偏头痛 过敏
心脏 肝脏 肾脏 肺部 大脑 血管 动脉 静脉 血液 血压 血糖 血脂 胆固醇 胰岛素 血红蛋白 白细胞 红细胞 血小板 抗体
抗原 激素 甲状腺 胃肠 肠道 胃炎 溃疡 腹泻 呕吐 恶心 发热 发烧 咳嗽 呼吸困难 疼痛 头痛 乏力 水肿 皮疹 出血
活检 影像 超声 心电图 核磁共振 化验 检验 尿常规 血常规 肌酐 病毒 细菌 真菌 基因 突变 蛋白质 细胞 组织
中医 针灸 中药 方剂 康复 护理 预后 并发症 死亡率 发病率 临床试验 安慰剂 不良反应 禁忌 注射 口服 静脉注射
""".split()
)


_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _term_pattern(term: str) -> str:
    if term.endswith("*"):
        return re.escape(term[:-1]) + r"[a-z0-9\-]*"
    return re.escape(term).replace(r"\ ", r"\s+") + r"(?:s|es)?"


@dataclass
class MedicalVocabularyScorer:
    """Offline lexical medical-domain classifier.

    ``score(text)`` = medical term hits per 100 words, where words are Latin-script words plus CJK
    characters / 2 (a Chinese word is about two characters). English terms match case-insensitively as
    whole words (stems marked ``*`` match any continuation); Chinese terms match as substrings, longest
    term first and without overlap (``心肌梗死`` counts once, not also as ``心``-terms). A document is
    ``medical`` when its score is at least ``threshold``.
    """

    threshold: float = 3.0
    terms_en: Sequence[str] = field(default=MEDICAL_TERMS_EN)
    terms_zh: Sequence[str] = field(default=MEDICAL_TERMS_ZH)

    def __post_init__(self) -> None:
        en = sorted({t.lower() for t in self.terms_en}, key=len, reverse=True)
        self._en_re = (
            re.compile(
                r"(?<![A-Za-z0-9])(?:" + "|".join(_term_pattern(t) for t in en) + r")(?![A-Za-z0-9])", re.IGNORECASE
            )
            if en
            else None
        )
        zh = sorted(set(self.terms_zh), key=len, reverse=True)
        self._zh_re = re.compile("|".join(re.escape(t) for t in zh)) if zh else None

    @staticmethod
    def n_words(text: str) -> float:
        return len(_WORD_RE.findall(text)) + len(_CJK_RE.findall(text)) / 2.0

    def hits(self, text: str) -> int:
        n = len(self._en_re.findall(text)) if self._en_re else 0
        if self._zh_re is not None and _CJK_RE.search(text):
            n += len(self._zh_re.findall(text))
        return n

    def matched_terms(self, text: str) -> list[str]:
        """The medical terms found in ``text`` (lower-cased, in order, with repeats)."""
        found = [m.lower() for m in self._en_re.findall(text or "")] if self._en_re else []
        if self._zh_re is not None and _CJK_RE.search(text or ""):
            found += self._zh_re.findall(text)
        return found

    def score(self, text: str) -> float:
        words = self.n_words(text or "")
        return 0.0 if words == 0 else 100.0 * self.hits(text) / words

    def label(self, text: str) -> tuple[str, float]:
        """(``"medical"`` | ``"general"``, score)."""
        s = self.score(text or "")
        return (MEDICAL if s >= self.threshold else GENERAL), s


def language_tag(text: str) -> str:
    """ISO 639-1 language code of ``text``: the lake's one detector (``common.language``)."""
    return detect_language(text)


def count_tokens(texts: Iterable[str], tokenizer: Any, batch_size: int = 256) -> list[int]:
    """Token counts of ``texts`` with a Hugging Face tokenizer (no special tokens), in batches."""
    texts = [t or "" for t in texts]
    counts: list[int] = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[i : i + batch_size],
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        counts.extend(len(ids) for ids in enc["input_ids"])
    return counts


LABELLED_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("parent_ids", pa.list_(pa.string())),
        ("source", pa.string()),
        ("source_uri", pa.string()),
        ("text", pa.string()),
        ("domain", pa.string()),
        ("domain_score", pa.float64()),
        ("language", pa.string()),
        ("n_tokens", pa.int64()),
        ("n_chars", pa.int64()),
    ]
)


def _doc_text(row: Mapping[str, Any], source: str) -> str:
    if source == "textbook_questions" or ("question" in row and "answer" in row):
        q, a = (row.get("question") or "").strip(), (row.get("answer") or "").strip()
        return f"Question: {q}\nAnswer: {a}" if q and a else ""
    if source == "pdf" or ("body" in row and "text" not in row):
        body = row.get("body") or ""
        refs = row.get("references") or ""
        # pdf_documents already cuts the references out of ``body``; strip them if a producer left them in.
        if refs and body.rstrip().endswith(refs.strip()):
            body = body.rstrip()[: -len(refs.strip())].rstrip()
        return body
    return row.get("text") or row.get("body") or ""


def label_documents(
    tables: Mapping[str, pa.Table], tokenizer: Any, scorer: MedicalVocabularyScorer | None = None
) -> pa.Table:
    """One labelled row per document of every source table (empty texts are dropped)."""
    scorer = scorer or MedicalVocabularyScorer()
    rows: list[dict[str, Any]] = []
    for name, table in tables.items():
        source = SOURCE_ALIASES.get(name)
        if source is None:
            raise ValueError(f"unknown CPT source {name!r}; expected one of {sorted(SOURCE_ALIASES)}")
        cols = [
            c
            for c in ("record_id", "text", "body", "references", "question", "answer", "source_uri")
            if c in table.column_names
        ]
        for row in table.select(cols).to_pylist():
            text = _doc_text(row, source)
            if not text.strip():
                continue
            domain, score = scorer.label(text)
            rows.append(
                {
                    "record_id": record_id(KIND, source, row["record_id"]),
                    "parent_ids": [row["record_id"]],
                    "source": source,
                    "source_uri": row.get("source_uri"),
                    "text": text,
                    "domain": domain,
                    "domain_score": round(score, 4),
                    "language": language_tag(text),
                    "n_chars": len(text),
                }
            )
    counts = count_tokens([r["text"] for r in rows], tokenizer) if rows else []
    for r, n in zip(rows, counts):
        r["n_tokens"] = n
    return pa.Table.from_pylist(rows, schema=LABELLED_SCHEMA)


def domain_stats(table: pa.Table) -> dict[str, Any]:
    """Tokens and documents per source x domain, totals, and the medical token share (target ~0.30)."""
    by: dict[str, dict[str, dict[str, int]]] = {}
    for src, dom, n in zip(
        table.column("source").to_pylist(), table.column("domain").to_pylist(), table.column("n_tokens").to_pylist()
    ):
        cell = by.setdefault(src, {}).setdefault(dom, {"documents": 0, "tokens": 0})
        cell["documents"] += 1
        cell["tokens"] += int(n or 0)
    total = sum(c["tokens"] for d in by.values() for c in d.values())
    medical = sum(d.get(MEDICAL, {}).get("tokens", 0) for d in by.values())
    share = medical / total if total else 0.0
    return {
        "by_source": by,
        "documents": table.num_rows,
        "tokens": total,
        "medical_tokens": medical,
        "medical_share": share,
        "target_medical_share": TARGET_MEDICAL_SHARE,
        "medical_share_gap": share - TARGET_MEDICAL_SHARE if total else math.nan,
    }
