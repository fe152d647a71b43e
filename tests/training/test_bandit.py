"""The EXP3 source sampler of CPT: floor, adaptation to loss, determinism, resume state."""

import pytest

from training.bandit import Exp3Sampler


def drive(bandit: Exp3Sampler, losses: dict[str, float], n: int) -> list[int]:
    picks = []
    for _ in range(n):
        arm = bandit.choose()
        picks.append(arm)
        bandit.update(arm, losses[bandit.arms[arm]])
    return picks


def test_floor_is_honoured_even_for_a_source_with_no_reward():
    bandit = Exp3Sampler(["web", "pdf", "textbook"], floor=0.1, eta=1.0, decay=0.99, seed=1)
    picks = drive(bandit, {"web": 5.0, "pdf": 0.0, "textbook": 0.0}, 2000)
    assert all(min(p) >= 0.1 - 1e-12 for _, p in bandit.history)
    assert all(abs(sum(p) - 1) < 1e-9 for _, p in bandit.history)
    share_pdf = picks.count(1) / len(picks)
    assert 0.06 < share_pdf < 0.2  # starved by reward, but never below the floor
    assert bandit.probabilities()[0] > 0.7


def test_high_loss_source_gains_share():
    bandit = Exp3Sampler(["easy", "new"], floor=0.05, eta=0.2, decay=0.98, seed=3)
    start = bandit.probabilities()
    assert start == pytest.approx([0.5, 0.5])
    picks = drive(bandit, {"easy": 1.0, "new": 4.0}, 600)
    assert bandit.probabilities()[1] > 0.75
    assert picks[300:].count(1) / 300 > picks[:100].count(1) / 100  # the later mix leans to the unlearned source
    assert bandit.shares()["new"] > 0.6


def test_mix_follows_the_loss_when_it_moves():
    bandit = Exp3Sampler(["a", "b"], floor=0.05, eta=0.2, decay=0.95, seed=0)
    drive(bandit, {"a": 4.0, "b": 1.0}, 300)
    assert bandit.probabilities()[0] > 0.7
    drive(bandit, {"a": 1.0, "b": 4.0}, 300)  # "a" is learned now; "b" pays more
    assert bandit.probabilities()[1] > 0.7


def test_deterministic_with_seed_and_resumable():
    losses = {"web": 2.0, "pdf": 3.0}
    a = drive(Exp3Sampler(["web", "pdf"], seed=7), losses, 200)
    b = drive(Exp3Sampler(["web", "pdf"], seed=7), losses, 200)
    c = drive(Exp3Sampler(["web", "pdf"], seed=8), losses, 200)
    assert a == b and a != c

    first = Exp3Sampler(["web", "pdf"], seed=7)
    drive(first, losses, 120)
    resumed = Exp3Sampler(["web", "pdf"], seed=7)
    import json

    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))  # through JSON, like bandit.json
    assert drive(resumed, losses, 80) == a[120:]


def test_rejects_impossible_floor_and_ignores_bad_losses():
    with pytest.raises(ValueError):
        Exp3Sampler(["a", "b", "c"], floor=0.5)
    bandit = Exp3Sampler(["a", "b"])
    bandit.update(0, float("nan"))
    bandit.update(1, float("inf"))
    assert bandit.probabilities() == pytest.approx([0.5, 0.5])
