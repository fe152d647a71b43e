"""Accuracy with a 95% Wilson score interval per benchmark x model partition, and the chance level.

Chance level of an item: the probability that a guesser who knows how many letters the answer has, and
picks that many of the item's options uniformly at random, is exactly right: ``1 / C(options, answers)``
(1/4 for a 4-option item with one answer; JMED's 21 options with two correct: 1/210). A benchmark's
chance level is the mean over its evaluated items, so it is the accuracy a model with no knowledge
would expect on the same items.
"""

from __future__ import annotations

import math

import pyarrow as pa

from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID

Z95 = 1.959963984540054

SCORE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),  # every prediction scored
        ("benchmark", pa.string()),
        ("model", pa.string()),
        ("model_id", pa.string()),
        ("model_revision", pa.string()),
        ("stage", pa.string()),  # Table 5 order ("" = not a training stage)
        ("prompt_style", pa.string()),
        ("sampling", pa.string()),
        ("n", pa.int64()),
        ("correct", pa.int64()),
        ("accuracy", pa.float64()),  # null when n == 0
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("no_answer", pa.int64()),  # predictions without an answer (counted wrong)
        ("truncated", pa.int64()),  # first samples that hit max_tokens
        ("mean_completion_tokens", pa.float64()),
        ("status", pa.string()),  # "scored" | "no items"
        ("chance", pa.float64()),  # expected accuracy of random guessing on these items (null when n == 0)
    ]
)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the edges (k = 0 -> 0, k = n -> 1) and never excluding p through rounding
    lo = 0.0 if k == 0 else min(p, max(0.0, centre - half))
    hi = 1.0 if k == n else max(p, min(1.0, centre + half))
    return lo, hi


def item_chance(option_letters, answer_letters) -> float:
    """1 / C(options, answers): a uniform guess of as many letters as the answer has (module docstring)."""
    n, k = len(option_letters or []), len(answer_letters or [])
    if n == 0 or k == 0 or k > n:
        return 0.0
    return 1.0 / math.comb(n, k)


def chance_level(rows: list[dict]) -> float | None:
    """The mean chance of the items (``option_letters``, ``answer_letters`` per row); None when no rows."""
    if not rows:
        return None
    return sum(item_chance(r["option_letters"], r["answer_letters"]) for r in rows) / len(rows)


def score(
    predictions: pa.Table,
    *,
    benchmark: str,
    model: str,
    stage: str = "",
    prompt_style: str = "",
    model_id: str = "",
    model_revision: str = "",
    sampling: str = "",
) -> pa.Table:
    """One SCORE_SCHEMA row for the predictions of one partition."""
    rows = predictions.to_pylist()
    n = len(rows)
    k = sum(1 for r in rows if r["correct"])
    lo, hi = wilson_interval(k, n)
    if rows:
        model_id, model_revision, sampling = (
            rows[0]["gen_model_id"],
            rows[0]["gen_model_revision"],
            rows[0]["gen_sampling"],
        )
        prompt_style = rows[0]["prompt_style"]
    ids = [r[RECORD_ID] for r in rows]
    row = {
        RECORD_ID: record_id("evalscore", benchmark, model, model_id, model_revision, sampling, sorted(ids)),
        PARENT_IDS: ids,
        "benchmark": benchmark,
        "model": model,
        "model_id": model_id,
        "model_revision": model_revision,
        "stage": stage,
        "prompt_style": prompt_style,
        "sampling": sampling,
        "n": n,
        "correct": k,
        "accuracy": k / n if n else None,
        "ci_low": lo,
        "ci_high": hi,
        "no_answer": sum(1 for r in rows if r["no_answer"]),
        "truncated": sum(1 for r in rows if r["finish_reason"] == "length"),
        "mean_completion_tokens": sum(r["gen_completion_tokens"] for r in rows) / n if n else 0.0,
        "status": "scored" if n else "no items",
        "chance": chance_level(rows),
    }
    return pa.Table.from_pylist([row], schema=SCORE_SCHEMA)
