"""The checkpoint check: complete HF folder, weights hash as recorded, one row."""

import pyarrow as pa

from citrus_assets.model_training.checkpoints.checks import (
    folder_rule,
    hash_rule,
    hf_folder_complete,
    weights_unchanged,
)
from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from quality import id_suite, validate_table
from training.common import weights_sha256


def _folder(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "tokenizer.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"weights-v1")
    return d


def _table(path, sha):
    row = {
        "record_id": "ckpt-1",
        "parent_ids": [],
        "stage": "sft_stage1",
        "model_path": str(path),
        "base_model": "builtin",
        "weights_sha256": sha,
        "steps": 2,
        "tokens_seen": 100,
        "wall_s": 1.0,
        "final_loss": 1.5,
        "hyperparameters": "{}",
        "data_versions": "{}",
    }
    return pa.Table.from_pylist([row], schema=CHECKPOINT_SCHEMA)


def test_complete_folder_and_hash(tmp_path):
    d = _folder(tmp_path)
    sha = weights_sha256(str(d))
    assert hf_folder_complete(str(d)) and weights_unchanged(d, sha)
    assert validate_table(_table(d, sha), [*id_suite(), folder_rule, hash_rule], "ckpt").success


def test_overwritten_weights_or_missing_tokenizer_fail(tmp_path):
    d = _folder(tmp_path)
    sha = weights_sha256(str(d))
    (d / "model.safetensors").write_bytes(b"weights-v2")
    result = validate_table(_table(d, sha), [folder_rule, hash_rule], "ckpt")
    assert not result.success
    (d / "tokenizer.json").unlink()
    assert not hf_folder_complete(str(d))
    assert not hf_folder_complete("") and not weights_unchanged(tmp_path / "nowhere", sha)


def test_weights_finite_rule_catches_a_nan_checkpoint(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from citrus_assets.model_training.checkpoints.checks import weights_finite

    assert weights_finite(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan_model")
    assert not weights_finite(str(tmp_path / "nan_model"))
    assert not weights_finite(str(tmp_path / "missing"))
