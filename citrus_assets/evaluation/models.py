"""The evaluation model registry: partition key of the ``eval_models`` dimension -> how to load the model.

kinds
- ``builtin``: the built-in SmolLM2-135M-Instruct (transformers backend).
- ``hf``: a local folder or Hugging Face id through transformers (``model``).
- ``checkpoint``: a checkpoint asset of this project (``model`` = the asset name, e.g.
  ``sft_stage3_checkpoint``); its one-row CHECKPOINT_SCHEMA table is read from the lake *at run time*
  (``model_path``, ``weights_sha256``), with no graph dependency. Off by default (``include_checkpoints``):
  the training stages are evaluated by their own assets, downstream of each checkpoint in the graph
  (``stage_assets.py``: the Table 5 rows, re-evaluated when a checkpoint retrains).
- ``openai``: an OpenAI-compatible server (``base_url``, served name ``model``, key from ``api_key_env``).
- ``vllm``: in-process vLLM engine (GPU) for a local folder or Hub id.

``prompt_style``: ``citrus`` (expert system line, ``<think>``/``<answer>`` format: reasoning models,
this project's checkpoints) or ``plain`` (a bare multiple-choice prompt: other models).
``stage`` orders a model in the paper's Table 5 (base -> CPT -> SFT stages -> RL); "" = not in it.

The cost guard of the evaluation's model clients is ``LLMCostGuard`` (``auto_runs_enabled``,
``max_requests_per_auto_run``; ``resources/llm/cost_guard.py``), here on ``EvalModelsResource``.

Registry = defaults (``builtin``, + one key per checkpoint stage when ``include_checkpoints``) <- ``$CITRUS_EVAL_MODELS`` / ``models_file``
(a JSON object key -> spec) <- the resource's ``models`` config. A partition exists only once registered
in the ``eval_models`` dynamic partitions (``register_eval_models`` or the sensor).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from citrus_assets.model_training.schemas import CHECKPOINT_STAGES
from resources.lineage.schema import UNPARTITIONED
from resources.llm import BUILTIN_MODEL, LLMResource
from resources.llm.cost_guard import LLMCostGuard

KINDS = ("builtin", "hf", "checkpoint", "openai", "vllm")
PROMPT_STYLES = ("citrus", "plain")
STAGE_ORDER = ("base", *CHECKPOINT_STAGES)
# How Table 5 names each stage (row labels of the report, asset descriptions).
STAGE_LABELS = {
    "base": "base",
    "cpt": "CPT",
    "sft_stage1": "SFT-1",
    "sft_stage2": "SFT-2",
    "sft_stage3": "SFT-3",
    "rl": "RL",
}
BUILTIN_KEY = "builtin"


class EvalModelSpec(dg.Config):
    kind: str = "builtin"
    model: str = ""  # path / Hub id / served name / checkpoint asset name
    revision: str = ""
    base_url: str = ""
    api_key_env: str = "CITRUS_OPENAI_API_KEY"
    prompt_style: str = "plain"
    stage: str = ""


def default_specs() -> dict[str, EvalModelSpec]:
    # the built-in model with the plain prompt; the base row of Table 5 is eval_predictions_base (stage_assets.py)
    specs = {BUILTIN_KEY: EvalModelSpec(kind="builtin", model=BUILTIN_MODEL, prompt_style="plain", stage="")}
    for stage in CHECKPOINT_STAGES:
        specs[stage] = EvalModelSpec(kind="checkpoint", model=f"{stage}_checkpoint", prompt_style="citrus", stage=stage)
    return specs


class ModelUnavailable(RuntimeError):
    """The model of a partition cannot be loaded now (unknown key, checkpoint not materialized...)."""


@dataclass
class ResolvedModel:
    key: str
    spec: EvalModelSpec
    llm: LLMResource
    checkpoint_id: str = ""  # the checkpoint row's record_id (kind checkpoint)


def validate_spec(key: str, spec: EvalModelSpec) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"model {key!r}: kind must be one of {KINDS}, got {spec.kind!r}")
    if spec.prompt_style not in PROMPT_STYLES:
        raise ValueError(f"model {key!r}: prompt_style must be one of {PROMPT_STYLES}, got {spec.prompt_style!r}")
    if spec.kind != "builtin" and not spec.model:
        raise ValueError(f"model {key!r}: kind {spec.kind} needs 'model'")
    if spec.kind == "openai" and not spec.base_url:
        raise ValueError(f"model {key!r}: kind openai needs 'base_url'")


class EvalModelsResource(dg.ConfigurableResource, LLMCostGuard):
    """Which models the ``eval_models`` partitions stand for (see the module docstring), how the evaluation
    loads models (cache, device, batch size), and the cost guard of automatic evaluation runs."""

    models: dict[str, EvalModelSpec] = {}
    models_file: str = ""  # JSON {key: spec}; "" = $CITRUS_EVAL_MODELS when set
    include_checkpoints: bool = False  # the checkpoint stages as dynamic models too (their own assets evaluate them)
    cache_dir: str = ""  # the LLM request cache (and converted built-in model); "" = the default
    use_cache: bool = True
    device: str = "auto"
    batch_size: int = 16

    def specs(self) -> dict[str, EvalModelSpec]:
        out = default_specs()
        if not self.include_checkpoints:
            out = {k: v for k, v in out.items() if v.kind != "checkpoint"}
        path = self.models_file or os.environ.get("CITRUS_EVAL_MODELS", "")
        if path:
            for k, v in json.loads(Path(path).read_text(encoding="utf-8")).items():
                out[k] = EvalModelSpec(**v)
        out.update(self.models)
        for k, v in out.items():
            validate_spec(k, v)
        return out

    def spec(self, key: str) -> EvalModelSpec:
        specs = self.specs()
        if key not in specs:
            raise ModelUnavailable(
                f"model partition {key!r} is not in the evaluation model registry "
                f"(known: {sorted(specs)}); add it to EvalModelsResource.models"
            )
        return specs[key]

    def _llm(self, backend: str, model: str, spec: EvalModelSpec) -> LLMResource:
        return LLMResource(
            backend=backend,
            model=model,
            revision=spec.revision,
            base_url=spec.base_url,
            api_key_env=spec.api_key_env,
            cache_dir=self.cache_dir,
            use_cache=self.use_cache,
            device=self.device,
            batch_size=self.batch_size,
        )

    def resolve(self, key: str, lake=None) -> ResolvedModel:
        """The partition's model as an LLMResource (checkpoints read from ``lake``, a ``Lake``)."""
        return self.resolve_spec(key, self.spec(key), lake)

    def resolve_spec(self, key: str, spec: EvalModelSpec, lake=None) -> ResolvedModel:
        """``spec`` as an LLMResource with this resource's cache, device and batch size."""
        validate_spec(key, spec)
        if spec.kind == "hf" and Path(spec.model).is_absolute() and not Path(spec.model).exists():
            raise ModelUnavailable(f"model {key!r}: folder {spec.model} does not exist")
        if spec.kind == "builtin":
            return ResolvedModel(key, spec, self._llm("transformers", spec.model or BUILTIN_MODEL, spec))
        if spec.kind in ("hf", "openai", "vllm"):
            backend = "transformers" if spec.kind == "hf" else spec.kind
            return ResolvedModel(key, spec, self._llm(backend, spec.model, spec))
        row = checkpoint_row(lake, spec.model)
        if not row.get("model_path") or not Path(row["model_path"]).exists():
            raise ModelUnavailable(f"checkpoint {spec.model!r}: model_path {row.get('model_path')!r} does not exist")
        pinned = spec.model_copy(update={"revision": spec.revision or (row.get("weights_sha256") or "")})
        return ResolvedModel(
            key, pinned, self._llm("transformers", row["model_path"], pinned), checkpoint_id=row.get("record_id") or ""
        )

    def available_keys(self, lake=None) -> list[str]:
        """Registered keys whose model can be loaded now (checkpoints: their table is in the lake)."""
        keys = []
        for k, v in self.specs().items():
            if v.kind == "checkpoint":
                try:
                    checkpoint_row(lake, v.model)
                except ModelUnavailable:
                    continue
            keys.append(k)
        return keys


def checkpoint_row(lake, asset: str) -> dict:
    """The one row of a checkpoint asset's table (raises ModelUnavailable when not materialized)."""
    if lake is None:
        raise ModelUnavailable(f"checkpoint {asset!r}: no lake to read it from")
    try:
        table = lake.read_table(asset, UNPARTITIONED)
    except FileNotFoundError:
        raise ModelUnavailable(
            f"checkpoint asset {asset!r} has not been materialized in the lake ({lake.root}); materialize it first"
        ) from None
    if table.num_rows != 1 or "model_path" not in table.column_names:
        raise ModelUnavailable(
            f"checkpoint asset {asset!r}: expected one row with model_path, "
            f"got {table.num_rows} rows, columns {table.column_names}"
        )
    return table.to_pylist()[0]


def register_eval_models(
    instance: dg.DagsterInstance, keys: list[str], partitions_name: str = "eval_models"
) -> list[str]:
    """Add the model keys not yet registered as ``eval_models`` partitions; returns the new ones."""
    existing = set(instance.get_dynamic_partitions(partitions_name))
    new = [k for k in keys if k not in existing]
    if new:
        instance.add_dynamic_partitions(partitions_name, new)
    return new
