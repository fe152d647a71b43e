"""De-identification of consultation text (English and Chinese), applied before anything downstream of
the raw ``dialogues`` asset is stored, and an independent detector of what it missed.

Two components with DIFFERENT rules (measured in ``benchmarks/deid.py``, results in
``benchmarks/results/deid.md``):

``scrub(text)``
    replaces what it finds with a typed placeholder ([NAME], [PHONE], [ID], [ADDRESS], [EMAIL], [DOB],
    [URL]); titles and labels are kept ("Dr. [NAME]", "[NAME]医生", "病历号：[ID]").

    * Structured PII: regular expressions (e-mail, URL, birth dates with a birth cue, Chinese resident ID,
      SSN, labelled record/insurance numbers, phones, street addresses in both languages).
    * English names: a name is 1-4 capitalised words or initials ("Bhagyesh V. Patel",
      "Anders Mark Christensen") after a title (Dr., Mr., Prof., Nurse ...), a sign-off ("Regards,"),
      a self-introduction ("my name is", "I am", "this is"), a family word ("my husband"), or starting
      with a first name from gender-guesser's dictionary (~40k names, offline). English words that are
      also first names (May, Hope, Will ...), spaCy's stop words and eponyms (a capitalised word before
      disease/syndrome/score/palsy ...: "Parkinson disease", "Apgar score", "Bell's palsy") are not names.
    * Chinese names: jieba's part-of-speech tagger (``posseg``, tag ``nr``) proposes person names; a
      candidate is kept when it starts with a common surname, stands before a title (医生, 大夫, 主任,
      教授 ...), follows a self-introduction (我是/我叫) or a family word (我妈妈), and is neither a place
      (China's administrative divisions shipped by cpca, "桂林人") nor a clinical word (…病, …醇, …蛋白).
      A one-character surname before a title counts only after a boundary or a cue verb (谢谢马医生,
      找王医生), so 出院时医生, 请复查医生, 主任医生 stay intact.

``residual_pii(text)``
    the high-recall detector behind the blocking check and the per-consultation quarantine. It does not
    reuse the scrubber's name rules: any capitalised word after a title or cue, any capitalised word next
    to a [NAME] placeholder ("[NAME] V. Patel"), any dictionary first name that is not sentence-initial,
    any jieba person name or surname-started candidate before a title regardless of segmentation, a
    surname character glued to a placeholder ("晁[NAME]"), 7+ digit runs, '@' addresses and URLs.

Known limits: bare city names and dates without a birth cue are kept; lower-case English names without a
cue ("then john said") are missed by both.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDER = re.compile(r"\[(?:NAME|PHONE|ID|ADDRESS|EMAIL|DOB|URL)\]")

# ----------------------------------------------------------------------------------------- Chinese data
SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|令狐|司徒|夏侯|王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|"
    "高|林|罗|郑|梁|谢|宋|唐|许|韩|冯|邓|曹|彭|曾|肖|田|董|袁|潘|于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|"
    "钟|谭|陆|汪|范|金|石|廖|贾|夏|韦|付|方|白|邹|孟|熊|秦|邱|江|尹|薛|闫|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵|"
    "万|钱|严|覃|武|戴|莫|孔|汤|焦|常|温|康|施|文|牛|樊|葛|邢|安|齐|易|乔|伍|庞|颜|倪|庄|聂|章|鲁|岳|翟|殷|詹|申|耿|"
    "关|兰|俞|左|柳|甘|祝|包|宁|尚|符|舒|阮|柯|纪|梅|童|凌|毕|单|季|裴|霍|涂|成|苗|谷|盛|曲|翁|冉|骆|蓝|路|游|辛|靳|"
    "管|柴|蒙|鲍|华|喻|祁|蒲|房|滕|屈|饶|解|牟|艾|尤|阳|时|穆|农|司|卓|古|吉|缪|简|车|项|连|芦|麦|褚|娄|窦|戚|岑|景|"
    "党|宫|费|卜|冷|晏|席|卫|米|柏|宗|瞿|桂|全|佟|应|臧|闵|苟|邬|边|卞|姬|师|仇|栾|隋|商|刁|沙|荣|巫|寇|桑|郎|甄|丛|"
    "仲|虞|敖|巩|明|佘|池|查|麻|苑|迟|邝|晁|喬|闻|嵇|钮|暴|谈|宦|訾|揭|亓|厉|钭|逯|滑|况|郦|竺|权|蔺|殳"
)
_SURNAME_SET = set(SURNAMES.split("|"))
CN_TITLES = (
    "护士长",
    "主任",
    "医生",
    "大夫",
    "教授",
    "护士",
    "老师",
    "先生",
    "女士",
    "小姐",
    "院长",
    "医师",
    "博士",
    "阿姨",
    "叔叔",
    "老先生",
    "太太",
)
_CN_TITLE_RE = re.compile("|".join(sorted(CN_TITLES, key=len, reverse=True)))
# words before a one-character surname that make it a name (谢谢马医生, 找王医生, 是李主任)
_CN_CUES = (
    "谢谢",
    "感谢",
    "多谢",
    "找",
    "问",
    "请教",
    "请问",
    "是",
    "叫",
    "让",
    "跟",
    "和",
    "给",
    "向",
    "对",
    "听",
    "挂",
    "约",
    "麻烦",
    "的",
    "位",
    "由",
    "被",
    "请",
    "您好",
    "你好",
    "好",
    "患者",
    "病人",
    "预约医生：",
    "主治医生是",
)
_CN_SELF = re.compile(r"(?:我是|我叫|我的名字是|我的名字叫|名叫|叫做|本人是|本人|姓名[:：]?|名字[:：]?|患者姓名[:：]?)")
_CN_FAMILY = (
    "爸爸",
    "妈妈",
    "父亲",
    "母亲",
    "老公",
    "老婆",
    "丈夫",
    "妻子",
    "爱人",
    "儿子",
    "女儿",
    "孩子",
    "哥哥",
    "姐姐",
    "弟弟",
    "妹妹",
    "爷爷",
    "奶奶",
    "外婆",
    "外公",
    "姥姥",
    "姥爷",
    "孙子",
    "孙女",
    "侄子",
    "舅舅",
    "姑姑",
    "宝宝",
    "家属",
    "朋友",
    "同事",
    "邻居",
    "同学",
    "室友",
    "婆婆",
    "公公",
    "岳父",
    "岳母",
)
# nr tokens ending like these are clinical words (帕金森病, 甘露醇, 白蛋白), not names
_CN_CLINICAL_END = (
    "病",
    "症",
    "炎",
    "瘤",
    "癌",
    "醇",
    "酸",
    "素",
    "胺",
    "酶",
    "碱",
    "唑",
    "嗪",
    "酯",
    "苷",
    "蛋白",
    "霉",
    "钠",
    "钾",
    "钙",
    "片",
    "胶囊",
    "注射液",
    "颗粒",
    "综合征",
    "试验",
    "评分",
)
_NOT_NAME_CHARS = set("谢问请找给是叫的了和跟向对您你我他她好在吗呢吧啊也都就还说看让被把烦位医院科室病药")
_CJK = r"[\u4e00-\u9fff]"
_CJK_RE = re.compile(_CJK)


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(60)
    jieba.initialize()
    return jieba, pseg


@lru_cache(maxsize=1)
def cn_places() -> frozenset[str]:
    """China's administrative divisions (cpca's bundled adcodes.csv, read without importing cpca), each
    also without its 省/市/区/县 suffix: 桂林, 南阳, 石家庄."""
    spec = importlib.util.find_spec("cpca")
    names: set[str] = {"中国", "北京", "上海", "天津", "重庆", "香港", "澳门", "台湾"}
    if spec and spec.submodule_search_locations:
        path = os.path.join(spec.submodule_search_locations[0], "resources", "adcodes.csv")
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                n = row["name"]
                names.add(n)
                short = re.sub(
                    r"(特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|自治县|省|市|区|县|盟|旗)$", "", n
                )
                if len(short) >= 2:
                    names.add(short)
    return frozenset(names)


def _is_place(word: str) -> bool:
    places = cn_places()
    w = word[:-1] if word.endswith("人") else word
    return word in places or w in places


def _is_clinical(word: str) -> bool:
    return word.endswith(_CN_CLINICAL_END)


def _is_surnamed(word: str) -> bool:
    return bool(word) and (word[0] in _SURNAME_SET or word[:2] in _SURNAME_SET)


def _dict_word(word: str) -> bool:
    """A word of jieba's dictionary that is not tagged as a person name (复查, 主任, 谢谢 is tagged nr)."""
    jieba, _ = _jieba()
    return bool(jieba.dt.FREQ.get(word)) and word not in _nr_words()


@lru_cache(maxsize=1)
def _nr_words() -> frozenset[str]:
    """Words that jieba's dictionary tags as person names."""
    jieba, _ = _jieba()
    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    with open(path, encoding="utf-8") as f:
        return frozenset(w for w, _f, t in (line.split() for line in f if line.strip()) if t in ("nr", "nrfg", "nrt"))


def _rare_word(word: str, max_freq: int = 300) -> bool:
    """Not a frequent non-name word of jieba's dictionary: 立新 (51) can be a given name, 血压 (622) cannot."""
    jieba, _ = _jieba()
    return word in _nr_words() or (jieba.dt.FREQ.get(word) or 0) < max_freq


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(word, POS flag, start) from jieba.posseg."""
    _, pseg = _jieba()
    out, pos = [], 0
    for p in pseg.cut(text):
        out.append((p.word, p.flag, pos))
        pos += len(p.word)
    return out


def _boundary_before(text: str, s: int) -> bool:
    return s == 0 or not _CJK_RE.match(text[s - 1]) or any(text[max(0, s - len(c)) : s] == c for c in _CN_CUES)


_CN_AGE_AFTER = re.compile(r"^\s*[，,（(]?\s*(?:[男女](?:性)?\s*[，,、）)]|(?:今年|年龄)?\s*\d{1,3}\s*(?:岁|周岁))")
_CN_DRUG_FORM = re.compile(
    r"^(?:口服液|颗粒|片|胶囊|钠|钾|注射液|消炎片|散|丸|滴丸|冲剂|喷雾|软膏|药膏|糖浆|合剂|针|特钠|罗|替尼)"
)
_CN_CUE_BEFORE = (
    "我是",
    "我叫",
    "名是",
    "名叫",
    "叫做",
    "本人",
    "姓名",
    "名字",
    "姓名：",
    "名字：",
    "姓名:",
    "找",
    "患者",
    "病人",
    "预约医生：",
    "医生是",
    "家属",
    "挂",
    "约",
    "请教",
    "联系",
    "问问",
)


def _cn_context(text: str, s: int, e: int, prev_tok: str, next_tok: str) -> bool:
    """Does the text around [s, e) say that a person is named there (title after, self-introduction,
    referral verb or family word before, sex/age after)?"""
    before = text[max(0, s - 6) : s]
    return (
        _CN_TITLE_RE.fullmatch(next_tok or "") is not None
        or before.endswith(_CN_CUE_BEFORE)
        or prev_tok in _CN_FAMILY
        or _CN_AGE_AFTER.match(text[e : e + 8]) is not None
    )


_CN_END = re.compile(r"^(?:$|[，,。.！!；;、:：\s（(]|的|今年|\d+岁|也|最近|一直|总是|做了|得了|有|说|发烧|咳嗽)")


def _family_given(w: str, flag: str) -> bool:
    """A token after a family word that reads as a given name: tagged as a name, reduplicated (乐乐), or a
    rare adjective/idiom/noun of two or three characters (欣怡, 浩然, 建华), never a verb or time word."""
    if not 2 <= len(w) <= 3 or any(c in _NOT_NAME_CHARS for c in w) or _is_place(w) or _is_clinical(w):
        return False
    if flag.startswith("nr") or (len(w) == 2 and w[0] == w[1] and _CJK_RE.match(w[0])):
        return True
    return flag in ("nz", "i", "a", "z", "n", "l") and _rare_word(w, 300) and not _CN_TITLE_RE.fullmatch(w)


def _cn_titled(text: str) -> list[tuple[int, int]]:
    """Surname-started names of 1-3 characters right before a title, found on the characters (jieba may
    cut across them: 郑国/强/大夫), when they start at a boundary or after a cue (谢谢/找/您好/的)."""
    spans = []
    for m in _CN_TITLE_RE.finditer(text):
        p = m.start()
        for k in (3, 2, 1):
            s = p - k
            c = text[max(0, s) : p]
            if s < 0 or not all(_CJK_RE.match(x) for x in c) or not _is_surnamed(c):
                continue
            if any(x in _NOT_NAME_CHARS for x in c[1:]) or _is_place(c) or _is_clinical(c):
                continue
            if k > 1 and not (_rare_word(c) and _rare_word(c[-2:])):
                continue
            if _boundary_before(text, s):
                spans.append((s, p))
                break
    return spans


def _cn_names(text: str) -> list[tuple[int, int]]:
    """Person-name spans: jieba's tagger proposes, the context decides (module docstring). jieba's
    dictionary tags many common words as ``nr`` (明白, 过敏, 康复, 白开水, 布洛芬), so a tagged word
    alone is never enough."""
    if not _CJK_RE.search(text):
        return []
    toks = _tokens(text)
    spans: list[tuple[int, int]] = []
    n = len(toks)
    for i, (w, flag, s) in enumerate(toks):
        nxt = toks[i + 1][0] if i + 1 < n else ""
        prev = toks[i - 1][0] if i else ""
        # jieba glues a surname to a title ("李医生" nr): the name is what precedes the title
        m = re.fullmatch(r"(" + _CJK + r"{1,3}?)(" + _CN_TITLE_RE.pattern + r")", w)
        if (
            m
            and _is_surnamed(m.group(1))
            and (flag.startswith("nr") or _boundary_before(text, s))
            and (len(m.group(1)) == 1 or _rare_word(m.group(1)))
        ):
            spans.append((s, s + len(m.group(1))))
            continue
        if prev in _CN_FAMILY and w not in _CN_FAMILY and _family_given(w, flag):
            spans.append((s, s + len(w)))  # 我女儿乐乐, 我儿子浩然: a given name after a family word
            continue
        if len(w) == 1 or w in _SURNAME_SET:
            # a lone surname + a given name (刘/秀英, 孙/立新 before 大夫), or alone before a title after a cue
            if not (_is_surnamed(w) or flag == "nr"):
                continue
            j, given = i + 1, ""
            while (
                j < n
                and len(given) + len(toks[j][0]) <= 2
                and _CJK_RE.fullmatch(toks[j][0][0])
                and not _CN_TITLE_RE.fullmatch(toks[j][0])
                and toks[j][0] not in _CN_FAMILY
            ):
                given += toks[j][0]
                j += 1
            after = toks[j][0] if j < n else ""
            e = s + len(w) + len(given)
            if (
                given
                and _rare_word(given)
                and not any(c in _NOT_NAME_CHARS for c in given)
                and not _is_clinical(given)
                and not _is_place(w + given)
                and not _CN_DRUG_FORM.match(text[e:])
                and (
                    toks[i + 1][1].startswith("nr")
                    or _CN_TITLE_RE.fullmatch(after)
                    or _cn_context(text, s, e, prev, after)
                )
                and (_boundary_before(text, s) or _cn_context(text, s, e, prev, after))
            ):
                spans.append((s, e))
            elif _CN_TITLE_RE.fullmatch(nxt) and (flag.startswith("nr") or _boundary_before(text, s)):
                spans.append((s, s + len(w)))
            continue
        if (
            not flag.startswith("nr")
            or len(w) > 4
            or _is_place(w)
            or _is_clinical(w)
            or w in ("谢谢", "感谢", "多谢")
            or any(c in _NOT_NAME_CHARS for c in w[1:])
            or _CN_DRUG_FORM.match(text[s + len(w) :])
        ):
            continue
        if (
            _cn_context(text, s, s + len(w), prev, nxt)
            and (_is_surnamed(w) or _rare_word(w, 1000))
            and len(w) <= 3
            and (_CN_TITLE_RE.fullmatch(nxt) or prev in _CN_FAMILY or _CN_END.match(text[s + len(w) :]))
        ):
            spans.append((s, s + len(w)))
    spans += _cn_titled(text)
    # 我哥哥郑国强也…: a family word + surname + 1-2 characters, when jieba cut across the name
    for m in re.finditer(
        r"(?:" + "|".join(_CN_FAMILY) + r")((?:" + SURNAMES + r")" + _CJK + r"{1,2}?)(?=" + _CN_END.pattern[1:] + ")",
        text,
    ):
        w = m.group(1)
        if not _is_place(w) and _rare_word(w) and not _is_clinical(w) and not any(c in _NOT_NAME_CHARS for c in w[1:]):
            spans.append(m.span(1))
    # 患者王某 / 张某某
    for m in re.finditer(r"(?:患者|病人|家属)((?:" + SURNAMES + r")某某?)", text):
        spans.append(m.span(1))
    # 我是/我叫 + surname + 1-2 characters + punctuation, when jieba split the name
    for m in re.finditer(
        r"(?:我叫|我的名字是|我是|本人|姓名[:：]?)((?:" + SURNAMES + r")" + _CJK + r"{1,2})(?=[，,。.！!；;\s、]|$)",
        text,
    ):
        w = m.group(1)
        if not _is_place(w) and _rare_word(w) and not _is_clinical(w) and not any(c in _NOT_NAME_CHARS for c in w[1:]):
            spans.append(m.span(1))
    return spans


# ----------------------------------------------------------------------------------------- English data
_EN_TITLES = r"(?:Dr|Doctor|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Nurse|Sister|Dear)"
_SIGNOFF = (
    r"(?:(?:Best|Kind|Warm|Warmest|With)\s+regards|Regards|Best wishes|Yours(?:\s+(?:sincerely|truly|faithfully))?|"
    r"Sincerely|(?:Many )?[Tt]hanks(?: again| so much| a lot)?|Thank you(?: so much| again)?|Cheers|Take care|Best|"
    r"Warmly|Respectfully|Signed)"
)
_SELF = (
    r"(?:[Mm]y name is|[Mm]y name's|[Mm]y name\s*[:：]|I am called|I'm called|[Nn]ame\s*[:：]|[Cc]all me|I am|I'm"
    r"|[Tt]his is|[Ii]t's|[Ii]t is)"
)
_FAMILY = (
    r"(?:husband|wife|son|daughter|mother|mom|mum|father|dad|brother|sister|grandmother|grandfather|grandma|"
    r"grandpa|granddaughter|grandson|uncle|aunt|cousin|friend|partner|boyfriend|girlfriend|child|baby|niece|nephew|"
    r"fianc[ée]e?|neighbou?r|colleague|caregiver|carer)"
)
_UP, _LO = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
_NAME_TOK = rf"(?:[{_UP}]['’][{_UP}][{_LO}]+|[{_UP}][{_LO}]*[{_UP}]?[{_LO}]+(?:[-'’][{_UP}]?[{_LO}]+)?|[{_UP}]\.)"
_NAME_SEQ = _NAME_TOK + r"(?:\s+" + _NAME_TOK + r"){0,3}"
# English words that gender-guesser also lists as first names, and other capitalised non-names
_EN_COMMON = set(
    """may will hope grace bell faith joy rose iris ivy summer june april august mark bill pat sue don art jack
chase page carol dawn amber ruby crystal holly heather daisy angel sunny honey baby doctor doc hi hello ok okay india
christian china king young long white black brown green gray grey small little rich major sharp case bishop frank
earnest justice sky star river autumn ginger hazel olive pearl jade penny dusty rusty sandy melody harmony destiny
patience prudence charity trinity unity liberty miracle precious princess lady queen sir madam mister miss dear
guy man son sun moon love lucky happy merry christmas easter sunday monday tuesday wednesday thursday friday saturday
january february march july september october november december english american indian chinese spanish muslim
hindu buddhist catholic jewish african asian european british french german italian japanese korean thanks regards
sincerely best kind warm take care cheers patient hospital clinic emergency department center centre medical
university pharmacy lab allergy diabetic type stage grade level covid corona virus god lord jesus allah bless
shall can ill sure fine well good sorry glad tired male female age aged years old weight height oh hey oral
ha hm hmm yeah yep nope wow alright""".split()
)
_PERSON_NEXT = re.compile(
    r"^(?:'s\s+(?:husband|wife|son|daughter|mother|father|mom|dad|brother|sister|baby|child)|"
    r",?\s+(?:said|says|told|asked|wants|thinks|feels|got|gets|took|takes|needs|came|went|"
    r"started|complained|complains|reports|reported|called|woke|cried|coughs|coughed|"
    r"has been|had been|was born|is \d+|aged? \d+|get|take|have|use|see|come|go|be))\b"
)
_EN_NAMEWORDS = set(
    "may will hope grace bell faith joy rose iris ivy summer june april mark bill pat sue don art jack "
    "chase page carol dawn amber ruby crystal holly heather daisy".split()
)
_EPONYM_NEXT = re.compile(
    r"^(?:'s\s+)?\s*(?:disease|syndrome|palsy|score|scale|sign|test|criteria|classification|"
    r"reflex|procedure|maneuver|manoeuvre|lymphoma|sarcoma|tumou?r|phenomenon|law|equation|"
    r"formula|index|grade|stage|ulcer|fracture|cyst|node|nodes|body|bodies|cell|cells|triad|"
    r"sphincter|duct|gland|test|position|method|technique|operation|type|virus|protein|curve|curves|"
    r"monitor|catheter|thyroiditis|esophagus|oesophagus|'s)\b",
    re.I,
)


@lru_cache(maxsize=1)
def _gender_detector():
    import gender_guesser.detector as gd

    return gd.Detector(case_sensitive=False)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


@lru_cache(maxsize=65536)
def is_first_name(word: str) -> bool:
    """gender-guesser knows ``word`` as a first name and it is not a common English word."""
    w = word.lower()
    if len(w) < 2 or w in _EN_COMMON or w in _stop_words():
        return False
    return _gender_detector().get_gender(word.capitalize()) != "unknown"


_INSTITUTION = set(
    "hospital clinic center centre department university medical college health pharmacy lab "
    "and or the of in at on from to with is was has had said says scale score coma syndrome disease "
    "test sign criteria index protein".split()
)


_NEVER_NAME = set(
    "I The A An My Your It He She We They This That And Or But If So Is Was Has Had Can Could Doctor Doc Dr "
    "Sir Madam Nurse Team All Patient Hospital Clinic Department".split()
)


def _ends_run(tok: str) -> bool:
    """Inside a name run ("Anders Mark Christensen", "Nkechi A. Eze") only stop words and institution
    words end it; an initial never does."""
    if re.fullmatch(r"[^\W\d_]\.", tok):
        return False
    w = tok.lower().rstrip(".")
    return w in _stop_words() or w in _INSTITUTION


def _common_cap(tok: str) -> bool:
    w = tok.lower().rstrip(".")
    return w in _EN_COMMON or w in _stop_words()


_TOK_RE = re.compile(_NAME_TOK)


def _name_run(text: str, start: int, max_tokens: int = 4, after_cue: bool = False) -> int:
    """End of the run of name tokens (capitalised words, initials) starting at ``start``; ``start`` if none.
    A run stops at a common word, at punctuation other than an initial's dot, or at an eponym ("Parkinson disease")."""
    pos, end, k = start, start, 0
    while k < max_tokens:
        m = _TOK_RE.match(text, pos)
        tok = m.group(0) if m else ""
        if not m or (tok in _NEVER_NAME if k == 0 and after_cue else _common_cap(tok) if k == 0 else _ends_run(tok)):
            break
        if _EPONYM_NEXT.match(text[m.end() : m.end() + 20]) and not m.group(0).endswith("."):
            break
        end, k = m.end(), k + 1
        ws = re.match(r"[ \t]+", text[end:])
        if not ws:
            break
        pos = end + ws.end()
    # a run of initials only ("A.") is a name only after a title; a trailing initial's dot is kept
    return end


def _en_names(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cues = [
        re.compile(r"\b" + _EN_TITLES + r"\.?\s+"),
        re.compile(r"(?:^|[\n.!?]\s*|,\s*)" + _SIGNOFF + r"\s*[,!.:-]?\s*(?:-+\s*)?(?:" + _EN_TITLES + r"\.?\s+)?"),
        re.compile(r"\b" + _SELF + r"\s+(?:" + _EN_TITLES + r"\.?\s+)?"),
        re.compile(
            r"\b(?:[Mm]y|[Hh]is|[Hh]er|[Oo]ur|[Tt]heir)\s+(?:(?:late|older|younger|elder|little|baby|twin|step|ex)[- ]?)?"
            + _FAMILY
            + r"(?:,\s*|\s+)(?:(?:named|called|is)\s+)?"
        ),
    ]
    for i, cue in enumerate(cues):
        for m in cue.finditer(text):
            s = m.end()
            e = _name_run(text, s, after_cue=i in (0, 1, 3))
            if e <= s:
                continue
            first = text[s:e].split()[0]
            if i == 2 and not (
                is_first_name(first.rstrip(".")) or re.match(r"\s*(?:[,.!?;:]|and\b|here\b|from\b|$)", text[e:])
            ):
                continue  # "I am Type 2 diabetic": a self-introduction needs a name-like word
            if i in (0, 1) and len(text[s:e]) == 2 and text[s:e].endswith("."):
                continue  # a lone initial after a title is kept as is ("Dr. A." is rare; "Thanks. I" is not a name)
            spans.append((s, e))
    # two or more capitalised words inside a sentence ("ask Kwame Mensah at"), none a common word
    for m in re.finditer(_NAME_SEQ, text):
        toks = m.group(0).split()
        start = m.start()
        if _SENT_START.search(text[max(0, start - 3) : start]):  # "Patient Kwame Mensah": drop the first word
            if len(toks) < 3 or is_first_name(toks[0]):
                continue
            start = text.index(toks[1], start + len(toks[0]))
            toks = toks[1:]
        full = [t for t in toks if not t.endswith(".")]
        if len(toks) < 2 or len(full) < 2:
            continue
        if any(_ends_run(t) for t in toks) or all(t.lower() in _EN_COMMON for t in full):
            continue
        if _EPONYM_NEXT.match(text[m.end() : m.end() + 20]) or any(
            t.lower() in _EN_COMMON and not is_first_name(t) and t.lower() not in _EN_NAMEWORDS for t in full
        ):
            continue
        # Title-Cased clinical terms ("Complete Blood Count", "Atrial Flutter") hold no first name
        person_before = re.search(
            r"(?i)\b(?:ask(?: for)?|contact|call|ring|tell|told|named|called|patient|speak to|"
            r"spoke (?:to|with)|met)\s+$",
            text[max(0, start - 20) : start],
        )
        if not person_before and not any(_gender_detector().get_gender(t) != "unknown" for t in full):
            continue
        spans.append((start, m.end()))
    # dictionary first names anywhere ("John Carter said", "ask Priya"), with the surname that follows
    for m in _TOK_RE.finditer(text):
        tok = m.group(0)
        if tok.endswith(".") or not is_first_name(tok):
            continue
        if m.start() and text[m.start() - 1].isalpha():
            continue
        e = _name_run(text, m.start())
        # a lone dictionary name is kept unless a person verb follows ("Paris", "Denver" are names too)
        if e > m.start() and (len(text[m.start() : e].split()) > 1 or _PERSON_NEXT.match(text[e : e + 30])):
            spans.append((m.start(), e))
    return spans


# ----------------------------------------------------------------------------------------- structured PII
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|"
    + _MONTHS
    + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    + _MONTHS
    + r"\.?,?\s+\d{4}|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?)"
)
_STREET = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close|Crescent)"
)
_PLACE = r"(?:(?![在住是我的于到从址])[\u4e00-\u9fff])"  # a CJK character that can be part of a place name
_CN_NUM = r"[0-9０-９一二三四五六七八九十百零〇]"

# (type, compiled pattern, group to replace or 0 for the whole match); earlier rules win over later ones
RULES: list[tuple[str, re.Pattern, int]] = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), 0),
    ("URL", re.compile(r"(?:https?://|www\.)[^\s，。；、）)<>\]\"']+[^\s，。；、）)<>\]\"'.,]"), 0),
    (
        "DOB",
        re.compile(
            r"(?:\bDOB\b|\bD\.O\.B\.?|date of birth|birth ?date|birthday is|\bborn(?: on| in)?)\s*(?:is\s*)?[:：]?\s*("
            + _DATE
            + ")",
            re.I,
        ),
        1,
    ),
    ("DOB", re.compile(r"(?:出生(?:日期|年月日?|于)?|生日)\s*[:：为是]?\s*(" + _DATE + ")"), 1),
    ("DOB", re.compile(r"(" + _DATE + r")\s*出生"), 1),
    (
        "ID",
        re.compile(r"(?<![0-9])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9])"),
        0,
    ),
    ("ID", re.compile(r"(?<![0-9])\d{3}-\d{2}-\d{4}(?![0-9])"), 0),
    (
        "ID",
        re.compile(
            r"(?:\bMRN\b|medical record (?:no\.?|number|#)|\brecord (?:no\.?|number|#)|patient id|hospital (?:no\.?|number|id)|"
            r"insurance (?:no\.?|number|id)|policy (?:no\.?|number)|passport (?:no\.?|number)|\bSSN\b|"
            r"病历号|住院号|门诊号|病案号|身份证号?码?|医保卡号|医保号|就诊卡号|社保卡号|护照号码?|床号)"
            r"\s*(?:is\s*)?[:：#]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,})",
            re.I,
        ),
        1,
    ),
    ("PHONE", re.compile(r"\+\d{1,3}[\s-]?(?:\(\d{1,4}\)[\s-]?)?\d{1,4}(?:[\s-]?\d{2,5}){1,3}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])1[3-9]\d[\s-]\d{4}[\s-]\d{4}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9])0\d{2,3}-?\d{7,8}(?![0-9])"), 0),
    ("PHONE", re.compile(r"(?<![0-9\w])(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?![0-9])"), 0),
    (
        "ADDRESS",
        re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}"
            + _STREET
            + r"\b\.?(?:,?\s*(?:Apt|Apartment|Unit|Suite|Flat)\.?\s*\w+)?"
        ),
        0,
    ),
    (
        "ADDRESS",
        re.compile(
            r"(?:"
            + _PLACE
            + r"{1,8}?(?:省|市|自治区|区|县)){0,3}"
            + _PLACE
            + r"{1,10}?(?:路|街|大道|道|巷|胡同|弄)(?:"
            + _CN_NUM
            + r"+段)?"
            + _CN_NUM
            + r"+号(?:院)?(?:"
            + _CN_NUM
            + r"+(?:号楼|栋|幢|楼|单元|室|层))*"
        ),
        0,
    ),
    (
        "ADDRESS",
        re.compile(
            r"(?:"
            + _PLACE
            + r"{1,8}?(?:小区|花园|公寓|新村))"
            + r"(?:"
            + _CN_NUM
            + r"+(?:号楼|栋|幢|楼|单元|室|层|号))+"
        ),
        0,
    ),
    ("ADDRESS", re.compile(_PLACE + r"{2,6}?(?:省|自治区)" + _PLACE + r"{2,6}?市" + _PLACE + r"{1,6}?(?:区|县)"), 0),
]


def _structured(text: str) -> list[tuple[str, int, int]]:
    out = []
    for kind, pattern, group in RULES:
        for m in pattern.finditer(text):
            out.append((kind, m.start(group), m.end(group)))
    return out


LANGS = ("en", "zh")


def find_spans(text: str, lang: str | None = None) -> list[tuple[str, int, int]]:
    """Non-overlapping (type, start, end) of everything ``scrub`` replaces, in text order. ``lang`` ("en" or
    "zh") runs only that language's name rules; None runs both (consultations mix scripts)."""
    text = text or ""
    cands = _structured(text)
    if lang in (None, "en"):
        cands += [("NAME", s, e) for s, e in _en_names(text)]
    if lang in (None, "zh"):
        cands += [("NAME", s, e) for s, e in _cn_names(text)]
    found: list[tuple[str, int, int]] = []
    taken = [False] * (len(text) + 1)
    for kind, s, e in cands:  # structured rules first (an ID is not a name), then longer names first
        if s < e and not any(taken[s:e]):
            found.append((kind, s, e))
            for i in range(s, e):
                taken[i] = True
    # a name found twice (English cue + dictionary) with different extents: extend to the longest run
    return sorted(found, key=lambda f: f[1])


def find_pii(text: str, lang: str | None = None) -> list[tuple[str, str]]:
    """(type, matched text) of everything ``scrub`` would replace."""
    return [(kind, text[s:e]) for kind, s, e in find_spans(text or "", lang)]


def scrub(text: str, lang: str | None = None) -> tuple[str, Counter]:
    """``text`` with every finding replaced by its placeholder, and the counts per type."""
    counts: Counter = Counter()
    out, last = [], 0
    text = text or ""
    for kind, s, e in find_spans(text, lang):
        out.append(text[last:s])
        out.append(f"[{kind}]")
        counts[kind] += 1
        last = e
    out.append(text[last:])
    return "".join(out), counts


def scrub_turns(
    turns: list[dict], scrubber: Callable[[str], tuple[str, Counter]] = scrub
) -> tuple[list[dict], Counter]:
    total: Counter = Counter()
    out = []
    for t in turns:
        clean, counts = scrubber(t["text"])
        total.update(counts)
        out.append({"role": t["role"], "text": clean})
    return out, total


# ----------------------------------------------------------------------------------------- residual detector
@dataclass(frozen=True)
class Finding:
    """Something ``residual_pii`` suspects is still personal: its type, rule and character span."""

    kind: str
    rule: str
    start: int
    end: int

    def describe(self) -> str:  # no text: quarantine reasons must not copy what they flag
        return f"{self.kind}/{self.rule}@{self.start}-{self.end}"


_R_TITLE_CAP = re.compile(r"\b(?:Dr|Doctor|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Nurse)\.?\s+([A-Z][A-Za-z'-]*)")
_R_CUE_CAP = re.compile(
    r"(?:\b(?:[Mm]y name is|[Nn]ame\s*[:：]|I am|I'm|[Tt]his is|[Cc]all me|[Rr]egards|[Ss]incerely|[Tt]hanks|"
    r"[Cc]heers|[Ww]ishes|[Yy]ours)[,!.:]?\s+|\b(?:[Mm]y|[Hh]is|[Hh]er)\s+" + _FAMILY + r",?\s+)([A-Z][a-z]+)"
)
_R_NEXT_TO_PH = re.compile(r"\[NAME\](?:\s+[A-Z]\.)*\s+([A-Z][a-z]+)|([A-Z][a-z]+|[A-Z]\.)\s+\[NAME\]")
_R_DIGITS = re.compile(r"(?<![\w.])\d(?:[\d\s().-]{5,}\d)(?![\w])")
_R_DATE = re.compile(r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\s*$")
_R_AT = re.compile(r"\w@\w")
_R_URL = re.compile(r"https?://|\bwww\.|\b[a-z0-9-]+\.(?:com|org|net|cn|io|edu|gov)\b", re.I)
_R_CN_IDLABEL = re.compile(r"(?:身份证|病历号|住院号|门诊号|医保|MRN|SSN)\s*[:：#]?\s*(?=[A-Za-z-]*\d)[A-Za-z0-9-]{4,}")
_SENT_START = re.compile(r"(?:^|[.!?。！？\n]\s*|[\"“(]\s*)$")
_R_TITLE_WORDS = {
    "Dr",
    "Doctor",
    "Mr",
    "Mrs",
    "Ms",
    "Mx",
    "Miss",
    "Prof",
    "Professor",
    "Nurse",
    "Regards",
    "Thanks",
    "Sincerely",
    "Dear",
    "Cheers",
    "Hi",
    "Hello",
}


def residual_pii(text: str) -> list[Finding]:
    """High-recall detector of personal data left in (already scrubbed) text; see the module docstring."""
    text = text or ""
    out: list[Finding] = []
    masked = PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), text)
    for m in _R_TITLE_CAP.finditer(text):
        if not _common_cap(re.split(r"['’]", m.group(1))[0]):
            out.append(Finding("NAME", "title+capital", m.start(1), m.end(1)))
    for m in _R_CUE_CAP.finditer(text):
        w = m.group(1)
        if w not in _R_TITLE_WORDS and not _common_cap(w) and not _EPONYM_NEXT.match(text[m.end(1) : m.end(1) + 20]):
            out.append(Finding("NAME", "cue+capital", m.start(1), m.end(1)))
    for m in _R_NEXT_TO_PH.finditer(text):
        g = 1 if m.group(1) else 2
        w = m.group(g)
        if (
            g == 2
            and (_SENT_START.search(text[max(0, m.start(2) - 3) : m.start(2)]) or _common_cap(w))
            and not is_first_name(w)
        ):
            continue  # "Contact [NAME]", "Patient [NAME]"
        if w.rstrip(".") not in _R_TITLE_WORDS and not _ends_run(w):
            out.append(Finding("NAME", "next-to-[NAME]", m.start(g), m.end(g)))
    for m in _TOK_RE.finditer(masked):
        tok = m.group(0)
        if tok.endswith(".") or (m.start() and masked[m.start() - 1].isalpha()):
            continue
        w = tok.lower()
        if w in _stop_words() or len(w) < 3 or _gender_detector().get_gender(tok) == "unknown":
            continue
        sentence_start = _SENT_START.search(masked[max(0, m.start() - 3) : m.start()]) is not None
        nxt = masked[m.end() : m.end() + 20]
        if (
            (not sentence_start or re.match(r"\s+[A-Z][a-z]+", nxt))
            and not _EPONYM_NEXT.match(nxt)
            and not re.match(r"\s+(?:[A-Z]+\b|(?:Hospital|Clinic|Center|Centre|University|College)\b)", nxt)
            and w not in _EN_COMMON
        ):
            out.append(Finding("NAME", "first-name-dictionary", m.start(), m.end()))
    for m in _R_DIGITS.finditer(masked):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 7 and not _R_DATE.match(m.group(0)):
            out.append(Finding("NUMBER", "7+digits", m.start(), m.end()))
    for rx, kind in ((_R_AT, "EMAIL"), (_R_URL, "URL"), (_R_CN_IDLABEL, "ID")):
        for m in rx.finditer(masked):
            out.append(Finding(kind, kind.lower(), m.start(), m.end()))
    if _CJK_RE.search(text):
        out.extend(_cn_residual(text, masked))
    return sorted(set(out), key=lambda f: (f.start, f.end, f.rule))


def _cn_residual(text: str, masked: str) -> list[Finding]:
    out = []
    toks = _tokens(masked)
    for i, (w, flag, s) in enumerate(toks):
        if (
            not flag.startswith("nr")
            or not 2 <= len(w) <= 3
            or w in ("谢谢", "感谢", "多谢")
            or _is_place(w)
            or _is_clinical(w)
            or any(c in _NOT_NAME_CHARS for c in w[1:])
            or _CN_DRUG_FORM.match(masked[s + len(w) :])
        ):
            continue
        nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
        prev = masked[max(0, s - 3) : s]
        context = (
            _CN_TITLE_RE.match(nxt) is not None
            or prev.endswith(("我是", "叫", "找", "请教", "姓名：", "联系"))
            or any(prev.endswith(f) for f in _CN_FAMILY)
            or _CN_AGE_AFTER.match(masked[s + len(w) : s + len(w) + 8])
        )
        if context:
            out.append(Finding("NAME", "jieba-nr", s, s + len(w)))
    for m in _CN_TITLE_RE.finditer(masked):
        p = m.start()
        for k in (3, 2):
            c = masked[max(0, p - k) : p]
            if (
                len(c) == k
                and all(_CJK_RE.match(x) for x in c)
                and _is_surnamed(c)
                and not any(x in _NOT_NAME_CHARS for x in c[1:])
                and not _dict_word(c)
                and not _dict_word(c[-2:])
                and not _is_place(c)
                and not _is_clinical(c)
            ):
                out.append(Finding("NAME", "surname+title", p - k, p))
                break
        else:
            c = masked[p - 1 : p] if p else ""
            if (
                c
                and _is_surnamed(c)
                and _boundary_before(masked, p - 1)
                and not _dict_word(masked[max(0, p - 2) : p])
                and not _dict_word(masked[p - 1 : m.end()])
            ):
                out.append(Finding("NAME", "surname+title", p - 1, p))
    for m in re.finditer(r"\[NAME\]", text):  # 晁[NAME]医生: a surname left glued to the placeholder
        s = m.start()
        c = text[s - 1 : s] if s else ""
        if (
            c
            and _is_surnamed(c)
            and not _dict_word(text[max(0, s - 2) : s])
            and text[max(0, s - 2) : s] not in _CN_CUES
        ):
            out.append(Finding("NAME", "surname+[NAME]", s - 1, s))
        nxt = text[m.end() : m.end() + 2]
        if len(nxt) == 2 and all(_CJK_RE.match(x) for x in nxt) and (nxt in _nr_words()):
            out.append(Finding("NAME", "[NAME]+given", m.end(), m.end() + 2))
    return out


def residual_in_turns(turns) -> list[tuple[int, Finding]]:
    """(turn index, finding) of ``residual_pii`` over a consultation's turns."""
    return [(i, f) for i, t in enumerate(turns if turns is not None else []) for f in residual_pii(t["text"])]
