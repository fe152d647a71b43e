"""Rule-based de-identification of consultation text (English and Chinese), applied before anything
downstream of the raw ``dialogues`` asset is stored.

Each rule replaces what it finds with a typed placeholder; rules run in this order (longer, more
specific patterns first, so an 18-digit ID is not read as a phone number):

=========  =====================================================================  ============
type       what is found                                                          placeholder
=========  =====================================================================  ============
EMAIL      ``user@host.tld``                                                      ``[EMAIL]``
DOB        "DOB", "date of birth", "born on/in" + a date; "出生日期" + a date;       ``[DOB]``
           "1990年3月5日出生"; dates: 1985-03-07, 1985/3/7, 03/07/1985,
           "March 7, 1985", "7 March 1985", 1985年3月7日
ID         Chinese resident ID (17 digits + digit/X); US SSN 123-45-6789; a       ``[ID]``
           labelled record number: MRN / medical record no. / record # / patient
           ID / insurance no. / 病历号 / 住院号 / 门诊号 / 病案号 / 身份证(号) / 医保卡号
           + value (the label is kept)
PHONE      international ``+86 138 0013 8000``; Chinese mobile ``1[3-9]\\d{9}``;     ``[PHONE]``
           Chinese landline ``010-12345678``; North American ``(555) 123-4567``,
           ``555-123-4567``, ``555.123.4567``
ADDRESS    English street addresses (number + capitalised words + Street/St/Road/  ``[ADDRESS]``
           Ave/Lane/Drive/Blvd/Way/Court, optional "Apt 4B"); Chinese addresses
           ending in 路/街/道/巷/胡同 + number + 号 (optional 栋/楼/单元/室), with
           any leading 省/市/区/县 parts; a bare 省+市+区/县 sequence
NAME       English: a title (Dr, Mr, Mrs, Ms, Miss, Prof, Nurse) + one or two     ``[NAME]``
           capitalised words (the title is kept); "my name is / I am called /
           this is" + capitalised words. Chinese: 姓名：X, 我叫X, 我是X (2-3
           characters starting with a common surname), a common surname (+ up to
           two characters) before 先生/女士/小姐/医生/大夫/主任/教授/护士/老师
           (the title is kept), and 患者X某
=========  =====================================================================  ============

``find_pii(text)`` runs the same detectors without replacing: the blocking check of
``deidentified_dialogues`` fails the run when it finds anything in the de-identified text.
Known limits: names without a title or a cue phrase ("John said …"), city names alone and free-form
dates without a birth cue are not removed (the paper's data were anonymised upstream, too).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

SURNAMES = ("欧阳|司马|上官|诸葛|王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|高|林|罗|郑|梁|谢|宋|唐|许|韩|冯|"
            "邓|曹|彭|曾|肖|田|董|袁|潘|于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|范|金|石|廖|贾|"
            "夏|韦|付|方|白|邹|孟|熊|秦|邱|江|尹|薛|闫|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵|万|钱|严|覃|武|戴|莫|孔|"
            "汤|焦|常|温|康|施|文|牛|樊|葛|邢|安|齐|易|乔|伍|庞|颜|倪|庄|聂|章|鲁|岳|翟|殷|詹|申|耿|关|兰|焦|俞|左|柳|"
            "甘|祝|包|宁|尚|符|舒|阮|柯|纪|梅|童|凌|毕|单|季|裴|霍|涂|成|苗|谷|盛|曲|翁|冉|骆|蓝|路|游|辛|靳|管|柴|蒙|鲍|"
            "华|喻|祁|蒲|房|滕|屈|饶|解|牟|艾|尤|阳|时|穆|农|司|卓|古|吉|缪|简|车|项|连|芦|麦|褚|娄|窦|戚|岑|景|党|宫|费|"
            "卜|冷|晏|席|卫|米|柏|宗|瞿|桂|全|佟|应|臧|闵|苟|邬|边|卞|姬|师|仇|栾|隋|商|刁|沙|荣|巫|寇|桑|郎|甄|丛|仲|"
            "虞|敖|巩|明|佘|池|查|麻|苑|迟|邝")
_SURNAME_SET = set(SURNAMES.split("|"))
_CN_TITLES = "先生|女士|小姐|医生|大夫|主任|教授|护士|老师"
_NOT_NAME = set("谢问请找给是叫的了和跟向对您你我他她好在吗呢吧啊也都就还说看让被把烦位")
_COMMON_WORDS = ("谢谢", "感谢", "多谢", "当时", "同时", "平时", "及时", "按时", "随时", "临时", "小时", "病房", "那边", "这边",
                 "检查", "主管", "管床", "麻烦")

_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DATE = (r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|" + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|"
         r"\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTHS + r"\.?,?\s+\d{4}|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?)")
_STREET = r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl)"
_CJK = r"[\u4e00-\u9fff]"
_PLACE = r"(?:(?![在住是我的于到从址])[\u4e00-\u9fff])"  # a CJK character that can be part of a place name
_CN_NUM = r"[0-9０-９一二三四五六七八九十百零〇]"

# (type, compiled pattern, group to replace or 0 for the whole match)
RULES: list[tuple[str, re.Pattern, int]] = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), 0),
    ("DOB", re.compile(r"(?:\bDOB\b|\bD\.O\.B\.?|date of birth|\bborn(?: on| in)?)\s*[:：]?\s*(" + _DATE + ")", re.I), 1),
    ("DOB", re.compile(r"出生(?:日期|年月日?)?\s*[:：为是]?\s*(" + _DATE + ")"), 1),
    ("DOB", re.compile(r"(" + _DATE + r")\s*出生"), 1),
    ("ID", re.compile(r"(?<![0-9])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9])"), 0),
    ("ID", re.compile(r"(?<![0-9])\d{3}-\d{2}-\d{4}(?![0-9])"), 0),
    ("ID", re.compile(r"(?:\bMRN\b|medical record (?:no\.?|number|#)|\brecord (?:no\.?|number|#)|patient id|"
                      r"insurance (?:no\.?|number|id)|\bSSN\b|病历号|住院号|门诊号|病案号|身份证号?码?|医保卡号|就诊卡号)"
                      r"\s*(?:is\s*)?[:：#]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,})", re.I), 1),
    ("PHONE", re.compile(r"\+\d{1,3}[\s-]?(?:\(\d{1,4}\)[\s-]?)?\d{2,4}(?:[\s-]?\d{2,4}){1,3}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])1[3-9]\d[\s-]\d{4}[\s-]\d{4}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])0\d{2,3}-\d{7,8}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9\w])(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?![0-9])"), 0),
    ("ADDRESS", re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}" + _STREET + r"\b\.?(?:,?\s*(?:Apt|Apartment|Unit|Suite)\.?\s*\w+)?"), 0),
    ("ADDRESS", re.compile(r"(?:" + _PLACE + r"{1,8}?(?:省|市|自治区|区|县)){0,3}" + _PLACE + r"{1,10}?(?:路|街|大道|道|巷|胡同)"
                           + _CN_NUM + r"+号(?:院)?(?:" + _CN_NUM + r"+(?:号楼|栋|幢|楼|单元|室|层))*"), 0),
    ("ADDRESS", re.compile(_PLACE + r"{2,6}?(?:省|自治区)" + _PLACE + r"{2,6}?市" + _PLACE + r"{1,6}?(?:区|县)"), 0),
    ("NAME", re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|Nurse)\.?\s+([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?(?:\s+[A-Z][a-z]+)?)"), 1),
    ("NAME", re.compile(r"\b(?:[Mm]y name is|[Mm]y name's|I am called|I'm called|[Nn]ame\s*[:：])\s*"
                        r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"), 1),
    ("NAME", re.compile(r"(?:姓名|患者姓名|名字)\s*[:：是叫为]?\s*(" + _CJK + r"{2,4})"), 1),
    ("NAME", re.compile(r"(?:我叫|我的名字是|本人|我是)((?:" + SURNAMES + r")" + _CJK + r"{1,2})(?=[，,。.！!；;\s]|$)"), 1),
    ("NAME", re.compile(r"患者((?:" + SURNAMES + r")某某?)"), 1),
]
_EN_TITLE_WORDS = {"Doctor", "Patient", "The", "I", "A"}


def _cn_titled_names(text: str) -> list[tuple[int, int]]:
    """Spans of names written before a Chinese title (see the module docstring): of the 1-3 characters
    before the title that start with a surname, the shortest one that starts at a boundary (start,
    punctuation or a function character such as 谢/请/是); a span ending in a common word (谢谢医生,
    病房医生, 当时医生) is no name."""
    spans = []
    for m in re.finditer(_CN_TITLES, text):
        p = m.start()
        if any(text[max(0, p - len(w)):p] == w for w in _COMMON_WORDS):
            continue
        cands = []
        for k in (1, 2, 3):
            cand = text[max(0, p - k):p]
            if len(cand) < k or not all(re.match(_CJK, c) for c in cand):
                break
            if (cand[0] in _SURNAME_SET or cand[:2] in _SURNAME_SET) and not any(c in _NOT_NAME for c in cand[1:]):
                before = text[p - k - 1] if p - k - 1 >= 0 else ""
                cands.append((k, not before or not re.match(_CJK, before) or before in _NOT_NAME))
        pick = next((k for k, boundary in cands if boundary), cands[0][0] if cands and cands[0][0] == 1 else None)
        if pick:
            spans.append((p - pick, p))
    return spans


def _matches(text: str) -> list[tuple[str, int, int]]:
    """Non-overlapping (type, start, end) findings, earlier rules winning over later ones."""
    found: list[tuple[str, int, int]] = []
    taken = [False] * (len(text) + 1)

    def add(kind: str, s: int, e: int) -> None:
        if s < e and not any(taken[s:e]):
            found.append((kind, s, e))
            for i in range(s, e):
                taken[i] = True

    for kind, pattern, group in RULES:
        for m in pattern.finditer(text):
            if kind == "NAME" and group and m.group(group).split()[0] in _EN_TITLE_WORDS:
                continue
            add(kind, m.start(group), m.end(group))
    for s, e in _cn_titled_names(text):
        add("NAME", s, e)
    return sorted(found, key=lambda f: f[1])


def find_pii(text: str) -> list[tuple[str, str]]:
    """(type, matched text) of everything the rules would still replace."""
    return [(kind, text[s:e]) for kind, s, e in _matches(text or "")]


def scrub(text: str) -> tuple[str, Counter]:
    """``text`` with every finding replaced by its placeholder, and the counts per type."""
    counts: Counter = Counter()
    out, last = [], 0
    for kind, s, e in _matches(text or ""):
        out.append(text[last:s])
        out.append(f"[{kind}]")
        counts[kind] += 1
        last = e
    out.append((text or "")[last:])
    return "".join(out), counts


def scrub_turns(turns: list[dict], scrubber: Callable[[str], tuple[str, Counter]] = scrub) -> tuple[list[dict], Counter]:
    total: Counter = Counter()
    out = []
    for t in turns:
        clean, counts = scrubber(t["text"])
        total.update(counts)
        out.append({"role": t["role"], "text": clean})
    return out, total
