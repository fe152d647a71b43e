"""Offline datatrove-style steps that replace the ones that need the network or missing packages.

* ``OfflineURLFilter``: datatrove's ``URLFilter`` needs ``tldextract`` (which fetches the public
  suffix list on first use), ``pyahocorasick`` and ``fasteners``, none installed here. This filter
  uses the *same bundled lists* (``datatrove/assets``: the domain/URL block lists tarball and the
  banned / soft-banned / sub-word lists, parsed with datatrove's own ``url_filter`` helpers) and the
  same rules and reasons. Differences: the host and every parent domain are checked (a superset of
  tldextract's registered-domain + full-host check), the URL is lower-cased before the word checks,
  and the URL list is also matched without its scheme (the list has none). The 4.6M-domain list is
  indexed once into a sorted, memory-mapped Arrow file under the cache dir (binary search, ~0 RSS).
* ``Py3LangidFilter``: datatrove's ``LanguageFilter`` downloads fastText lid.176; this one uses
  py3langid's shipped model (normalised probabilities), same metadata (``language``,
  ``language_score``) and threshold semantics.
* ``RecordingTrafilatura``: datatrove's ``Trafilatura`` extractor (sandboxed, with timeout) that also
  writes the documents it loses (empty extraction, error/timeout) to an exclusion writer, like filters.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import tarfile
import uuid
from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from datatrove.data import Document
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.url_filter import get_list, normalize, normalizer, parse_list
from datatrove.utils._import_utils import ASSETS_PATH
from datatrove.utils.logging import logger

from citrus_assets.common.text.language import load_langid

BLOCKLIST_TARBALL = "url_filterblacklistsv0_3_0.tar.gz"


# --------------------------------------------------------------------------- domain block list
def _build_blocklist_cache(cache_dir: Path) -> tuple[Path, Path]:
    """Index datatrove's bundled domain list as a sorted Arrow file (+ the URL list as text), once."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    tarball = Path(ASSETS_PATH) / BLOCKLIST_TARBALL
    key = f"{tarball.stem.split('.')[0]}-{tarball.stat().st_size}"
    dom_path, url_path = cache_dir / f"{key}-domains.arrow", cache_dir / f"{key}-urls.txt"
    if dom_path.exists() and url_path.exists():
        return dom_path, url_path
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info(f"Indexing datatrove URL block lists into {cache_dir} (once)")
    with tarfile.open(tarball, "r:gz") as tar:
        urls = tar.extractfile("urls").read()
        table = pcsv.read_csv(
            tar.extractfile("domains"),
            read_options=pcsv.ReadOptions(column_names=["d"], block_size=1 << 22, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False),
            convert_options=pcsv.ConvertOptions(column_types={"d": pa.string()}, strings_can_be_null=False),
        )
    arr = pc.utf8_lower(pc.utf8_trim_whitespace(table["d"].combine_chunks()))
    arr = arr.filter(pc.and_(pc.invert(pc.starts_with(arr, "#")), pc.greater(pc.utf8_length(arr), 0)))
    if len(arr) > 1 and not pc.all(pc.greater(arr[1:], arr[:-1])).as_py():
        arr = pc.unique(arr)
        arr = arr.take(pc.sort_indices(arr))
    for path, write in (
        (dom_path, lambda fh: _write_ipc(fh, pa.table({"d": arr}))),
        (url_path, lambda fh: fh.write(urls)),
    ):
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)  # atomic: concurrent builders just overwrite each other
    return dom_path, url_path


def _write_ipc(fh, table) -> None:
    import pyarrow as pa

    with pa.ipc.new_file(fh, table.schema) as w:
        w.write_table(table)


class SortedDomains:
    """Membership test over a sorted, memory-mapped Arrow string column (binary search)."""

    def __init__(self, path: Path):
        import pyarrow as pa

        self._source = pa.memory_map(str(path), "r")
        col = pa.ipc.open_file(self._source).read_all().column("d")
        # one chunk as written: use it as is (combine_chunks would copy it out of the memory map)
        self._arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()

    def __len__(self) -> int:
        return len(self._arr)

    def __contains__(self, key: str) -> bool:
        arr, lo, hi = self._arr, 0, len(self._arr)
        while lo < hi:
            mid = (lo + hi) // 2
            v = arr[mid].as_py()
            if v == key:
                return True
            if v < key:
                lo = mid + 1
            else:
                hi = mid
        return False


@lru_cache(maxsize=4)
def _load_bundled_lists(cache_dir: str) -> tuple[SortedDomains, frozenset[str]]:
    dom_path, url_path = _build_blocklist_cache(Path(cache_dir))
    urls = parse_list(url_path.read_text("utf-8", "replace").splitlines(), do_normalize=False)
    return SortedDomains(dom_path), frozenset(u.lower() for u in urls if u)


def _parents(host: str) -> list[str]:
    """``a.b.example.com`` -> [``example.com``, ``b.example.com``, ``a.b.example.com``]."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 2, 0), -1, -1)]


class OfflineURLFilter(BaseFilter):
    """datatrove ``URLFilter`` rules and bundled lists, without tldextract or any download."""

    name = "😈 Url-filter (offline)"

    def __init__(
        self,
        soft_word_threshold: int = 2,
        extra_domains: Iterable[str] | None = None,
        extra_urls: Iterable[str] | None = None,
        banned_words: Iterable[str] | None = None,
        banned_subwords: Iterable[str] | None = None,
        soft_banned_words: Iterable[str] | None = None,
        use_integrated_lists: bool = True,
        exclusion_writer=None,
        cache_dir: str | os.PathLike | None = None,
    ):
        super().__init__(exclusion_writer)
        self.soft_word_threshold = soft_word_threshold
        self.extra_domains = {d.strip().lower() for d in extra_domains or () if d.strip()}
        self.extra_urls = {u.strip().lower() for u in extra_urls or () if u.strip()}
        self.banned_words = parse_list(banned_words) if banned_words else set()
        self.banned_subwords = parse_list(banned_subwords) if banned_subwords else set()
        self.soft_banned_words = parse_list(soft_banned_words) if soft_banned_words else set()
        self.use_integrated_lists = use_integrated_lists
        self.cache_dir = str(cache_dir) if cache_dir else None
        self._loaded = False  # lists load lazily, in the worker (keeps the step small to pickle)

    def _load(self) -> None:
        if self._loaded:
            return
        self._domains: SortedDomains | None = None
        self._urls: frozenset[str] = frozenset()
        if self.use_integrated_lists:
            from citrus_assets.cpt_corpus.web.config import default_cache_dir

            self._domains, self._urls = _load_bundled_lists(self.cache_dir or str(default_cache_dir()))
            self.banned_words = get_list(ASSETS_PATH, "banned_words.txt", self.banned_words)
            self.banned_subwords = get_list(ASSETS_PATH, "banned_subwords.txt", self.banned_subwords)
            self.soft_banned_words = get_list(ASSETS_PATH, "soft_banned_words.txt", self.soft_banned_words)
        subwords = sorted(w for w in self.banned_subwords if w)
        self._subword_re = re.compile("|".join(map(re.escape, subwords))) if subwords else None
        self._loaded = True

    def _blocked_domain(self, name: str) -> bool:
        return name in self.extra_domains or (self._domains is not None and name in self._domains)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        self._load()
        url = doc.metadata.get("url")
        if not url:
            self.stat_update("no_url")
            return True
        url = str(url).strip().lower()
        try:
            host = (urlsplit(url).hostname or "").rstrip(".")
        except ValueError:
            host = ""
        for name in _parents(host) if host else ():
            if self._blocked_domain(name):
                return False, "domain" if name != host or host.count(".") <= 1 else "subdomain"
        no_scheme = url.split("://", 1)[-1]
        if url in self.extra_urls or url in self._urls or no_scheme in self._urls or no_scheme in self.extra_urls:
            return False, "url"
        url_words = set(normalizer.split(url))
        if any(word in url_words for word in self.banned_words):
            return False, "hard_blacklisted"
        if sum(word in url_words for word in self.soft_banned_words) >= self.soft_word_threshold:
            return False, "soft_blacklisted"
        if self._subword_re is not None and self._subword_re.search(normalize(url)):
            return False, "blacklisted_subword"
        return True


# --------------------------------------------------------------------------- language id
# the model is loaded in one place: common.language (the lake's one language detector)


class Py3LangidFilter(BaseFilter):
    """Keep documents whose language is in ``languages`` with probability > ``language_threshold``."""

    name = "🌍 Language ID (py3langid)"

    def __init__(
        self,
        languages: Iterable[str] | str | None = ("en",),
        language_threshold: float = 0.65,
        exclusion_writer=None,
        label_only: bool = False,
    ):
        super().__init__(exclusion_writer)
        self.languages = [languages] if isinstance(languages, str) else (list(languages) if languages else None)
        self.language_threshold = language_threshold
        self.label_only = label_only

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ident = load_langid()
        text = doc.text.replace("\n", " ")
        lang, score = ident.classify(text)
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = round(float(score), 6)
        if self.label_only:
            return True
        if self.languages is None:
            return (True, None) if score > self.language_threshold else (False, "low_language_score")
        if lang in self.languages:
            return (True, None) if score > self.language_threshold else (False, "low_language_score")
        if self.language_threshold < 0.5:  # a non-best language can still pass a threshold below 0.5
            scores = dict(ident.rank(text))
            if any(scores.get(code, 0.0) > self.language_threshold for code in self.languages):
                return True
        return False, "wrong_language"


# --------------------------------------------------------------------------- extraction
class RecordingTrafilatura(Trafilatura):
    """datatrove's ``Trafilatura`` whose lost documents go to ``exclusion_writer`` with a reason.

    The base extractor yields each document right after extracting it and silently skips failures,
    so every input document consumed before the one just yielded was dropped: ``empty_extraction``
    when Trafilatura returned nothing, ``extraction_failed`` (timeout, error, crashed worker) when the
    text was left untouched. Inside a daemonic process (which may not start the sandbox process)
    extraction runs in-process, without the timeout.
    """

    name = "⛏ Trafilatura (recording)"

    def __init__(self, exclusion_writer=None, max_reject_chars: int = 20_000, **kwargs):
        super().__init__(**kwargs)
        self.exclusion_writer = exclusion_writer
        self.max_reject_chars = max_reject_chars

    def _in_process(self, data):
        logger.warning("daemonic process: Trafilatura runs in-process, without its timeout sandbox")
        for doc in data:
            self.stat_update("total")
            try:
                text = self.extract(doc.text)
            except Exception:
                self.stat_update("clean_error")
                continue
            doc.text = text
            if text:
                self.stat_update("forwarded")
                yield doc
            else:
                self.stat_update("dropped")

    def run(self, data, rank: int = 0, world_size: int = 1):
        pending: deque = deque()

        def tap():
            for doc in data:
                pending.append((doc, doc.text))
                yield doc

        def reject(writer, doc, original):
            reason = "extraction_failed" if doc.text is original else "empty_extraction"
            doc.metadata["filter_reason"] = reason
            doc.text = original[: self.max_reject_chars]
            self.stat_update(f"dropped_{reason}")
            if writer:
                writer.write(doc, rank)

        daemon = multiprocessing.current_process().daemon
        inner = self._in_process(tap()) if daemon else super().run(tap(), rank, world_size)
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for out in inner:
                while pending and pending[0][0] is not out:
                    reject(writer, *pending.popleft())
                if pending:
                    pending.popleft()
                yield out
            while pending:
                reject(writer, *pending.popleft())


def check_offline_components(tokenizer_language: str = "en", url_lists: bool = True, cache_dir=None) -> dict:
    """Load every model/list the curation needs, offline; raise with a clear message if one is missing."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    out = {}
    out["tokens"] = len(load_word_tokenizer(tokenizer_language).word_tokenize("The heart pumps blood."))
    out["langid"] = load_langid().classify("The heart pumps blood through the body.")[0]
    if url_lists:
        from citrus_assets.cpt_corpus.web.config import default_cache_dir

        out["blocked_domains"] = len(_load_bundled_lists(str(cache_dir or default_cache_dir()))[0])
    import trafilatura  # noqa: F401

    return out
