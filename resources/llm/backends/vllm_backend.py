"""In-process vLLM offline engine (GPU only).

`vllm` is imported only inside this module's functions, only when this backend is selected; a
machine without it gets a clear `LLMBackendError` when the backend is created. Prompts are
rendered for the cache key with the model's Hugging Face tokenizer (`apply_chat_template`, the
same template `LLM.chat` applies), so a fully cached run never starts the engine.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from resources.llm.backends.transformers_backend import render_chat, resolve_model
from resources.llm.types import Generation, LLMBackendError, Request, SamplingParams

if TYPE_CHECKING:  # transformers is imported lazily (first render)
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'citrus-lake[gpu]' (vllm, on a machine with a CUDA GPU)"


def _require_vllm(model: str):
    if importlib.util.find_spec("vllm") is None:
        raise LLMBackendError(
            f"backend='vllm' (model {model}) needs the vllm package, which is not installed: "
            f"{INSTALL_HINT}; or use backend='transformers'"
        )
    try:
        import vllm
    except Exception as e:  # noqa: BLE001 - broken CUDA / torch mismatch: say so clearly
        raise LLMBackendError(f"backend='vllm' (model {model}): importing vllm failed: {type(e).__name__}: {e}") from e
    return vllm


class VLLMBackend:
    def __init__(
        self,
        model: str,
        revision: str = "",
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        _require_vllm(model)  # fail fast when selected without vllm
        self.model_id, self.revision, self.source = resolve_model(model, revision, cache_dir)
        self._hub_revision = None if os.path.exists(self.source) else (revision or None)  # Hub ids only
        self.tensor_parallel_size = int(tensor_parallel_size)
        self.dtype = dtype
        self.seed = seed
        self._llm: Any = None  # a vllm.LLM: the optional vllm package is imported on first use only
        self._tok: PreTrainedTokenizerBase | None = None
        self._lock = threading.RLock()

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        with self._lock:
            if self._tok is None:
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(self.source, revision=self._hub_revision)
            return self._tok

    @property
    def llm(self) -> Any:
        with self._lock:
            if self._llm is None:
                vllm = _require_vllm(self.model_id)
                log.info(
                    "starting vLLM engine for %s (tp=%d, dtype=%s)",
                    self.model_id,
                    self.tensor_parallel_size,
                    self.dtype,
                )
                self._llm = vllm.LLM(
                    model=self.source,
                    revision=self._hub_revision,
                    tensor_parallel_size=self.tensor_parallel_size,
                    dtype=self.dtype,
                    seed=self.seed,
                )
            return self._llm

    def render(self, messages: list[dict]) -> str:
        return render_chat(self.tokenizer, messages, self.model_id)

    def generate(self, requests: Sequence[Request], params: SamplingParams) -> list[list[Generation]]:
        if not requests:
            return []
        vllm = _require_vllm(self.model_id)
        # Greedy samples are all the same: generate one per prompt and copy it (like the transformers backend).
        per_prompt = [
            vllm.SamplingParams(
                n=1 if params.greedy else len(r.sample_indices),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=params.seed,
            )
            for r in requests
        ]
        with self._lock:
            try:
                outputs = self.llm.chat([r.messages for r in requests], sampling_params=per_prompt, use_tqdm=False)
            except LLMBackendError:
                raise
            except Exception as e:  # noqa: BLE001
                raise LLMBackendError(f"vLLM engine (model {self.model_id}) failed: {type(e).__name__}: {e}") from e
        results = []
        for r, out in zip(requests, outputs):
            prompt_tokens = len(out.prompt_token_ids or [])
            completions = sorted(out.outputs, key=lambda o: o.index)
            if params.greedy:
                completions = completions[:1] * len(r.sample_indices)
            results.append(
                [
                    Generation(o.text, prompt_tokens, len(o.token_ids), str(o.finish_reason or "stop"), False, idx)
                    for o, idx in zip(completions, r.sample_indices)
                ]
            )
        return results
