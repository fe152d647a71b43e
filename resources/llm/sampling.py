"""``SamplingConfig``: the sampling fields of a step's run config, declared once (issue 16 change 5).

A step's ``dg.Config`` inherits it, so its run config keeps the flat field names users set
(``config: {temperature: 0.7, max_tokens: 512}``) and the step builds its ``SamplingParams`` with
``config.sampling(n=...)``. A step whose paper default differs overrides only that field's default.
How many samples (``n``) and stop strings are the step's own: their names differ between steps
(``n_samples``, ``samples_per_operator``) and many steps take one sample.
"""

from __future__ import annotations

import dagster as dg

from resources.llm.types import SamplingParams


class SamplingConfig(dg.Config):
    """Sampling fields shared by the LLM steps' run configs; defaults: greedy, seed 0."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0

    def sampling(self, n: int = 1, **overrides) -> SamplingParams:
        """These fields as ``SamplingParams`` (``overrides``: e.g. ``stop``, or a per-attempt ``seed``)."""
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        return SamplingParams(n=n, **{**fields, **overrides})
