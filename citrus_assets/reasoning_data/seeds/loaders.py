"""Loaders for every published benchmark question format, all producing ``seeds.SEED_SCHEMA`` rows.

Each ``load_*(path, seed_set, uri=None, split=None, ...) -> LoadResult`` streams its file, builds
every row with ``seeds.make_seed`` (validation, stable content-derived ``record_id``, source-id
parent), quarantines what cannot be read (file = ``uri``, locator = line/row/key, reason) and counts
identical records as duplicates. ``split`` given wins; otherwise it comes from the file name
(``loaders_io.split_from_name``) with a per-format default. ``language`` is detected from the text
(``seeds.detect_language``) unless the format fixes it (CMMLU/CMExam ``zh``, CareQA ``_es``/``_en``).

LOADERS key  format                                                             source
medqa_jsonl  MedQA JSONL, 4/5 options (``question``, ``options{A..}``, ``answer_idx``) medqa
medmcqa      MedMCQA JSONL/CSV (``question``, ``opa..opd``, ``cop``, ``exp``, ...)  medmcqa
pubmedqa     PubMedQA ``ori_pqal.json`` (id -> {QUESTION, CONTEXTS, ...}) or HF rows pubmedqa
mmlu_csv     MMLU CSV without header: question, A, B, C, D, answer letter        mmlu
mmlu_json    MMLU HF rows (``question``, ``choices``, ``answer`` 0-based, ``subject``) mmlu
mmlu_pro     MMLU-Pro JSONL, up to 10 options (dict or list; ``answer_idx``/``answer_index``/``answer``)
medagentsbench  MedAgentsBench's repackaging (``realidx``, ``question``, ``options{A..}``, ``answer_idx``) of
             AfriMed-QA, MedQA, MedMCQA, PubMedQA, MMLU, MMLU-Pro, MedBullets, ...      the benchmark held
             (``loaders_detect.medagents_benchmark``; meta keeps ``packaging`` and ``benchmark``)
medbullets   MedBullets CSV with header (``opa..opd``/``ope``, ``answer_idx``, ``answer``)
careqa       CareQA (``question``, ``op1..op4``, ``cop`` 1-based, ``year``, ``category``)
jmed         JMED (``id``, ``department``, ``question``, ``options`` A..U, ``answer`` one or several)
cmmlu        CMMLU CSV (``,Question,A,B,C,D,Answer``)                                language zh
cmexam       CMExam CSV (``Question``, ``Options`` "A 选项1\\nB 选项2", ``Answer`` letters) language zh
mapped       any JSONL/JSON/CSV through a ``FieldMapping`` (argument or hidden sidecar
             ``.<file name>.mapping.json`` next to the file)

Field names are matched case-insensitively; a JSON object of records (``{id: {...}}``) exposes its
keys as the ``_key`` field.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citrus_assets.reasoning_data.seeds import loaders_io as io
from citrus_assets.reasoning_data.seeds.loaders_detect import (
    MEDAGENTSBENCH,
    mapping_sidecar,
    medagents_benchmark,
    sniff_format,
)
from citrus_assets.reasoning_data.seeds.loaders_io import (
    collect,
    letters_of,
    letters_of_index,
    letters_of_text,
    options_from,
    record_units,
    require,
    split_from_name,
    text,
)
from citrus_assets.reasoning_data.seeds.seed_files import LOADERS, BadRecord, LoadResult, load_medqa_jsonl

_PUBMEDQA_LETTERS = {"yes": "A", "no": "B", "maybe": "C"}


def _uri(path: Path, uri: str | None) -> str:
    return uri or path.name


def _meta(o: dict, *names: str) -> dict:
    return {n: o[n] for n in names if o.get(n) not in (None, "")}


def _run(
    path: Path,
    build: Callable[[Any], dict | None],
    *,
    seed_set: str,
    source: str,
    uri: str | None,
    split: str | None,
    default_split: str,
    language: str | None = None,
    header: bool = True,
) -> LoadResult:
    return collect(
        record_units(path, header=header),
        build,
        uri=_uri(path, uri),
        seed_set=seed_set,
        source=source,
        split=split or split_from_name(path, default_split),
        language=language,
    )


# ---------------------------------------------------------------- MedQA (the reasoning_data/seeds/seed_files.py loader)
def load_medqa(path: Path, seed_set: str, uri: str | None = None, split: str | None = None) -> LoadResult:
    """MedQA: JSONL goes to ``seeds.load_medqa_jsonl`` (split from the file name, default train);
    the same records as a JSON array go through the options-record builder."""
    split = split or split_from_name(path, "train")
    if path.suffix.lower() == ".jsonl" or io._looks_like_jsonl(path):
        return load_medqa_jsonl(path, seed_set, uri=uri, split=split)
    return _run(path, _options_record, seed_set=seed_set, source="medqa", uri=uri, split=split, default_split="train")


# ---------------------------------------------------------------- MedMCQA
def medmcqa_cop_base(path: Path, default: int = 1) -> int:
    """The ``cop`` base of one MedMCQA file: the original release is 1-based (1-4), HF-style copies
    0-based (0-3). Any ``cop`` 0 (and none 4) -> 0; any 4 (and none 0) -> 1; otherwise (only 1-3, or
    both 0 and 4) ``default``; rows that do not fit the base are quarantined."""
    seen: set[int] = set()
    for u in record_units(path):
        if isinstance(u.value, dict):
            cop = next((v for k, v in u.value.items() if str(k).lower() == "cop"), None)
            if text(cop) in ("0", "4", "0.0", "4.0"):
                seen.add(int(float(text(cop))))
                if len(seen) == 2:
                    break
    return 0 if seen == {0} else 1 if seen == {4} else default


def load_medmcqa(
    path: Path,
    seed_set: str,
    uri: str | None = None,
    split: str | None = None,
    cop_base: int | None = None,
    default_cop_base: int = 1,
) -> LoadResult:
    """MedMCQA (JSONL, JSON or CSV): options ``opa..opd``, answer ``cop``, whose base is detected per
    file (``medmcqa_cop_base``; an ambiguous file gets ``default_cop_base``, 1 = the original release)
    unless ``cop_base`` is given. ``choice_type`` "multi" items still have one answer. Rows without a
    usable ``cop`` (the public test split has none, or -1) are quarantined."""
    base = cop_base if cop_base is not None else medmcqa_cop_base(path, default_cop_base)

    def build(o: dict) -> dict:
        cop = o.get("cop")
        if text(cop) in ("", "-1"):
            raise BadRecord("no answer ('cop' missing or -1)")
        return dict(
            stem=require(o, "question"),
            options=options_from([o.get(f"op{c}") for c in "abcd"]),
            answers=letters_of_index(cop, base),
            meta={**_meta(o, "id", "subject_name", "topic_name", "choice_type", "exp"), "cop_base": base},
        )

    return _run(path, build, seed_set=seed_set, source="medmcqa", uri=uri, split=split, default_split="train")


# ---------------------------------------------------------------- PubMedQA
def read_split_ids(path: Path) -> set[str]:
    """Ids of a split file: a JSON object (``test_ground_truth.json``: id -> decision) or list."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {str(k) for k in data}


def load_pubmedqa(
    path: Path,
    seed_set: str,
    uri: str | None = None,
    split: str | None = None,
    split_ids_file: Path | None = None,
    other_split: str = "train",
) -> LoadResult:
    """PubMedQA ``ori_pqal.json`` (id -> {QUESTION, CONTEXTS, LABELS, final_decision, LONG_ANSWER,
    MESHES, YEAR}) or HF-style rows (``pubid``, ``question``, ``context{contexts, labels}``, ...).
    Options A yes / B no / C maybe; context = the labelled abstract sections, one per line.
    Split: ``split`` if given; else ids in ``split_ids_file`` (default: a sibling
    ``test_ground_truth.json``, the standard 500-id test split) are "test" and the rest
    ``other_split``; with no split file, from the file name (default train)."""
    ids_file = split_ids_file or path.with_name("test_ground_truth.json")
    test_ids = read_split_ids(ids_file) if (split is None and (split_ids_file or ids_file.is_file())) else None

    def build(o: dict) -> dict:
        ctx = o.get("context") if isinstance(o.get("context"), dict) else o
        ctx = {str(k).lower(): v for k, v in ctx.items()}
        contexts, labels = ctx.get("contexts") or [], ctx.get("labels") or []
        if isinstance(contexts, str):
            contexts = [contexts]
        labels = labels if isinstance(labels, list) and len(labels) == len(contexts) else [""] * len(contexts)
        decision = text(o.get("final_decision")).lower()
        if decision not in _PUBMEDQA_LETTERS:
            raise BadRecord(f"final_decision {decision or None!r} is not yes/no/maybe")
        pid = text(o.get("_key") or o.get("pubid"))
        fields = dict(
            stem=require(o, "question"),
            options={"A": "yes", "B": "no", "C": "maybe"},
            answers=[_PUBMEDQA_LETTERS[decision]],
            context="\n".join(
                f"{text(label)}: {text(c)}" if text(label) else text(c) for label, c in zip(labels, contexts)
            ),
            meta={"pubid": pid, **_meta(o, "long_answer", "year"), **_meta(ctx, "meshes")},
        )
        if test_ids is not None:
            fields["split"] = "test" if pid in test_ids else other_split
        return fields

    return _run(path, build, seed_set=seed_set, source="pubmedqa", uri=uri, split=split, default_split="train")


# ---------------------------------------------------------------- MMLU, MMLU-Pro and option-dict records
def _subject(path: Path) -> str:
    return re.sub(r"_(test|dev|val|validation|train)$", "", path.name.split(".")[0])


def load_mmlu_csv(
    path: Path, seed_set: str, uri: str | None = None, split: str | None = None, subject: str | None = None
) -> LoadResult:
    """MMLU CSV, no header (a ``question,A,B,C,D,answer`` header row is skipped): question, four
    options, answer letter. Subject from the file name (``anatomy_test.csv`` -> anatomy)."""
    subject = subject or _subject(path)

    def build(row: list) -> dict | None:
        if [text(c).lower() for c in row[1:6]] == ["a", "b", "c", "d", "answer"]:
            return None
        if len(row) != 6:
            raise BadRecord(f"{len(row)} columns, expected 6 (question, A, B, C, D, answer)")
        return dict(
            stem=text(row[0]), options=options_from(row[1:5]), answers=letters_of(row[5]), meta={"subject": subject}
        )

    return _run(path, build, seed_set=seed_set, source="mmlu", uri=uri, split=split, default_split="test", header=False)


def _options_record(o: dict) -> dict:
    """Question + ``options`` (dict or list) or ``choices`` (list); answer from ``answer_idx``
    (letter), ``answer_index`` (0-based), else ``answer`` (int: 0-based; letter; or option text)."""
    options = options_from(o.get("options") if o.get("options") is not None else o.get("choices"))
    if text(o.get("answer_idx")):
        answers = letters_of(o["answer_idx"])
    elif text(o.get("answer_index")):
        answers = letters_of_index(o["answer_index"], 0)
    elif isinstance(o.get("answer"), int):
        answers = letters_of_index(o["answer"], 0)
    elif re.fullmatch(r"[A-U]", text(o.get("answer"))):
        answers = [text(o["answer"])]
    elif text(o.get("answer")):
        answers = letters_of_text(o["answer"], options)
    else:
        raise BadRecord("missing answer (answer_idx, answer_index or answer)")
    meta = _meta(o, "realidx", "question_id", "category", "src", "subject", "meta_info")
    return dict(stem=require(o, "question"), options=options, answers=answers, meta=meta)


def load_mmlu_pro(
    path: Path, seed_set: str, uri: str | None = None, split: str | None = None, source: str = "mmlu_pro"
) -> LoadResult:
    """MMLU-Pro: up to 10 options (A..J) as a dict (medagents copy) or list (TIGER-Lab release;
    trailing "N/A" padding dropped); ``category``/``src`` kept in meta."""
    return _run(path, _options_record, seed_set=seed_set, source=source, uri=uri, split=split, default_split="test")


def load_medagentsbench(
    path: Path, seed_set: str, uri: str | None = None, split: str | None = None, benchmark: str | None = None
) -> LoadResult:
    """A MedAgentsBench-packaged file: ``source`` is the benchmark it holds (``benchmark`` given, else told from
    the folder/file name or the fields; ``unknown`` when neither tells), ``meta`` keeps ``packaging``,
    ``benchmark`` and how the benchmark was told, next to ``realidx``."""
    how = "given"
    if not benchmark:
        benchmark, how = medagents_benchmark(path)
    extra = {"packaging": MEDAGENTSBENCH, "benchmark": benchmark, "benchmark_from": how}

    def build(o: dict) -> dict:
        fields = _options_record(o)
        fields["meta"] = {**fields["meta"], **extra}
        return fields

    return _run(path, build, seed_set=seed_set, source=benchmark, uri=uri, split=split, default_split="test")


def load_mmlu_json(path: Path, seed_set: str, uri: str | None = None, split: str | None = None) -> LoadResult:
    """MMLU as Hugging Face rows: ``question``, ``choices`` (list), ``answer`` (0-based), ``subject``."""
    return load_mmlu_pro(path, seed_set, uri=uri, split=split, source="mmlu")


# ---------------------------------------------------------------- MedBullets, CareQA, JMED
def load_medbullets(path: Path, seed_set: str, uri: str | None = None, split: str | None = None) -> LoadResult:
    """MedBullets CSV with header: ``op4`` files have ``opa..opd``, ``op5`` files ``opa..ope``;
    answer ``answer_idx`` (letter), else ``answer`` (option text); ``link``/``explanation`` in meta."""

    def build(o: dict) -> dict:
        options = options_from([o.get(f"op{c}") for c in "abcde" if f"op{c}" in o])
        answers = (
            letters_of(o["answer_idx"]) if text(o.get("answer_idx")) else letters_of_text(require(o, "answer"), options)
        )
        return dict(stem=require(o, "question"), options=options, answers=answers, meta=_meta(o, "link", "explanation"))

    return _run(path, build, seed_set=seed_set, source="medbullets", uri=uri, split=split, default_split="test")


def load_careqa(
    path: Path, seed_set: str, uri: str | None = None, split: str | None = None, language: str | None = None
) -> LoadResult:
    """CareQA (HF ``HPAI-BSC/CareQA``; JSON/JSONL/CSV): ``question``, ``op1..op4``, ``cop`` 1-based,
    ``exam_id``, ``year``, ``category``, ``unique_id``. Language from the name (``CareQA_es`` -> es)."""
    m = re.search(r"(?:^|[^a-z])(en|es)(?:[^a-z]|$)", path.name.lower())
    language = language or (m.group(1) if m else None)

    def build(o: dict) -> dict:
        keys = sorted((k for k in o if re.fullmatch(r"op\d+", k)), key=lambda k: int(k[2:]))
        if text(o.get("cop")) == "":
            raise BadRecord("missing field 'cop'")
        return dict(
            stem=require(o, "question"),
            options=options_from([o[k] for k in keys]),
            answers=letters_of_index(o["cop"], 1),
            meta=_meta(o, "exam_id", "unique_id", "year", "category"),
        )

    return _run(
        path, build, seed_set=seed_set, source="careqa", uri=uri, split=split, default_split="test", language=language
    )


def load_jmed(path: Path, seed_set: str, uri: str | None = None, split: str | None = None) -> LoadResult:
    """JMED: ``id``, ``department``, ``question``, ``options`` (A..U: dict, or list of texts), answer in
    ``answer``/``answers``/``answer_idx``: one or several letters ("A,C", "AC", ["A", "C"])."""

    def build(o: dict) -> dict:
        answer = next((o[k] for k in ("answer", "answers", "answer_idx") if text(o.get(k))), None)
        if answer is None:
            raise BadRecord("missing field 'answer'")
        return dict(
            stem=require(o, "question"),
            options=options_from(o.get("options")),
            answers=letters_of(answer),
            meta=_meta(o, "id", "department"),
        )

    return _run(path, build, seed_set=seed_set, source="jmed", uri=uri, split=split, default_split="test")


# ---------------------------------------------------------------- Chinese CSVs
def load_cmmlu(
    path: Path, seed_set: str, uri: str | None = None, split: str | None = None, subject: str | None = None
) -> LoadResult:
    """CMMLU CSV (header ``,Question,A,B,C,D,Answer``; first column a row index). Subject from the
    file name, split from the name or its ``dev``/``test`` folder (default test); language zh."""
    subject = subject or _subject(path)

    def build(o: dict) -> dict:
        letters = [k for k in "abcdefghijklmnopqrstu" if k in o]
        return dict(
            stem=require(o, "question"),
            options=options_from([o[k] for k in letters]),
            answers=letters_of(require(o, "answer")),
            meta={"subject": subject},
        )

    return _run(
        path, build, seed_set=seed_set, source="cmmlu", uri=uri, split=split, default_split="test", language="zh"
    )


def load_cmexam(path: Path, seed_set: str, uri: str | None = None, split: str | None = None) -> LoadResult:
    """CMExam CSV: ``Question``, ``Options`` ("A 选项1\\nB 选项2..."), ``Answer`` (one or several
    letters, "AC"), ``Explanation`` and the annotation columns (kept in meta); language zh."""

    def build(o: dict) -> dict:
        meta = {k: text(v) for k, v in o.items() if k not in ("question", "options", "answer") and text(v)}
        return dict(
            stem=require(o, "question"),
            options=options_from(require(o, "options")),
            answers=letters_of(require(o, "answer")),
            meta=meta,
        )

    return _run(
        path, build, seed_set=seed_set, source="cmexam", uri=uri, split=split, default_split="train", language="zh"
    )


# ---------------------------------------------------------------- generic, config-driven
@dataclass(frozen=True)
class FieldMapping:
    """Where the parts of a question are in a custom file. ``options``: a list of option fields
    (A, B, ... in order; trailing empty ones dropped) or one field holding a letter->text dict, a list
    or an "A x\\nB y" block. ``answer_format``: letter (one or several), index0, index1 or text.
    ``context`` may name several fields (joined by newlines); ``id``/``meta`` fields go to meta;
    ``split`` names a per-row split field. Headerless CSV (``header=False``): fields are "0", "1", ..."""

    stem: str
    options: list[str] | str
    answer: str
    answer_format: str = "letter"
    context: str | list[str] | None = None
    id: str | None = None
    split: str | None = None
    meta: tuple[str, ...] = ()
    header: bool = True

    def __post_init__(self):
        if self.answer_format not in ("letter", "index0", "index1", "text"):
            raise ValueError(f"answer_format must be letter, index0, index1 or text, got {self.answer_format!r}")

    @classmethod
    def from_dict(cls, d: dict) -> FieldMapping:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown FieldMapping keys {sorted(unknown)}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if k == "meta" else v for k, v in d.items()})


def load_mapped(
    path: Path,
    seed_set: str,
    mapping: FieldMapping | None = None,
    uri: str | None = None,
    split: str | None = None,
    source: str | None = None,
    language: str | None = None,
) -> LoadResult:
    """Any JSONL/JSON/CSV file through a ``FieldMapping`` (argument, else the file's sidecar)."""
    if mapping is None:
        cfg = json.loads(mapping_sidecar(path).read_text(encoding="utf-8"))
        source, language = source or cfg.pop("source", None), language or cfg.pop("language", None)
        mapping = FieldMapping.from_dict(cfg)
    m = mapping
    lower = lambda f: f.lower()  # noqa: E731  (collect lower-cases record keys)

    def build(o: dict | list) -> dict:
        if isinstance(o, list):
            o = {str(i): v for i, v in enumerate(o)}
        if isinstance(m.options, str):
            if o.get(lower(m.options)) in (None, ""):
                raise BadRecord(f"missing field '{m.options}'")
            options = options_from(o[lower(m.options)])
        else:
            options = options_from([o.get(lower(f)) for f in m.options])
        answer = o.get(lower(m.answer))
        if answer in (None, "", []):
            raise BadRecord(f"missing field '{m.answer}'")
        answers = (
            letters_of(answer)
            if m.answer_format == "letter"
            else letters_of_text(answer, options)
            if m.answer_format == "text"
            else letters_of_index(answer, int(m.answer_format[-1]))
        )
        ctx_fields = [m.context] if isinstance(m.context, str) else list(m.context or [])
        fields = dict(
            stem=require(o, lower(m.stem)),
            options=options,
            answers=answers,
            context="\n".join(text(o.get(lower(f))) for f in ctx_fields if text(o.get(lower(f)))),
            meta={f: o[lower(f)] for f in ([m.id] if m.id else []) + list(m.meta) if lower(f) in o},
        )
        if m.split and text(o.get(lower(m.split))):
            fields["split"] = text(o[lower(m.split)])
        return fields

    return _run(
        path,
        build,
        seed_set=seed_set,
        source=source or "custom",
        uri=uri,
        split=split,
        default_split="train",
        language=language,
        header=m.header,
    )


LOADERS.update(
    {
        "medqa_jsonl": load_medqa,
        "medmcqa": load_medmcqa,
        "pubmedqa": load_pubmedqa,
        "mmlu_csv": load_mmlu_csv,
        "mmlu_json": load_mmlu_json,
        "mmlu_pro": load_mmlu_pro,
        "medbullets": load_medbullets,
        "careqa": load_careqa,
        "jmed": load_jmed,
        "cmmlu": load_cmmlu,
        "cmexam": load_cmexam,
        "mapped": load_mapped,
        MEDAGENTSBENCH: load_medagentsbench,
    }
)


def detect_format(path: Path) -> str:
    """Pick a loader from the file's content, then its name (rules in ``loaders_detect``)."""
    return sniff_format(path)


def load_seed_file(path: Path, seed_set: str) -> LoadResult:
    """Load any published benchmark file: the format is detected from its content (``detect_format``)."""
    return LOADERS[detect_format(path)](path, seed_set)


__all__ = [
    "FieldMapping",
    "detect_format",
    "load_careqa",
    "load_cmexam",
    "load_cmmlu",
    "load_jmed",
    "load_mapped",
    "load_medagentsbench",
    "load_medbullets",
    "load_medmcqa",
    "load_medqa",
    "load_mmlu_csv",
    "load_mmlu_json",
    "load_mmlu_pro",
    "load_pubmedqa",
    "load_seed_file",
    "mapping_sidecar",
    "medmcqa_cop_base",
    "read_split_ids",
    "sniff_format",
]
