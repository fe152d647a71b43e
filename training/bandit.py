"""Bandit source mixing for continued pre-training (the Citrus paper's multi-armed bandit over sources).

Each CPT source (``web``, ``pdf``, ``textbook``...) is an arm. Before every micro-batch the sampler draws an
arm and the batch is filled from that source only; after the forward pass the batch's training loss is the
arm's reward: content the model has not learned yet (high loss) pays more, so the mix moves towards it.

Algorithm: discounted EXP3 with a probability floor.

* scores ``S_i``; sampling probabilities ``p_i = floor + (1 - K * floor) * softmax(eta * S)_i``, so no source
  ever falls below ``floor`` (no source starves) and the mix stays a distribution;
* reward ``r = loss / L`` with ``L`` the largest loss seen so far (``r`` in (0, 1]);
* update: every score is discounted (``S *= decay``: losses drift as the model learns, so old evidence
  fades), then the played arm gets the importance-weighted reward ``r / p_arm`` (EXP3's unbiased estimate).
  In the steady state ``S_i`` tends to ``r_i / (1 - decay)``: the arm with the higher recent loss gets the
  larger share.

Draws use a private ``random.Random(seed)``: the same seed and the same rewards give the same choices.
``history`` keeps ``(draw, probabilities)`` for the proportions plot; ``state_dict`` / ``load_state_dict``
let a resumed run continue with the same mix.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any


class Exp3Sampler:
    """Discounted EXP3 over named arms with a floor probability."""

    def __init__(
        self, arms: Sequence[str], *, floor: float = 0.05, eta: float = 0.1, decay: float = 0.98, seed: int = 0
    ):
        if not arms:
            raise ValueError("the bandit needs at least one arm")
        if not 0 <= floor * len(arms) <= 1:
            raise ValueError(f"floor {floor} x {len(arms)} arms must be within [0, 1]")
        self.arms = list(arms)
        self.floor, self.eta, self.decay = float(floor), float(eta), float(decay)
        self.scores = [0.0] * len(self.arms)
        self.max_loss = 0.0
        self.draws = 0
        self.pulls = [0] * len(self.arms)
        self.rewards = [0.0] * len(self.arms)  # last reward per arm (for logging)
        self.history: list[tuple[int, list[float]]] = []
        self._rng = random.Random(seed)

    def probabilities(self) -> list[float]:
        k = len(self.arms)
        top = max(self.scores)
        w = [math.exp(self.eta * (s - top)) for s in self.scores]
        z = sum(w)
        return [self.floor + (1.0 - k * self.floor) * x / z for x in w]

    def choose(self) -> int:
        """Draw the arm for the next batch (recording the current probabilities)."""
        p = self.probabilities()
        self.history.append((self.draws, p))
        self.draws += 1
        u = self._rng.random()
        # the first arm whose cumulative probability passes u (the last one if rounding leaves u above 1)
        i = next((k for k, acc in enumerate(itertools.accumulate(p)) if u < acc), len(p) - 1)
        self.pulls[i] += 1
        return i

    def update(self, arm: int, loss: float) -> None:
        """Reward ``arm`` with its batch loss (non-finite losses are ignored)."""
        if not math.isfinite(loss) or loss < 0:
            return
        p = self.probabilities()[arm]
        self.max_loss = max(self.max_loss, loss)
        r = loss / self.max_loss if self.max_loss > 0 else 0.0
        self.scores = [s * self.decay for s in self.scores]
        self.scores[arm] += r / p
        self.rewards[arm] = r

    def shares(self) -> dict[str, float]:
        """Fraction of draws each arm got so far."""
        n = max(1, sum(self.pulls))
        return {a: c / n for a, c in zip(self.arms, self.pulls)}

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        return {
            "arms": self.arms,
            "scores": self.scores,
            "max_loss": self.max_loss,
            "draws": self.draws,
            "pulls": self.pulls,
            "rewards": self.rewards,
            "history": self.history,
            "rng": _rng_state_to_json(self._rng.getstate()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["arms"]) != self.arms:
            raise ValueError(f"bandit state is for arms {state['arms']}, not {self.arms}")
        self.scores = [float(s) for s in state["scores"]]
        self.max_loss = float(state["max_loss"])
        self.draws = int(state["draws"])
        self.pulls = [int(c) for c in state["pulls"]]
        self.rewards = [float(r) for r in state["rewards"]]
        self.history = [(int(d), [float(x) for x in p]) for d, p in state["history"]]
        self._rng.setstate(_rng_state_from_json(state["rng"]))


def _rng_state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def plot_proportions(
    history: list[tuple[int, list[float]]],
    arms: Sequence[str],
    path: str,
    title: str = "CPT source sampling probabilities",
) -> str:
    """A PNG of every arm's sampling probability over the draws (stacked area)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    if history:
        xs = [d for d, _ in history]
        ys = [[p[i] for _, p in history] for i in range(len(arms))]
        ax.stackplot(xs, ys, labels=list(arms), alpha=0.8)
        ax.set_xlim(xs[0], max(xs[-1], xs[0] + 1))
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.set_xlabel("micro-batch")
    ax.set_ylabel("probability")
    if history:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
