"""Shared fixtures: where the real public sample data is, and temporary lakes."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from tests.support.resources import make_resources

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``$CITRUS_DATA`` or ``../shared/data`` relative to the repo root."""
    return Path(os.environ.get("CITRUS_DATA") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"real sample data not found at {d} (set CITRUS_DATA to its folder)")
    return d


@pytest.fixture
def lake_root(tmp_path, monkeypatch) -> str:
    root = tmp_path / "lake"
    monkeypatch.setenv("CITRUS_LAKE", str(root))
    return str(root)


@pytest.fixture
def lake_resources(tmp_path):
    """``make_resources`` on ``tmp_path / "lake"``: call it with the resources a test replaces
    (``lake_resources(llm=..., inbox=...)``); the lake root is ``resources["lake"].root``."""
    return partial(make_resources, str(tmp_path / "lake"))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained here (no downloads)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-llama")
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    corpus = [
        "The lemon is a citrus fruit.",
        "Oranges and limes grow on trees.",
        "What is the capital of France? Paris.",
        "user assistant system",
        "Count one two three four five six seven eight nine ten.",
    ] * 5
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<pad>"
    )
    tok.chat_template = CHATML
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)
