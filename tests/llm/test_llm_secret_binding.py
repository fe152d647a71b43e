"""Security: an API key bound with ``dg.EnvVar`` (the ``llm`` resource's ``api_key``) reaches the server and
nothing else.

Runs a tiny asset through Dagster against the fake OpenAI-compatible server on 127.0.0.1 (tests/llm/conftest.py,
which records every Authorization header), with the code location's resources built as a deployment binds the
key (``build_resources(api_key=dg.EnvVar(...))``, ``deploy/definitions_openai.py``). The key must be sent as the
bearer token, refused for an unbound URL, refused when run config binds another variable or a literal, and be
found in no event, log, metadata, error, run tag, instance file or request cache.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest

from citrus_assets.resources_config import build_resources
from resources.llm import LLMBackendError, LLMResource, SamplingParams
from resources.llm.backends.openai_backend import OpenAIBackend
from resources.llm.resource import key_identity
from resources.llm.secrets import SecretError, bound_key

KEY_VAR = "CITRUS_OPENAI_API_KEY"
SECRET = "sk-citrus-ENVVAR-5d1e8b72c0a9"
ROOT = Path(__file__).resolve().parents[2]


@dg.asset
def answered(llm: LLMResource) -> dg.MaterializeResult:
    """One generation; its metadata carries what a careless step might log: the resource's repr and settings."""
    [[g]] = llm.generate(["hello"], SamplingParams(max_tokens=8, seed=1))
    return dg.MaterializeResult(
        metadata={
            "text": g.text,
            "resource": repr(llm),
            "identity": str(llm._backend_key()),
            "key_bound": llm.api_key is not None and llm.api_key.strip() == SECRET,
        }
    )


def _files_with(secret: bytes, *roots: Path) -> list[str]:
    return [str(p) for root in roots for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def _texts(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Every stored event of the run, serialized, plus its run record (tags, config)."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return [dg.serialize_value(e) for e in instance.all_logs(run_id)] + [
        repr(run.tags),
        repr(run.run_config),
        dg.serialize_value(run),
    ]


@pytest.fixture
def deployment(fake_server, monkeypatch, tmp_path):
    """The deployment's environment: backend openai at the fake server, the key in its declared variable."""
    monkeypatch.setenv("CITRUS_LLM_BACKEND", "openai")
    monkeypatch.setenv("CITRUS_LLM_MODEL", "served-model")
    monkeypatch.setenv("CITRUS_LLM_BASE_URL", fake_server.base_url)
    monkeypatch.setenv(KEY_VAR, SECRET + "\n")  # pasted from a file: the newline is stripped, never sent
    return fake_server


def test_envvar_key_is_sent_as_bearer_and_stored_nowhere(deployment, tmp_path):
    resources = build_resources(api_key=dg.EnvVar(KEY_VAR))  # as deploy/definitions_openai.py, at import
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize([answered], resources={"llm": resources["llm"]}, instance=instance)
        assert result.success
        [event] = result.get_asset_materialization_events()
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        assert meta["key_bound"] is True and meta["text"].startswith("echo:hello"), meta
        texts = _texts(instance, result.run_id)
        assert len(texts) > 10 and any("answered" in t for t in texts)
        assert not [t for t in texts if SECRET in t]
        assert SECRET not in meta["resource"] and SECRET not in meta["identity"]
    assert deployment.auth_headers == [f"Bearer {SECRET}"]
    assert _files_with(SECRET.encode(), home, tmp_path / "citrus-cache") == []
    # Dagster keeps the variable's name (what the UI shows), so the scan above looks where the key would be
    assert _files_with(KEY_VAR.encode(), home)


def test_envvar_key_is_refused_for_an_unbound_url(deployment):
    port = deployment.base_url.split(":")[2].split("/")[0]
    unbound = f"http://localhost:{port}/v1"  # the same server under a name the deployment did not bind keys to
    config = {"backend": "openai", "model": "m", "base_url": unbound, "api_key": {"env": KEY_VAR}}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [answered],
            resources={"llm": build_resources(api_key=dg.EnvVar(KEY_VAR))["llm"]},
            instance=instance,
            run_config={"resources": {"llm": {"config": config}}},
            raise_on_error=False,
        )
        assert not result.success
        texts = _texts(instance, result.run_id)
    errors = [str(e.event_specific_data) for e in result.all_events if e.is_step_failure]
    assert errors and all(f"refusing to send the API key in ${KEY_VAR} to {unbound}" in e for e in errors), errors
    assert deployment.requests == 0
    assert not [t for t in texts if SECRET in t]


@pytest.mark.parametrize(
    "binding",
    [{"env": "DB_PASSWORD"}, "sk-pasted-in-the-launchpad-123"],
    ids=["another_variable", "literal"],
)
def test_run_config_cannot_bind_another_key(deployment, monkeypatch, binding):
    monkeypatch.setenv("DB_PASSWORD", "db-password-9f8e7d6c")
    run_config = {
        "resources": {
            "llm": {"config": {"backend": "openai", "model": "m", "base_url": deployment.base_url, "api_key": binding}}
        }
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [answered],
            resources={"llm": build_resources(api_key=dg.EnvVar(KEY_VAR))["llm"]},
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
        )
        assert not result.success
        texts = _texts(instance, result.run_id)
    errors = [str(e.event_specific_data) for e in result.all_events if e.is_step_failure]
    assert errors and all("not the value of a declared API-key variable" in e for e in errors), errors
    assert deployment.requests == 0
    assert not [t for t in texts if "db-password-9f8e7d6c" in t or SECRET in t]


def test_missing_variable_fails_the_run_naming_it(deployment, monkeypatch):
    monkeypatch.delenv(KEY_VAR)
    llm = build_resources(api_key=dg.EnvVar(KEY_VAR))["llm"]
    with pytest.raises(dg.DagsterInvalidConfigError, match=KEY_VAR):
        dg.materialize([answered], resources={"llm": llm})
    assert deployment.requests == 0
    # used outside a run, the EnvVar is read at call time: the same error, naming the variable
    with pytest.raises(SecretError, match=f"\\${KEY_VAR} .* is not set"):
        LLMResource(backend="openai", base_url=deployment.base_url, api_key=dg.EnvVar(KEY_VAR)).generate(["x"])


def test_a_set_api_key_is_used_instead_of_api_key_env(fake_server, monkeypatch):
    monkeypatch.setenv(KEY_VAR, SECRET)
    monkeypatch.setenv("CITRUS_JUDGE_API_KEY", "sk-judge-key-4455")
    common = {"backend": "openai", "model": "m", "base_url": fake_server.base_url, "api_key_env": KEY_VAR}
    LLMResource(**common, api_key="", use_cache=False).generate(["a"])  # "" = no key, api_key_env not read
    LLMResource(**common, api_key=dg.EnvVar("CITRUS_JUDGE_API_KEY"), use_cache=False).generate(["b"])
    LLMResource(**common, use_cache=False).generate(["c"])  # unset: api_key_env, as before
    assert fake_server.auth_headers == [None, "Bearer sk-judge-key-4455", f"Bearer {SECRET}"]


def test_bound_key_is_checked_cleaned_and_redacted(monkeypatch):
    monkeypatch.setenv(KEY_VAR, f" {SECRET}\r\n")
    assert bound_key(SECRET + "\n") == (SECRET, KEY_VAR)
    assert bound_key("  ") == ("", "")
    monkeypatch.setenv("OTHER_SECRET", "other-secret-value-123")
    with pytest.raises(SecretError) as refused:
        bound_key("other-secret-value-123")
    assert "other-secret-value-123" not in str(refused.value) and KEY_VAR in str(refused.value)
    backend = OpenAIBackend("m", "http://127.0.0.1:9/v1", api_key=SECRET, api_key_env="")
    assert SECRET not in backend._redact(f"echo {SECRET!r} {SECRET}") and backend._redact("plain") == "plain"
    r1, r2 = (
        LLMResource(backend="openai", base_url="http://127.0.0.1:9/v1", api_key=k) for k in (SECRET, "sk-2nd-key")
    )
    assert r1._backend_key() != r2._backend_key() and SECRET not in str(r1._backend_key())
    assert key_identity(None) is None and SECRET not in (key_identity(SECRET) or "")
    assert SECRET not in repr(r1) and SECRET not in str(r1)


def test_unbound_url_refuses_the_envvar_key(fake_server, monkeypatch):
    monkeypatch.setenv(KEY_VAR, SECRET)
    monkeypatch.setenv("CITRUS_LLM_KEY_URLS", "http://127.0.0.1:1/v1")  # another port: this server is unbound
    monkeypatch.delenv("CITRUS_LLM_BASE_URL", raising=False)
    llm = LLMResource(backend="openai", model="m", base_url=fake_server.base_url, api_key=dg.EnvVar(KEY_VAR))
    with pytest.raises(LLMBackendError) as refused:
        llm.generate(["x"])
    assert f"${KEY_VAR}" in str(refused.value) and SECRET not in str(refused.value)
    assert fake_server.requests == 0


def test_example_code_location_binds_the_key_and_imports_without_it(monkeypatch):
    monkeypatch.delenv(KEY_VAR, raising=False)
    spec = importlib.util.spec_from_file_location("definitions_openai", ROOT / "deploy" / "definitions_openai.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    key = module.defs.resources["llm"].api_key
    assert isinstance(key, dg.EnvVar) and key.env_var_name == KEY_VAR
