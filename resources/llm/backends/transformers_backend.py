"""Local checkpoint backend: Hugging Face transformers `generate` on CPU or GPU.

Batched (left padding), prompts rendered with the tokenizer's chat template, greedy when
temperature == 0 (one generation per prompt, copied to every requested sample index) else
sampling with top_p, seeded with `torch.manual_seed(seed)` before every batch. Stop strings are
passed to `generate` and the text is cut at the first one. The tokenizer is loaded on first
`render`, the model on first `generate` (so a fully cached run never loads the weights).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.llm.backends.builtin import BUILTIN_MODEL, builtin_model_path, builtin_revision
from resources.llm.types import Generation, LLMBackendError, Request, SamplingParams

if TYPE_CHECKING:  # transformers is imported lazily (first render / generate)
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def local_revision(path: str | os.PathLike) -> str:
    """Cheap content fingerprint of a local checkpoint folder: every file's name and size,
    and a sha256 of its first and last MiB (safetensors headers + first/last tensors)."""
    root = Path(path)
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(root) if p != root else p.name}\0{size}\0".encode())
        with open(p, "rb") as f:
            h.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                h.update(f.read())
    return "local-" + h.hexdigest()[:16]


def render_chat(tok: PreTrainedTokenizerBase, messages: list[dict], model_id: str) -> str:
    """The prompt text of one conversation: the tokenizer's chat template with the generation prompt."""
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):  # tokenize=False renders one conversation to one string
        raise LLMBackendError(f"model {model_id}: the chat template rendered {type(text).__name__}, not text")
    return text


def resolve_model(model: str, revision: str, cache_dir: str | None) -> tuple[str, str, str]:
    """(model id for the cache key, revision, what to load: a path or a Hub id)."""
    if model == BUILTIN_MODEL:
        return model, revision or builtin_revision(), str(builtin_model_path(cache_dir))
    if os.path.exists(model):
        return model, revision or local_revision(model), model
    return model, revision, model


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; returns (text, whether one was found)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersBackend:
    def __init__(
        self,
        model: str,
        revision: str = "",
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        cache_dir: str | None = None,
    ) -> None:
        self.model_id, self.revision, self.source = resolve_model(model, revision, cache_dir)
        self._hub_revision = None if os.path.exists(self.source) else (revision or None)  # Hub ids only
        self.device_name = device
        self.dtype_name = dtype
        self.batch_size = max(1, int(batch_size))
        self._tok: PreTrainedTokenizerBase | None = None
        # Any: the class is picked at load time by AutoModelForCausalLM; transformers' PreTrainedModel type has no
        # `generate` (GenerationMixin) and types its `to` through functools.wraps, so it would not check either.
        self._model: Any = None
        self._lock = threading.RLock()

    # -- loading ----------------------------------------------------------------------------
    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        with self._lock:
            if self._tok is None:
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(self.source, revision=self._hub_revision)
                tok.padding_side = "left"
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
                if not getattr(tok, "chat_template", None):
                    raise LLMBackendError(f"model {self.model_id}: the tokenizer has no chat template")
                self._tok = tok
            return self._tok

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM

                device = self.device_name
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                dtype = "auto" if self.dtype_name == "auto" else getattr(torch, self.dtype_name)
                log.info("loading %s (%s) on %s", self.model_id, self.source, device)
                model: Any = AutoModelForCausalLM.from_pretrained(self.source, revision=self._hub_revision, dtype=dtype)
                self._model = model.to(device).eval()
            return self._model

    # -- rendering --------------------------------------------------------------------------
    def render(self, messages: list[dict]) -> str:
        return render_chat(self.tokenizer, messages, self.model_id)

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], params: SamplingParams) -> list[list[Generation]]:
        # One row per generated sequence; greedy decoding needs one row per prompt only.
        rows: list[tuple[int, str]] = []  # (request index, rendered prompt)
        for i, r in enumerate(requests):
            rows.extend([(i, r.rendered)] * (1 if params.greedy else len(r.sample_indices)))
        results: list[list[Generation]] = [[] for _ in requests]
        with self._lock:
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start : start + self.batch_size]
                for (i, _), gen in zip(batch, self._generate_batch([t for _, t in batch], params)):
                    results[i].append(gen)
        out = []
        for r, gens in zip(requests, results):
            if params.greedy:
                gens = gens * len(r.sample_indices)
            out.append(
                [
                    Generation(g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason, False, idx)
                    for g, idx in zip(gens, r.sample_indices)
                ]
            )
        return out

    def _generate_batch(self, texts: list[str], params: SamplingParams) -> list[Generation]:
        import torch

        tok, model = self.tokenizer, self.model
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        kwargs: dict = {"max_new_tokens": params.max_tokens, "pad_token_id": tok.pad_token_id}
        if params.greedy:
            kwargs["do_sample"] = False
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            seqs = model.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        eos = self._eos_ids()
        return [self._finish(seq[width:].tolist(), int(n), eos, params) for seq, n in zip(seqs, prompt_lens)]

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _finish(self, ids: list[int], prompt_tokens: int, eos: set[int], params: SamplingParams) -> Generation:
        end = next((k for k, t in enumerate(ids) if t in eos), None)
        body = ids if end is None else ids[:end]
        tok = self.tokenizer

        def decode(k: int) -> str:  # one flat id list decodes to one string
            return str(tok.decode(body[:k], skip_special_tokens=True))

        text, stopped = truncate_at_stop(decode(len(body)), params.stop)
        if stopped:  # tokens actually needed to produce the stop string (smallest prefix that has it)
            lo, hi = 1, len(body)
            while lo < hi:
                mid = (lo + hi) // 2
                if truncate_at_stop(decode(mid), params.stop)[1]:
                    hi = mid
                else:
                    lo = mid + 1
            return Generation(text, prompt_tokens, lo, "stop")
        if end is not None:
            return Generation(text, prompt_tokens, end + 1, "stop")  # EOS counts as a generated token
        return Generation(text, prompt_tokens, len(ids), "length")
