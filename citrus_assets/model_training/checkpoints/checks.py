"""Great Expectations checks of the checkpoint assets: the saved model is there, loadable and unchanged.

Each checkpoint table is one row (``CHECKPOINT_SCHEMA``). The check re-hashes the weight files, so a
checkpoint whose files were overwritten or truncated after training fails before anyone evaluates or
fine-tunes from it.
"""

from pathlib import Path

from citrus_assets.model_training.checkpoints.assets import (
    cpt_checkpoint,
    rl_checkpoint,
    sft_stage1_checkpoint,
    sft_stage2_checkpoint,
    sft_stage3_checkpoint,
)
from citrus_assets.model_training.schemas import CHECKPOINT_STAGES
from quality import RowRule, gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import between, row_count_between
from training.common import weights_sha256

CHECKPOINT_VALID = "checkpoint_valid"
HF_FILES = ("config.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def hf_folder_complete(path) -> bool:
    """An HF model folder: config, at least one safetensors file and a tokenizer."""
    if not isinstance(path, str) or not path:
        return False
    p = Path(path)
    return (
        p.is_dir()
        and all((p / f).is_file() for f in HF_FILES)
        and any(p.glob("*.safetensors"))
        and any((p / f).is_file() for f in TOKENIZER_FILES)
    )


def weights_unchanged(path, expected) -> bool:
    try:
        return isinstance(expected, str) and weights_sha256(str(path)) == expected
    except (FileNotFoundError, NotADirectoryError, OSError):
        return False


folder_rule = RowRule(
    name="model_folder_complete",
    description="model_path is an HF folder with config.json, *.safetensors and a tokenizer.",
    derive=lambda df: [hf_folder_complete(p) for p in df["model_path"]],
    columns=("model_path",),
)
hash_rule = RowRule(
    name="weights_hash_matches",
    description="The weight files still hash to weights_sha256 (nothing overwrote the checkpoint).",
    derive=lambda df: [weights_unchanged(p, h) for p, h in zip(df["model_path"], df["weights_sha256"])],
    columns=("model_path", "weights_sha256"),
)


def weights_finite(path) -> bool:
    """Every tensor of every *.safetensors file is free of NaN/inf (one NaN training step poisons them all)."""
    import numpy as np
    from safetensors.numpy import load_file

    try:
        files = sorted(Path(path).glob("*.safetensors"))
        for f in files:
            for arr in load_file(str(f)).values():
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    return False
        return bool(files)
    except Exception:  # unreadable (bf16 in numpy, truncated file): the other rules report the folder
        return _weights_finite_torch(path)


def _weights_finite_torch(path) -> bool:
    try:
        import torch
        from safetensors.torch import load_file

        files = sorted(Path(path).glob("*.safetensors"))
        return bool(files) and all(
            bool(torch.isfinite(t).all()) for f in files for t in load_file(str(f)).values() if t.is_floating_point()
        )
    except Exception:
        return False


finite_rule = RowRule(
    name="weights_finite",
    description="No NaN or infinite value in any weight tensor.",
    derive=lambda df: [weights_finite(p) for p in df["model_path"]],
    columns=("model_path",),
)


def _check(asset):
    return gx_asset_check(
        asset=asset,
        name=CHECKPOINT_VALID,
        blocking=True,
        description="One checkpoint row; the HF folder is complete and its weights hash as recorded; "
        "no NaN/inf weights; steps and tokens seen positive, final loss finite.",
        suite=lambda: (
            id_suite()
            + row_count_between(1, 1)
            + not_null(["model_path", "weights_sha256", "base_model"])
            + values_in_set("stage", list(CHECKPOINT_STAGES))
            + between("steps", 1, None)
            + between("tokens_seen", 1, None)
            + between("final_loss", 0, 1e6)
        ),
        rules=[folder_rule, hash_rule, finite_rule],
    )


checks = [
    _check(a)
    for a in (cpt_checkpoint, sft_stage1_checkpoint, sft_stage2_checkpoint, sft_stage3_checkpoint, rl_checkpoint)
]
