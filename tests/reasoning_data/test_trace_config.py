"""One config per engine (issue 16 change 5): the asset's ``TraceConfig`` IS the engine's ``LoopConfig``."""

from citrus_assets.reasoning_data.traces import dual_roles as R
from citrus_assets.reasoning_data.traces.assets import TraceConfig
from citrus_assets.reasoning_data.traces.dual_expert import LoopConfig
from resources.llm import SamplingParams
from resources.llm.sampling import SamplingConfig

# The rows' ``sampling`` column and the chunk fingerprints hold this JSON: it must not change with the refactor.
DEFAULT_JSON = (
    '{"max_attempts":2,"max_rounds":3,"max_tokens_conclusion":48,"max_tokens_judge":4,"max_tokens_reflection":48,'
    '"max_tokens_start":96,"max_tokens_step":128,"seed":0,"temperature":0.7,"top_p":0.95}'
)


def test_no_field_declared_in_both_configs():
    assert issubclass(TraceConfig, LoopConfig) and issubclass(LoopConfig, SamplingConfig)
    own = set(TraceConfig.__annotations__)  # the fields TraceConfig's body declares (not inherited ones)
    assert own == {"scheduling", "chunk_size", "max_in_flight", "max_batch"}, own
    assert not own & set(LoopConfig.model_fields), sorted(own & set(LoopConfig.model_fields))
    assert not set(LoopConfig.__annotations__) - set(LoopConfig.model_fields)  # nothing declared outside pydantic


def test_paper_defaults_live_in_the_engine_and_serialize_as_before():
    assert TraceConfig().loop_config() == LoopConfig()
    assert LoopConfig().to_json() == DEFAULT_JSON
    assert TraceConfig().to_json() == DEFAULT_JSON  # the scheduling fields are not sampling
    cfg = TraceConfig(max_rounds=2, max_tokens=7, scheduling="rounds")
    assert cfg.loop_config() == LoopConfig(max_rounds=2, max_tokens=7)
    assert '"max_tokens_step":7' in cfg.to_json() and '"max_rounds":2' in cfg.to_json()


def test_params_per_role_are_those_built_by_hand_before():
    cfg = LoopConfig(seed=3)
    assert cfg.params(R.STEP, 1, 2) == SamplingParams(n=1, temperature=0.7, top_p=0.95, max_tokens=128, seed=1005)
    assert cfg.params(R.START, 0) == SamplingParams(n=1, temperature=0.7, top_p=0.95, max_tokens=96, seed=3)
    assert cfg.params(R.JUDGE, 0, 1) == SamplingParams(n=1, temperature=0.0, top_p=1.0, max_tokens=4, seed=4)
    assert cfg.params(R.REFLECTION, 0).max_tokens == 48 and cfg.params(R.CONCLUSION, 0).max_tokens == 48


def test_run_config_names_are_flat():
    fields = set(TraceConfig.to_config_schema().as_field().config_type.fields)
    assert {"max_rounds", "max_attempts", "max_tokens", "max_tokens_judge", "scheduling", "temperature"} <= fields
    assert "max_tokens_step" not in fields  # the step's budget is SamplingConfig's max_tokens
