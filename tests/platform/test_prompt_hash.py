"""One prompt hash (common.prompts.prompt_hash): every LLM step records it; code versions unchanged."""

import hashlib

import pytest

from citrus_assets.common.prompts import code_version, load_prompt, prompt_hash


def test_value_is_the_per_file_sha_joined_in_render_order():
    sys_text, user_text = load_prompt("citrus_system").text, load_prompt("citrus_open_user").text
    expected = ":".join(hashlib.sha256(t.encode("utf-8")).hexdigest()[:16] for t in (sys_text, user_text))
    assert prompt_hash("citrus_system", "citrus_open_user") == expected
    assert prompt_hash("citrus_system") == load_prompt("citrus_system").sha
    with pytest.raises(ValueError):
        prompt_hash()


def test_code_version_keeps_its_value():
    """Code versions hash the same per-file sha as before the one prompt hash (Dagster does not see stale assets)."""
    h = hashlib.sha256(b"v1")
    h.update(f"citrus_system:{load_prompt('citrus_system').sha}".encode())
    assert code_version("v1", "citrus_system") == f"v1-{h.hexdigest()[:12]}"


def test_every_llm_step_records_the_one_hash():
    from citrus_assets.cpt_corpus.textbooks import evol as textbook_evol
    from citrus_assets.evaluation import predict
    from citrus_assets.jmed import steps
    from citrus_assets.jmed.consultations import emr
    from citrus_assets.reasoning_data.traces import dual_roles

    assert textbook_evol.operator_prompt_hash("deepen") == prompt_hash(
        textbook_evol.SYSTEM_PROMPT, textbook_evol.operator_prompt("deepen")
    )
    assert predict.style_prompt_hash("citrus") == prompt_hash(*predict.PROMPTS["citrus"])
    assert emr.emr_prompt_hash() == prompt_hash(emr.SYSTEM_PROMPT, emr.EMR_PROMPT)
    assert steps.question_prompt_hash().split(":")[0] == load_prompt(emr.SYSTEM_PROMPT).sha
    assert dual_roles.prompt_set_hash() == prompt_hash(
        *(dual_roles.PROMPT_FILES[r] for r in sorted(dual_roles.PROMPT_FILES))
    )
