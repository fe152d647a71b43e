"""One trainer lookup table: ``training.config.KINDS`` (issue 16).

The Dagster checkpoint assets build their trainer config from it, and ``training.run`` runs the module
of the same name; nothing else maps a kind to a trainer.
"""

import importlib

from training import run as run_module
from training.config import KINDS, from_dict, to_json


def test_each_kind_has_its_config_and_its_trainer_module():
    assert set(KINDS) == {"cpt", "sft", "cpo"}
    for kind, cls in KINDS.items():
        assert cls().kind == kind
        trainer = importlib.import_module(f"training.{kind}")
        assert callable(trainer.run), kind
        assert from_dict({"kind": kind}).__class__ is cls


def test_the_runner_and_the_assets_read_the_table(tmp_path, monkeypatch):
    from citrus_assets.model_training.checkpoints import assets as checkpoint_assets

    assert checkpoint_assets.TRAINER_KINDS is KINDS
    ran = []

    class _Trainer:
        @staticmethod
        def run(cfg):
            ran.append(cfg.kind)

    real = importlib.import_module
    monkeypatch.setattr(
        run_module.importlib, "import_module", lambda name: _Trainer if name.startswith("training.") else real(name)
    )
    data = tmp_path / "data.jsonl"
    data.write_text("{}\n")
    for kind in KINDS:
        cfg = to_json(from_dict({"kind": kind, "data_path": str(data), "output_dir": str(tmp_path / kind)}))
        assert run_module.main([cfg]) == 0
    assert ran == list(KINDS)
