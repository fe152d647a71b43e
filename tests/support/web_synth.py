"""Deterministic synthetic web documents with planted duplicates (tests, benchmarks, smoke runs).

The documents are English prose-like word sequences (common English + medical vocabulary, sentences
ending in periods, several paragraphs) that pass FineWeb's quality filters and py3langid's English
check, so that dedup tests are not confounded by filtering. Near-duplicates are made by editing a
controlled share of words (substitutions and deletions); ``write_jsonl`` / ``write_warc`` turn
documents into CCNet-style JSONL or WARC(.gz) response records.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

_WORDS = """
the of and to in is that for it as was with be by on not he this are or his from at which but have an
they you were her she there been one all we their has would when if so no will more can about other
into some could them these than only its also after first two new over most such where through just
before those may even then any well same under both while many should between each because being
patient patients doctor nurse hospital clinic heart blood pressure lung lungs liver kidney brain
disease diseases symptom symptoms treatment therapy diagnosis infection fever cough pain chronic acute
study studies trial trials evidence dose doses drug drugs medicine vaccine virus bacteria cell cells
tissue muscle bone skin surgery recovery risk risks factor factors outcome outcomes care health public
water food diet exercise sleep weight growth age children adults women men family history report
research method methods result results analysis sample samples data group groups level levels rate
rates effect effects change changes increase decrease early late normal severe mild common rare
test tests scan imaging signal response system function structure process control support program
community school city river mountain garden window morning evening winter summer season travel
market price business company service worker office paper letter story book music picture color
light sound voice language country state region village street road bridge station building
people person friend teacher student question answer problem reason example number value point
important different possible available general specific simple complex recent current local national
careful quiet strong small large long short high low young old open closed clear bright dark warm cold
explain describe compare measure observe record follow prevent reduce improve manage monitor review
include require provide receive develop produce protect suggest consider continue remain appear
""".split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 18))]
    return " ".join(words).capitalize() + "."


def make_document(rng: random.Random, n_words: int = 300) -> str:
    """A prose-like English document of about ``n_words`` words in paragraphs of 3-5 sentences."""
    paragraphs, count = [], 0
    while count < n_words:
        sents = [_sentence(rng) for _ in range(rng.randint(3, 5))]
        count += sum(len(s.split()) for s in sents)
        paragraphs.append(" ".join(sents))
    return "\n".join(paragraphs)


def edit_words(text: str, rate: float, rng: random.Random) -> str:
    """Change about ``rate`` of the words (half substituted by another word, half deleted), keep lines."""
    out_lines = []
    for line in text.split("\n"):
        words = line.split(" ")
        out = []
        for w in words:
            if rng.random() < rate:
                if rng.random() < 0.5:
                    continue  # deletion
                w = rng.choice(_WORDS) + ("." if w.endswith(".") else "")
            out.append(w)
        out_lines.append(" ".join(out) or line)
    return "\n".join(out_lines)


def change_n_words(text: str, n: int, rng: random.Random) -> str:
    """Substitute exactly ``n`` distinct word positions (a near-copy with "a few words changed")."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), n):
        new = rng.choice([w for w in _WORDS if w != words[i].rstrip(".\n").lower()])
        tail = words[i][len(words[i].rstrip(".\n")) :]
        words[i] = new + tail
    return " ".join(words)


@dataclass
class SynthDoc:
    id: str
    text: str
    url: str
    kind: str  # "original" | "near" | "exact" | "negative"
    source: str | None = None  # id of the original a duplicate was made from
    edit_rate: float = 0.0


def planted_corpus(
    n_distinct: int = 20,
    n_near: int = 10,
    n_exact: int = 3,
    near_words_changed: int = 3,
    n_words: int = 300,
    seed: int = 7,
) -> list[SynthDoc]:
    """``n_distinct`` originals, ``n_near`` near-copies (a few words changed) and ``n_exact`` exact copies
    of distinct originals, shuffled deterministically."""
    rng = random.Random(seed)
    docs = [
        SynthDoc(f"orig-{i:04d}", make_document(rng, n_words), f"https://site{i % 7}.example.org/page/{i}", "original")
        for i in range(n_distinct)
    ]
    picks = rng.sample(range(n_distinct), n_near + n_exact)
    for j, i in enumerate(picks[:n_near]):
        o = docs[i]
        docs.append(
            SynthDoc(
                f"near-{j:04d}",
                change_n_words(o.text, near_words_changed, rng),
                f"https://mirror{j}.example.net/copy/{i}",
                "near",
                o.id,
            )
        )
    for j, i in enumerate(picks[n_near:]):
        o = docs[i]
        docs.append(SynthDoc(f"exact-{j:04d}", o.text, f"https://copy{j}.example.com/{i}", "exact", o.id))
    rng.shuffle(docs)
    return docs


def write_jsonl(path: str | Path, docs: list[SynthDoc], extra_lines: list[bytes] = ()) -> Path:
    """CCNet-style JSONL (``id``, ``text``, ``source``, ``metadata.url``); ``extra_lines`` are appended raw."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        for d in docs:
            row = {"id": d.id, "text": d.text, "source": "synthetic", "metadata": {"url": d.url, "kind": d.kind}}
            fh.write(json.dumps(row).encode() + b"\n")
        for line in extra_lines:
            fh.write(line.rstrip(b"\n") + b"\n")
    return path


def html_page(text: str, title: str = "Page") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in text.split("\n"))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>\n{body}\n</article>"
        f"<footer>Contact us</footer></body></html>"
    )


def write_warc(
    path: str | Path, docs: list[SynthDoc], with_requests: bool = True, raw_payloads: list[tuple[str, bytes]] = ()
) -> Path:
    """WARC (gzip if the name ends in .gz): warcinfo, then a request + HTML response per document;
    ``raw_payloads`` adds responses with the given (url, body bytes)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = Path(path)
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=path.suffix == ".gz")
        w.write_record(w.create_warcinfo_record(path.name, {"software": "citrus web_synth"}))
        items = [(d.url, html_page(d.text, d.id).encode("utf-8")) for d in docs] + list(raw_payloads)
        for url, body in items:
            if with_requests:
                req = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)
                w.write_record(w.create_warc_record(url, "request", http_headers=req))
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
    return path
