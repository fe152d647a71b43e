"""Continued pre-training: transformers ``Trainer`` with a bandit data sampler over CPT sources.

Input: the ``cpt_shards`` manifest (one row per Parquet shard: ``source``, ``path``...). Every source's
documents are tokenized, joined with EOS and cut into ``max_seq_len`` blocks. Each micro-batch comes from
one source, drawn by :class:`training.bandit.Exp3Sampler`; after its forward pass the batch's loss is that
source's reward (see the bandit module for the rule). The sampling probabilities are logged as metrics
(``bandit/p_<source>``), kept in ``bandit.json`` (saved with every step checkpoint, restored on resume)
and plotted to ``bandit_proportions.png`` in the run folder.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from .bandit import Exp3Sampler, plot_proportions
from .common import argument_kwargs, emit, load_model, make_callbacks, train_and_save
from .config import CPTConfig

BANDIT_FILE = "bandit.json"
PLOT_FILE = "bandit_proportions.png"


def read_sources(manifest_path: str) -> dict[str, list[str]]:
    """``{source: [document text...]}`` from the shard manifest (shards read with fsspec)."""
    import fsspec
    import pyarrow.parquet as pq

    manifest = pq.read_table(manifest_path, columns=["source", "path"]).to_pylist()
    texts: dict[str, list[str]] = {}
    for row in sorted(manifest, key=lambda r: (r["source"], r["path"])):
        with fsspec.open(row["path"], "rb") as fh:
            shard = pq.read_table(fh, columns=["text"])
        texts.setdefault(row["source"], []).extend(t for t in shard["text"].to_pylist() if t)
    return {s: t for s, t in texts.items() if t}


def pack_blocks(texts: list[str], tokenizer, block: int) -> list[list[int]]:
    """Tokenize, join with EOS, cut into ``block``-token pieces (a last piece of >= 16 tokens is kept)."""
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids + ([eos] if eos is not None else []))
    blocks = [stream[i : i + block] for i in range(0, len(stream), block)]
    return [b for b in blocks if len(b) >= min(16, block)]


class BanditBatchSampler:
    """Yields micro-batches of block indices, one source per batch, the source drawn by the bandit."""

    def __init__(self, bandit: Exp3Sampler, arm_blocks: list[list[int]], batch_size: int, num_batches: int, seed: int):
        self.bandit, self.arm_blocks = bandit, arm_blocks
        self.batch_size, self.num_batches = batch_size, num_batches
        self._rng = random.Random(seed)
        self._queues: list[list[int]] = [[] for _ in arm_blocks]

    def __len__(self) -> int:
        return self.num_batches

    def _take(self, arm: int) -> int:
        if not self._queues[arm]:  # reshuffle the source's blocks when they run out
            self._queues[arm] = self._rng.sample(self.arm_blocks[arm], len(self.arm_blocks[arm]))
        return self._queues[arm].pop()

    def __iter__(self):
        for _ in range(self.num_batches):
            arm = self.bandit.choose()
            yield [self._take(arm) for _ in range(self.batch_size)]


def build_trainer(cfg: CPTConfig):
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(cfg.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    sources = read_sources(cfg.data_path)
    if not sources:
        raise ValueError(f"{cfg.data_path}: no CPT text in any shard")
    arms = sorted(sources)
    blocks: list[tuple[int, list[int]]] = []
    arm_blocks: list[list[int]] = []
    for a, name in enumerate(arms):
        packed = pack_blocks(sources[name], tokenizer, cfg.max_seq_len)
        arm_blocks.append(list(range(len(blocks), len(blocks) + len(packed))))
        blocks += [(a, b) for b in packed]
    keep = [i for i, ab in enumerate(arm_blocks) if ab]
    arms, arm_blocks = [arms[i] for i in keep], [arm_blocks[i] for i in keep]
    blocks = [(keep.index(a), b) for a, b in blocks if a in keep]
    args = TrainingArguments(**argument_kwargs(cfg), ignore_data_skip=True)  # the bandit state is the position
    ga = cfg.grad_accum()
    max_steps = (
        cfg.max_steps
        if cfg.max_steps > 0
        else max(1, int(cfg.epochs * len(blocks) // (cfg.per_device_batch_size * ga * cfg.world_size())))
    )
    args.max_steps = max_steps
    bandit = Exp3Sampler(arms, floor=cfg.bandit_floor, eta=cfg.bandit_eta, decay=cfg.bandit_decay, seed=cfg.seed)
    sampler = BanditBatchSampler(bandit, arm_blocks, cfg.per_device_batch_size, max_steps * ga, cfg.seed)
    pad = tokenizer.pad_token_id

    def collate(items):
        n = max(len(b) for _, b in items)
        ids = torch.full((len(items), n), pad, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for i, (_, b) in enumerate(items):
            ids[i, : len(b)] = torch.tensor(b)
            mask[i, : len(b)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": labels,
            "source_idx": torch.tensor([a for a, _ in items]),
        }

    class BanditTrainer(Trainer):
        def get_train_dataloader(self):
            loader: torch.utils.data.DataLoader = torch.utils.data.DataLoader(
                blocks,  # type: ignore[arg-type]  # a list is a map-style dataset (__getitem__, __len__)
                batch_sampler=sampler,
                collate_fn=collate,
            )
            return self.accelerator.prepare(loader)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            arm = int(inputs.pop("source_idx")[0])
            loss, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
            with torch.no_grad():  # the batch's mean token loss is the source's reward
                logits = outputs.logits[:, :-1].float()
                labels = inputs["labels"][:, 1:]
                ce = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100
                )
            bandit.update(arm, float(ce))
            return (loss, outputs) if return_outputs else loss

    class BanditLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs is not None:
                logs.update({f"bandit/p_{a}": round(p, 4) for a, p in zip(arms, bandit.probabilities())})

        def on_save(self, args, state, control, **kw):
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            if state.is_world_process_zero and os.path.isdir(folder):
                with open(os.path.join(folder, BANDIT_FILE), "w") as fh:
                    json.dump(bandit.state_dict(), fh)

    model = load_model(cfg)
    trainer = BanditTrainer(
        model=model, args=args, processing_class=tokenizer, callbacks=[BanditLog(), *make_callbacks(cfg)]
    )
    return trainer, tokenizer, bandit, {a: len(b) for a, b in zip(arms, arm_blocks)}


def run(cfg: CPTConfig) -> dict[str, Any]:
    from .common import last_checkpoint

    t0 = time.perf_counter()
    trainer, tokenizer, bandit, blocks = build_trainer(cfg)
    resume = last_checkpoint(cfg)
    if resume and os.path.exists(os.path.join(resume, BANDIT_FILE)):
        with open(os.path.join(resume, BANDIT_FILE)) as fh:
            bandit.load_state_dict(json.load(fh))
    emit("cpt_data", blocks_per_source=blocks)
    os.makedirs(cfg.output_dir, exist_ok=True)
    plot = plot_proportions(bandit.history, bandit.arms, os.path.join(cfg.output_dir, PLOT_FILE))
    extra: dict[str, Any] = {"blocks_per_source": blocks}
    result = train_and_save(cfg, trainer, tokenizer, extra=extra, t0=t0)
    if result:
        plot_proportions(bandit.history, bandit.arms, plot)
        history = {"arms": bandit.arms, "history": bandit.history, "shares": bandit.shares()}
        with open(os.path.join(cfg.output_dir, "bandit_history.json"), "w") as fh:
            json.dump(history, fh)
        result.update(
            bandit_shares=bandit.shares(),
            bandit_final_p=dict(zip(bandit.arms, bandit.probabilities())),
            bandit_plot=plot,
        )
        with open(os.path.join(cfg.output_dir, "result.json"), "w") as fh:
            json.dump(result, fh, indent=1)
    return result
