"""One LLM step, written once (issue 16, change 4), in the spirit of distilabel's ``Task``.

Every LLM step of the lake runs the same cycle: render a prompt file per input row, send all of them in ONE
batched ``llm.generate`` call, parse and validate each answer, ask the rejected rows again (one batched call
per retry round, sampled), fall back or quarantine what is still rejected -- with every reason -- and count
what happened. :class:`LLMTask` runs that cycle; a step says only what is its own:

- ``name``, ``prompts`` (the prompt files it may render: ``prompt_hash`` / ``code_version`` of
  ``citrus_assets.common.prompts`` hash them), ``schema`` (the output table);
- ``format_input(row) -> Prompt``;
- ``format_output(row, reply) -> dict | Reject(reasons)``: the step's own columns (with its ``record_id``);
- optionally ``check_input`` (quarantine before asking), ``fallback`` (after the last retry), ``template`` /
  ``prompt_hash`` (per-row prompt files), ``sampling`` (the parameters of each round), ``quarantine``.

The base adds to every accepted row the raw input and output and their statistics -- ``prompt`` (the rendered
prompt, the text the cache key is built from), ``response`` (the raw text), ``cached`` and the ``gen_*``
columns (``resources.lineage.schema.gen_columns``: model, prompt files and hash, sampling, token counts) --
and keeps those the step's ``schema`` declares (a column ``format_output`` sets itself wins, e.g. a
cleaned ``response``). A whole new step, e.g. a short version of each question (the
record kind must be in ``resources.lineage.ids.KINDS``; ``Reject`` takes every reason, ``"code: detail"``)::

    @dataclass
    class Shorten(LLMTask):
        name: ClassVar[str] = "short_questions"
        prompts: ClassVar[tuple[str, ...]] = ("open_rewrite_en",)
        schema: ClassVar[pa.Schema] = pa.schema([
            (RECORD_ID, pa.string()), (PARENT_IDS, pa.list_(pa.string())), ("short", pa.string()),
            ("prompt", pa.string()), ("response", pa.string()), ("cached", pa.bool_()), *GEN_FIELDS])

        def check_input(self, row: dict) -> Reject | None:  # quarantined without asking the model
            return None if row["stem"].strip() else Reject("empty_stem", raw=row)

        def format_input(self, row: dict) -> Prompt:
            return [{"role": "user", "content": load_prompt("open_rewrite_en").render(question=row["stem"])}]

        def format_output(self, row: dict, reply: Reply) -> dict | Reject:
            text = reply.text.strip()
            reasons = [r for r, bad in (("empty", not text), ("too_long: over 40 chars", len(text) > 40),
                                        ("truncated", reply.generation.finish_reason == "length")) if bad]
            if reasons:
                return Reject(*reasons)
            return {RECORD_ID: record_id("openq", row[RECORD_ID], text), PARENT_IDS: [row[RECORD_ID]], "short": text}

    table, quarantine, stats = Shorten(retries=1).run(seeds, llm, SamplingParams(max_tokens=64))

(``tests/common/test_llm_task.py`` runs a step written like this.) ``stats`` holds ``llm_calls``, ``rounds``,
``accepted``, ``accepted_on_retry``, ``fallback``, ``quarantined``, ``cache_hits``, ``prompt_tokens``,
``generated_tokens``, ``rejections`` (reason code -- the text before ``:`` -- to count, over all attempts) and
``counts`` (the step's own counters, ``self.counts``).

With ``params.n > 1`` a step reads the samples of a prompt one of two ways:

- by default, ONE output row per input row: ``format_output`` sees the first sample as ``reply`` and all of
  them as ``reply.samples`` (e.g. a majority vote); the row's ``response`` is the first sample's, ``cached``
  holds when every sample was cached, ``gen_completion_tokens`` sums the samples';
- ``per_sample = True``: ``format_output`` is called for EVERY sample (``reply.index``) and each accepted
  sample is an output row with its own raw output and statistics; a rejected sample is quarantined on its own
  (no retries, no fallback: a step in this mode keeps ``retries = 0``). ``accepted`` and ``quarantined``
  count samples then.

``run`` takes a ``pa.Table`` or the rows themselves (a list of dicts, e.g. input x operator jobs).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import pyarrow as pa

from citrus_assets.common import prompts as P
from resources.lake import QuarantineRecord
from resources.lineage.schema import RECORD_ID, SOURCE_LOCATOR, SOURCE_URI, gen_columns
from resources.llm.types import Generation, Prompt, SamplingParams

STATS = (
    "llm_calls",
    "rounds",
    "accepted",
    "accepted_on_retry",
    "fallback",
    "quarantined",
    "cache_hits",
    "prompt_tokens",
    "generated_tokens",
)  # every stats dict has these (and "rejections")


class Reject:
    """A rejected input or answer: its reasons (``"code: detail"``; the code is counted) and, optionally, what
    the quarantine record keeps as raw (default: the response)."""

    __slots__ = ("raw", "reasons")

    def __init__(self, *reasons: str, raw: Any = None) -> None:
        if not reasons:
            raise ValueError("a Reject needs a reason")
        self.reasons, self.raw = tuple(reasons), raw

    @property
    def reason(self) -> str:
        return ", ".join(self.reasons)

    def __repr__(self) -> str:
        return f"Reject({self.reason!r})"


@dataclass(frozen=True)
class Reply:
    """One answer as ``format_output`` sees it."""

    text: str
    generation: Generation
    params: SamplingParams  # of the round that produced it
    sampling: str  # params.to_json(): what ``gen_sampling`` records
    model_id: str
    attempt: int  # 0: the first round
    rejections: tuple[str, ...]  # this row's earlier rejections, "attempt N: reasons"
    index: int = 0  # the sample's index (per_sample steps; 0 otherwise)
    samples: tuple[Generation, ...] = ()  # every sample of this prompt (params.n of them)
    model_revision: str = ""


class TaskResult(NamedTuple):
    table: pa.Table
    quarantine: list[QuarantineRecord]
    stats: dict[str, Any]


@dataclass
class LLMTask:
    """Base of an LLM step (module docstring). Subclasses are dataclasses; their fields are the step's
    settings."""

    name: ClassVar[str]
    prompts: ClassVar[tuple[str, ...]]
    schema: ClassVar[pa.Schema]
    per_sample: ClassVar[bool] = False  # one output row per sample (module docstring), not per input row

    retries: int = 0  # extra rounds for rejected rows
    retry_temperature: float = 0.8  # a greedy retry would return the cached answer
    counts: Counter = field(default_factory=Counter, repr=False)  # the step's own counters (format_output adds)

    # -- what a step writes ------------------------------------------------------------------------------------
    def format_input(self, row: dict) -> Prompt:
        raise NotImplementedError

    def format_output(self, row: dict, reply: Reply) -> dict | Reject:
        raise NotImplementedError

    # -- what a step may override ------------------------------------------------------------------------------
    def check_input(self, row: dict) -> Reject | None:
        """A reason not to ask the model at all (the row is quarantined)."""
        return None

    def fallback(self, row: dict, rejections: list[str], last: Reject) -> dict | Reject:
        """The row after its last rejected attempt (``last``; ``rejections``: "attempt N: reasons" of every
        attempt): a replacement row (no ``gen_*`` columns), or a Reject -- by default ``last`` itself after a
        single attempt, every attempt's reasons after retries."""
        return last if len(rejections) == 1 else Reject("; ".join(rejections), raw=last.raw)

    def template(self, row: dict) -> tuple[str, ...]:
        """The prompt files this row was rendered from (``gen_prompt_template``, ``+``-joined)."""
        return self.prompts

    def prompt_hash(self, row: dict) -> str:
        return P.prompt_hash(*self.template(row))

    def sampling(self, params: SamplingParams, attempt: int) -> SamplingParams:
        """The parameters of round ``attempt``: ``params`` first, then sampled with seed + attempt."""
        if attempt == 0:
            return params
        return dataclasses.replace(params, temperature=self.retry_temperature, seed=(params.seed or 0) + attempt)

    def quarantine(self, row: dict, reject: Reject) -> QuarantineRecord:
        raw = reject.raw if isinstance(reject.raw, str) else json.dumps(reject.raw, ensure_ascii=False, default=str)
        return QuarantineRecord(
            row.get(SOURCE_URI) or self.name, row.get(SOURCE_LOCATOR) or str(row.get(RECORD_ID)), reject.reason, raw
        )

    @classmethod
    def code_version(cls, asset_version: str) -> str:
        return P.code_version(asset_version, *cls.prompts)

    # -- the cycle ---------------------------------------------------------------------------------------------
    def run(self, table: pa.Table | list[dict], llm, params: SamplingParams) -> TaskResult:
        if self.per_sample and self.retries:
            raise ValueError(f"{self.name}: a per_sample step has no retries")
        stats: Counter = Counter(dict.fromkeys(STATS, 0))
        reasons: dict[str, int] = {}
        bad: list[QuarantineRecord] = []
        rows = []
        revision = getattr(llm, "model_revision", "")
        for row in table.to_pylist() if isinstance(table, pa.Table) else table:
            if (why := self.check_input(row)) is not None:
                bad.append(self.quarantine(row, why))
            else:
                rows.append(row)
        prompts = [self.format_input(r) for r in rows]
        rejections: list[list[str]] = [[] for _ in rows]
        accepted: dict[int, list[dict]] = {}
        last: dict[int, Reject] = {}
        pending = list(range(len(rows)))
        for attempt in range(1 + max(0, self.retries)):
            if not pending:
                break
            p = self.sampling(params, attempt)
            sampling = p.to_json()
            gens = llm.generate([prompts[i] for i in pending], p)
            stats["llm_calls"] += 1
            stats["rounds"] = attempt + 1
            still = []
            for i, samples in zip(pending, gens):
                row = rows[i]
                replies = [
                    Reply(
                        g.text, g, p, sampling, llm.model_id, attempt, tuple(rejections[i]), k, tuple(samples), revision
                    )
                    for k, g in enumerate(samples if self.per_sample else samples[:1])
                ]
                for reply in replies:
                    gen, group = reply.generation, [reply.generation] if self.per_sample else samples
                    cached = all(g.cached for g in group)
                    stats["cache_hits"] += cached
                    stats["prompt_tokens"] += gen.prompt_tokens
                    stats["generated_tokens"] += sum(g.completion_tokens for g in group)
                    out = self.format_output(row, reply)
                    if isinstance(out, Reject):
                        for r in out.reasons:
                            code = r.split(":")[0]
                            reasons[code] = reasons.get(code, 0) + 1
                        out = out if out.raw is not None else Reject(*out.reasons, raw=gen.text)
                        if self.per_sample:  # quarantined on its own, in row and sample order
                            bad.append(self.quarantine(row, out))
                            continue
                        rejections[i].append(f"attempt {attempt + 1}: {out.reason}")
                        last[i] = out
                        still.append(i)
                        continue
                    template = self.template(row)
                    accepted.setdefault(i, []).append(
                        {
                            "prompt": llm.render(prompts[i]),
                            "response": gen.text,
                            "cached": cached,
                            **gen_columns(
                                llm,
                                template="+".join(template),
                                prompt_hash=self.prompt_hash(row),
                                sampling=sampling,
                                prompt_tokens=gen.prompt_tokens,
                                completion_tokens=sum(g.completion_tokens for g in group),
                            ),
                            **out,  # a step may set any of them itself (e.g. a cleaned response)
                        }
                    )
                    stats["accepted"] += 1
                    stats["accepted_on_retry"] += attempt > 0
            pending = still

        out_rows = []
        for i, row in enumerate(rows):
            if i in accepted:
                out_rows.extend(accepted[i])
            elif i in last:  # (a per_sample row with every sample rejected is quarantined already)
                done = self.fallback(row, rejections[i], last[i])
                if isinstance(done, Reject):
                    bad.append(self.quarantine(row, done))
                    continue
                stats["fallback"] += 1
                out_rows.append(done)
        stats["quarantined"] = len(bad)  # (check_input's too)
        return TaskResult(
            pa.Table.from_pylist(out_rows, schema=self.schema),
            bad,
            {**{k: int(stats[k]) for k in STATS}, "rejections": reasons, "counts": dict(self.counts)},
        )
