"""One ``SamplingConfig`` for the sampling fields of the steps' run configs (issue 16 change 5)."""

import ast
from pathlib import Path

import pytest

from citrus_assets.cpt_corpus.textbooks.assets import TextbookEvolConfig
from citrus_assets.evaluation.assets import EvalPredictionsConfig
from citrus_assets.evaluation.stage_assets import StageEvalConfig
from citrus_assets.jmed.assets import EmrConfig
from citrus_assets.jmed.item_assets import QuestionConfig
from citrus_assets.model_training.preference.assets import RejectionConfig
from citrus_assets.reasoning_data.questions.assets import OpenQuestionConfig
from citrus_assets.reasoning_data.seeds.assets import JudgeConfig
from citrus_assets.reasoning_data.traces.assets import TraceConfig
from citrus_assets.reasoning_data.traces.sft_assets import SftRewriteConfig
from resources.llm import SamplingParams
from resources.llm.sampling import SamplingConfig

ROOT = Path(__file__).resolve().parents[2]

# The run-config fields and defaults each step had before it inherited SamplingConfig (flat names users set).
BEFORE = {
    EvalPredictionsConfig: {"max_tokens": 96, "temperature": 0.0, "top_p": 1.0, "seed": 0, "n_samples": 1},
    StageEvalConfig: {
        "max_tokens": 96,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
        "n_samples": 1,
        "prompt_style": "citrus",
    },
    TextbookEvolConfig: {
        "samples_per_operator": 1,
        "max_tokens": 160,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
        "min_shared_terms": 1,
        "min_overlap": 0.3,
    },
    JudgeConfig: {"max_tokens": 160, "temperature": 0.0, "top_p": 1.0, "seed": 0},
    SftRewriteConfig: {"temperature": 0.7, "top_p": 0.95, "max_tokens": 384, "seed": 0, "max_attempts": 2},
    # + top_p (1.0, SamplingParams' default: the same requests and cache keys as before)
    QuestionConfig: {"max_tokens": 96, "temperature": 0.0, "seed": 0, "top_p": 1.0},
    # + top_p (1.0, SamplingParams' default) for these two as well
    EmrConfig: {"max_tokens": 160, "temperature": 0.0, "seed": 0, "top_p": 1.0},
    OpenQuestionConfig: {
        "max_tokens": 128,
        "temperature": 0.0,
        "retries": 1,
        "retry_temperature": 0.8,
        "seed": 0,
        "rule_fallback": True,
        "top_p": 1.0,
    },
    RejectionConfig: {
        "model": "",
        "backend": "",
        "base_url": "",
        "revision": "",
        "n": 4,
        "temperature": 1.2,
        "top_p": 1.0,
        "max_tokens": 128,
        "seed": 0,
        "nonmedical_dir": "",
        "nonmedical_glob": "*.jsonl",
        "nonmedical_share": 0.1,
        "min_nonmedical": 0,
    },
    # the reasoning step's budget max_tokens_step is SamplingConfig's max_tokens (run config renamed; the rows'
    # sampling JSON keeps the key: tests/reasoning_data/test_trace_config.py)
    TraceConfig: {
        "max_rounds": 3,
        "max_attempts": 2,
        "temperature": 0.7,
        "top_p": 0.95,
        "seed": 0,
        "max_tokens": 128,
        "max_tokens_start": 96,
        "max_tokens_reflection": 48,
        "max_tokens_judge": 4,
        "max_tokens_conclusion": 48,
        "scheduling": "continuous",
        "max_in_flight": 0,
        "max_batch": 0,
    },
}

# dg.Config classes that still declare their own sampling fields; the list may only shrink.
NOT_YET = {
    # retry_temperature: the retry policy of the LLM-task base (a dataclass every step extends, not a run
    # config; RewriteTask takes its own from RewriteSettings)
    "citrus_assets/common/llm_task.py",
}


@pytest.mark.parametrize("cls", list(BEFORE), ids=lambda c: c.__name__)
def test_run_config_fields_and_defaults_unchanged(cls):
    cfg = cls()
    assert issubclass(cls, SamplingConfig)
    for name, default in BEFORE[cls].items():
        assert getattr(cfg, name) == default, name
    # TextbookEvolConfig's list default is compared below; chunk_size: scheduling of the chunked steps (issue 17)
    fields = set(cls.model_fields) - {"operators", "chunk_size"}
    assert fields == set(BEFORE[cls]), sorted(fields ^ set(BEFORE[cls]))


def test_sampling_builds_the_same_params_as_the_hand_built_ones():
    cfg = SftRewriteConfig(temperature=0.9, seed=7)
    assert cfg.sampling() == SamplingParams(n=1, temperature=0.9, top_p=0.95, max_tokens=384, seed=7)
    assert (
        cfg.sampling(n=3, seed=8).to_json()
        == SamplingParams(n=3, temperature=0.9, top_p=0.95, max_tokens=384, seed=8).to_json()
    )
    # QuestionConfig had no top_p: its params (and so the cache keys) are those of before
    q = QuestionConfig()
    assert q.sampling().to_json() == SamplingParams(n=1, temperature=0.0, max_tokens=96, seed=0).to_json()
    assert TextbookEvolConfig().operators == ["deepen", "concretize"]
    with pytest.raises(ValueError):
        JudgeConfig(top_p=0.0).sampling()  # SamplingParams still validates


def _declares_temperature(path: Path) -> bool:
    """A class that declares a temperature field without inheriting SamplingConfig (a subclass that only
    changes the default, like SftRewriteConfig's 0.7, does not count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and "temperature" in n.target.id
        for c in ast.walk(tree)
        if isinstance(c, ast.ClassDef) and "SamplingConfig" not in {ast.unparse(b).rsplit(".", 1)[-1] for b in c.bases}
        for n in c.body
    )


def test_sampling_fields_declared_once():
    found = {str(p.relative_to(ROOT)) for p in (ROOT / "citrus_assets").rglob("*.py") if _declares_temperature(p)}
    assert found <= NOT_YET, f"inherit resources.llm.sampling.SamplingConfig: {sorted(found - NOT_YET)}"
