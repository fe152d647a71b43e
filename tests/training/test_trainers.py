"""The trainers in-process on the tiny model: masking, chat template, learning, CPO-SimPO margin, CPT, resume."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training import cpo, cpt, sft
from training.common import last_checkpoint
from training.config import CPOStageConfig, CPTConfig, SFTStageConfig

FAST = dict(warmup_ratio=0.0, lr_scheduler_type="constant", max_seq_len=96, save_steps=1000)


def sft_rows(n=4):
    return [
        [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"What is fruit {i}?"},
            {"role": "assistant", "content": f"The lemon is a citrus fruit {i}."},
        ]
        for i in range(n)
    ]


@pytest.fixture
def sft_data(tmp_path):
    path = tmp_path / "sft.parquet"
    pq.write_table(pa.table({"messages": sft_rows()}), path)
    return str(path)


def test_sft_labels_mask_everything_but_the_assistant_turn(tiny_model_dir, sft_data, tmp_path):
    cfg = SFTStageConfig(
        model_path=tiny_model_dir,
        data_path=sft_data,
        output_dir=str(tmp_path / "run"),
        global_batch_size=2,
        per_device_batch_size=2,
        max_steps=1,
        **FAST,
    )
    trainer, tok, original = sft.build_trainer(cfg)
    assert trainer.args.assistant_only_loss  # the ChatML twin with generation markers was accepted
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    full = tok.decode(ids)
    # the rendered example is the model's own template: system, user, then the assistant answer
    assert full == tok.apply_chat_template(sft_rows()[0], tokenize=False, chat_template=original)
    assert full.index("Answer briefly.") < full.index("What is fruit 0?") < full.index("The lemon is a citrus fruit 0.")
    trained = tok.decode([i for i, label in zip(ids, labels) if label != -100])
    assert trained == "The lemon is a citrus fruit 0.<|im_end|>"  # answer + end-of-turn, no prompt token


def test_builtin_smollm_template_gets_generation_markers():
    from transformers import AutoTokenizer

    from resources.llm.backends.builtin import FOLDER, cache_dir

    folder = cache_dir() / "models" / FOLDER
    if not (folder / "tokenizer_config.json").exists():
        pytest.skip("built-in model not converted on this machine")
    tok = AutoTokenizer.from_pretrained(str(folder))
    marked = sft.training_template(tok)
    assert marked is not None and "{% generation %}" in marked
    msgs = [{"role": "user", "content": "Which vitamin prevents scurvy?"}, {"role": "assistant", "content": "C."}]
    out = tok.apply_chat_template(msgs, chat_template=marked, return_dict=True, return_assistant_tokens_mask=True)
    assert tok.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]) == "C.<|im_end|>"


def test_unknown_template_falls_back_to_completion_only(tiny_model_dir, sft_data, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert sft.training_template(tok) is None
    pc = sft.to_prompt_completion(sft_rows()[0])
    assert pc["completion"] == [sft_rows()[0][-1]] and pc["prompt"] == sft_rows()[0][:-1]


def test_sft_loss_goes_down_on_a_memorizable_set(tiny_model_dir, sft_data, tmp_path):
    cfg = SFTStageConfig(
        model_path=tiny_model_dir,
        data_path=sft_data,
        output_dir=str(tmp_path / "run"),
        learning_rate=1e-2,
        global_batch_size=4,
        per_device_batch_size=2,
        max_steps=10,
        **FAST,
    )
    trainer, tok, original = sft.build_trainer(cfg)
    tok.chat_template = original
    result = sft.train_and_save(cfg, trainer, tok)
    curve = [loss for _, loss in result["loss_curve"]]
    assert result["steps"] == 10 and len(curve) == 10
    assert result["hyperparameters"]["grad_accum"] == 2  # global 4 = per-device 2 x accumulation 2 x world 1
    assert sum(curve[-3:]) / 3 < 0.8 * sum(curve[:3]) / 3
    assert result["tokens_seen"] > 0
    saved = result["model_path"]
    assert os.path.exists(os.path.join(saved, "model.safetensors")) and os.path.exists(
        os.path.join(saved, "tokenizer.json")
    )
    from transformers import AutoTokenizer

    assert "{% generation %}" not in AutoTokenizer.from_pretrained(saved).chat_template  # original template saved


def test_cpo_simpo_margin_grows(tiny_model_dir, tmp_path):
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    path = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table(
            {
                "prompt": [prompt] * 4,
                "chosen": [[{"role": "assistant", "content": "Paris."}]] * 4,
                "rejected": [[{"role": "assistant", "content": "Oranges and limes."}]] * 4,
            }
        ),
        path,
    )
    cfg = CPOStageConfig(
        model_path=tiny_model_dir,
        data_path=str(path),
        output_dir=str(tmp_path / "run"),
        learning_rate=2e-3,
        global_batch_size=2,
        per_device_batch_size=2,
        max_steps=6,
        **FAST,
    )
    trainer, tok = cpo.build_trainer(cfg)
    assert (trainer.loss_type, trainer.beta, trainer.simpo_gamma, trainer.cpo_alpha) == ("simpo", 10.0, 5.4, 0.05)
    result = cpo.train_and_save(cfg, trainer, tok)
    margins = [h["rewards/margins"] for h in trainer.state.log_history if "rewards/margins" in h]
    assert len(margins) == 6 and margins[-1] > margins[0] + 0.5
    assert result["tokens_seen"] > 0


def write_cpt_manifest(folder, texts: dict[str, str]) -> str:
    os.makedirs(folder, exist_ok=True)
    rows = []
    for source, text in texts.items():
        shard = os.path.join(folder, f"shard-{source}-00000.parquet")
        pq.write_table(pa.table({"text": [text * 12] * 4}), shard)
        rows.append({"source": source, "shard": os.path.basename(shard), "path": shard, "documents": 4, "tokens": 0})
    path = os.path.join(folder, "manifest.parquet")
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_cpt_trains_with_the_bandit_and_resumes_after_a_crash(tiny_model_dir, tmp_path):
    manifest = write_cpt_manifest(
        str(tmp_path / "shards"),
        {"web": "Oranges and limes grow on trees. ", "pdf": "Count one two three four five six seven. "},
    )
    cfg = CPTConfig(
        model_path=tiny_model_dir,
        data_path=manifest,
        output_dir=str(tmp_path / "run"),
        learning_rate=1e-3,
        global_batch_size=2,
        per_device_batch_size=1,
        max_steps=4,
        **(FAST | {"save_steps": 2, "max_seq_len": 48}),
        fail_at_step=3,
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        cpt.run(cfg)
    saved = last_checkpoint(cfg)
    assert saved and saved.endswith("checkpoint-2")
    with open(os.path.join(saved, cpt.BANDIT_FILE)) as fh:
        assert json.load(fh)["draws"] >= 4  # 2 steps x 2 micro-batches drawn before the save
    cfg.fail_at_step = -1
    result = cpt.run(cfg)
    assert result["resumed_from"] == saved
    assert result["steps"] == 4  # continued from step 2 to the end, not restarted
    assert [s for s, _ in result["loss_curve"]] == [1, 2, 3, 4]
    assert set(result["bandit_shares"]) == {"web", "pdf"}
    assert abs(sum(result["bandit_final_p"].values()) - 1) < 1e-9
    assert os.path.getsize(result["bandit_plot"]) > 1000


def test_cpo_drops_pairs_whose_prompt_fills_max_length_and_refuses_when_none_fit(tiny_model_dir, tmp_path):
    """A prompt that fills max_length leaves an empty completion: its log-probability is NaN and one such step
    turns every weight NaN. Those pairs are dropped (counted); if none fits, training refuses to start."""
    short = [{"role": "user", "content": "What is the capital of France?"}]
    long = [{"role": "user", "content": "Describe the patient. " * 60}]
    path = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table(
            {
                "prompt": [short, long, short],
                "chosen": [[{"role": "assistant", "content": "Paris."}]] * 3,
                "rejected": [[{"role": "assistant", "content": "Oranges."}]] * 3,
            }
        ),
        path,
    )
    cfg = CPOStageConfig(
        model_path=tiny_model_dir,
        data_path=str(path),
        output_dir=str(tmp_path / "run"),
        learning_rate=2e-3,
        global_batch_size=2,
        per_device_batch_size=2,
        max_steps=2,
        **{**FAST, "max_seq_len": 96},
    )
    trainer, tok = cpo.build_trainer(cfg)
    assert len(trainer.train_dataset) == 2 and trainer.pairs_dropped_too_long == 1
    result = cpo.train_and_save(cfg, trainer, tok)
    assert result["loss_curve"] and all(v == v for _, v in result["loss_curve"])  # no NaN loss
    with pytest.raises(ValueError, match="raise max_seq_len"):
        cpo.build_trainer(
            CPOStageConfig(
                model_path=tiny_model_dir,
                data_path=str(path),
                output_dir=str(tmp_path / "run2"),
                **{**FAST, "max_seq_len": 20},
            )
        )


def test_non_finite_weights_are_never_saved(tiny_model_dir, tmp_path):
    import torch

    from training.common import NonFiniteTraining, require_finite

    class FakeTrainer:
        def __init__(self, model, history):
            self.model = model
            self.state = type("S", (), {"log_history": history})()

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    require_finite(FakeTrainer(model, [{"step": 1, "loss": 1.0, "grad_norm": 2.0}]))  # healthy: no error
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteTraining, match="non-finite weights.*steps \\[1\\]"):
        require_finite(FakeTrainer(model, [{"step": 1, "loss": float("nan"), "grad_norm": float("nan")}]))
