"""SFT stages 1/2/3: TRL ``SFTTrainer`` on chat ``messages`` with the loss on assistant tokens only.

Assistant-only loss in TRL 1.16 needs a chat template with ``{% generation %}`` markers. The model's own
template is used as it renders; :func:`training_template` makes the marked twin:

1. TRL's own training template for the families it knows (Qwen, Llama 3, Gemma...);
2. else, for ChatML templates (SmolLM2, the tests' tiny model), the per-message ChatML expression is wrapped
   so the assistant's content and its ``<|im_end|>`` fall inside the markers (the model learns to stop);
3. the twin is accepted only if it renders a probe conversation byte-identically to the original.

When no twin is found, rows become prompt/completion pairs (everything before the last assistant turn is
the prompt) and TRL's ``completion_only_loss`` masks the prompt. The saved model keeps the original
template (the markers are a training-only device).
"""

from __future__ import annotations

import time
from typing import Any

from .common import argument_kwargs, load_model, make_callbacks, train_and_save
from .config import SFTStageConfig

CHATML_MESSAGE = "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
CHATML_MARKED = (
    "{% if message['role'] == 'assistant' %}{{'<|im_start|>assistant\n'}}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{'\n'}}{% else %}" + CHATML_MESSAGE + "{% endif %}"
)
PROBE = [
    {"role": "system", "content": "You are a careful clinician."},
    {"role": "user", "content": "Which vitamin deficiency causes scurvy?"},
    {"role": "assistant", "content": "Vitamin C."},
    {"role": "user", "content": "And rickets?"},
    {"role": "assistant", "content": "Vitamin D."},
]


def _renders_same(tokenizer, original: str, marked: str) -> bool:
    for msgs in (PROBE, PROBE[1:]):
        a = tokenizer.apply_chat_template(msgs, tokenize=False, chat_template=original)
        b = tokenizer.apply_chat_template(msgs, tokenize=False, chat_template=marked)
        if a != b:
            return False
    out = tokenizer.apply_chat_template(
        PROBE, tokenize=True, return_dict=True, chat_template=marked, return_assistant_tokens_mask=True
    )
    kept = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    return "Vitamin C." in kept and "Vitamin D." in kept and "scurvy" not in kept


def training_template(tokenizer) -> str | None:
    """A twin of the tokenizer's chat template with generation markers, or None when none is found."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    original = tokenizer.chat_template
    if isinstance(original, dict):
        original = original.get("default")
    if not original:
        return None
    if has_generation_markers(original):
        return original
    candidates = []
    try:
        candidates.append(get_training_chat_template(tokenizer))
    except Exception:  # an unknown template family: TRL raises
        pass
    if CHATML_MESSAGE in original:
        candidates.append(original.replace(CHATML_MESSAGE, CHATML_MARKED))
    for marked in candidates:
        if marked and _renders_same(tokenizer, original, marked):
            return marked
    return None


def to_prompt_completion(messages: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Split a conversation at its last assistant turn (the completion-only fallback)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:last], "completion": [messages[last]]}


def load_dataset(path: str, *, assistant_only: bool):
    """Rows with an assistant turn, as ``messages`` (or prompt/completion for the fallback)."""
    import datasets
    import pyarrow.parquet as pq

    rows = [
        {"messages": [{"role": m["role"], "content": m["content"]} for m in msgs]}
        for msgs in pq.read_table(path, columns=["messages"])["messages"].to_pylist()
        if msgs and any(m["role"] == "assistant" for m in msgs)
    ]
    if not rows:
        raise ValueError(f"{path}: no conversation with an assistant turn to train on")
    if not assistant_only:
        rows = [to_prompt_completion(r["messages"]) for r in rows]
    return datasets.Dataset.from_list(rows)


def build_trainer(cfg: SFTStageConfig):
    """(trainer, tokenizer, original chat template) for ``cfg`` (nothing trained yet)."""
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(cfg.model_path)
    original = tokenizer.chat_template
    marked = training_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    args = SFTConfig(
        **argument_kwargs(cfg),
        max_length=cfg.max_seq_len,
        packing=False,
        assistant_only_loss=marked is not None,
        completion_only_loss=None if marked is not None else True,
        dataset_num_proc=None,
    )
    model = load_model(cfg)
    if marked is not None:
        tokenizer.chat_template = marked
    train = load_dataset(cfg.data_path, assistant_only=marked is not None)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train, processing_class=tokenizer, callbacks=make_callbacks(cfg)
    )
    return trainer, tokenizer, original


def run(cfg: SFTStageConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    trainer, tokenizer, original = build_trainer(cfg)
    tokenizer.chat_template = original  # the saved model keeps the template it came with
    return train_and_save(
        cfg,
        trainer,
        tokenizer,
        extra={
            "examples": len(trainer.train_dataset),
            "loss_mask": "assistant_only" if trainer.args.assistant_only_loss else "completion_only",
        },
        t0=t0,
    )
