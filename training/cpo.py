"""RL stage (offline): CPO-SimPO with TRL's ``CPOTrainer`` (``trl.experimental.cpo``).

``loss_type="simpo"``: the implicit reward is the length-normalised log-probability (no reference model)
scaled by ``beta``, with target margin ``simpo_gamma``; ``cpo_alpha > 0`` adds CPO's NLL term on the chosen
answer. Rows are conversational ⟨prompt, chosen, rejected⟩ (``PREFERENCE_SCHEMA``); TRL renders them with
the tokenizer's chat template.
"""

from __future__ import annotations

import time
from typing import Any

from .common import argument_kwargs, load_model, make_callbacks, train_and_save
from .config import CPOStageConfig

COLUMNS = ("prompt", "chosen", "rejected")
MIN_COMPLETION_TOKENS = 16  # a pair is trained on only if its prompt leaves this many tokens for the answer


def load_dataset(path: str):
    import datasets
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(COLUMNS))

    def clean(msgs):
        return [{"role": m["role"], "content": m["content"]} for m in msgs or []]

    rows = [{c: clean(r[c]) for c in COLUMNS} for r in table.to_pylist()]
    rows = [r for r in rows if r["prompt"] and r["chosen"] and r["rejected"]]
    if not rows:
        raise ValueError(f"{path}: no complete preference pair to train on")
    return datasets.Dataset.from_list(rows)


def build_trainer(cfg: CPOStageConfig):
    from transformers import AutoTokenizer
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    class CountingCPOTrainer(CPOTrainer):
        """Counts the chosen + rejected tokens of every batch as the tokens seen."""

        pairs_dropped_too_long = 0  # set by build_trainer: pairs whose prompt leaves no room for the answer

        def training_step(self, model, inputs, *args, **kwargs):
            n = sum(int(inputs[k].sum()) for k in ("chosen_attention_mask", "rejected_attention_mask") if k in inputs)
            self.state.num_input_tokens_seen += n
            return super().training_step(model, inputs, *args, **kwargs)

    tokenizer = AutoTokenizer.from_pretrained(cfg.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kw = argument_kwargs(cfg)
    kw["include_num_input_tokens_seen"] = "no"  # counted by CountingCPOTrainer (no input_ids in CPO batches)
    args = CPOConfig(
        **kw,
        loss_type=cfg.loss_type,
        beta=cfg.beta,
        simpo_gamma=cfg.simpo_gamma,
        cpo_alpha=cfg.cpo_alpha,
        max_length=cfg.max_seq_len,
    )
    model = load_model(cfg)
    dataset, dropped = fit_to_length(load_dataset(cfg.data_path), tokenizer, cfg.max_seq_len)
    if dropped:
        print(
            f"[cpo] {dropped} pairs dropped: their prompt leaves fewer than {MIN_COMPLETION_TOKENS} tokens "
            f"of max_seq_len={cfg.max_seq_len} for the answer",
            flush=True,
        )
    trainer = CountingCPOTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=make_callbacks(cfg)
    )
    trainer.pairs_dropped_too_long = dropped
    return trainer, tokenizer


def fit_to_length(dataset, tokenizer, max_len: int):
    """(pairs whose rendered prompt leaves at least MIN_COMPLETION_TOKENS of ``max_len`` for the answer,
    how many were dropped). TRL truncates the completion away when the prompt fills ``max_length``; the
    log-probability of an empty completion is 0/0 = NaN, and one NaN step ruins every weight."""

    def fits(row) -> bool:
        ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        return len(ids) + MIN_COMPLETION_TOKENS <= max_len

    keep = [i for i, row in enumerate(dataset) if fits(row)]
    if not keep:
        raise ValueError(
            f"every preference pair's prompt leaves fewer than {MIN_COMPLETION_TOKENS} tokens of "
            f"max_seq_len={max_len} for the answer: raise max_seq_len"
        )
    return dataset.select(keep), len(dataset) - len(keep)


def run(cfg: CPOStageConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    trainer, tokenizer = build_trainer(cfg)
    return train_and_save(
        cfg,
        trainer,
        tokenizer,
        t0=t0,
        extra={"pairs": len(trainer.train_dataset), "pairs_dropped_too_long": trainer.pairs_dropped_too_long},
    )
