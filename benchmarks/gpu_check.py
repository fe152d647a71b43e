"""A ready GPU check (issue 17, goal 6): generation and training throughput on one GPU, in minutes.

Run it through ``benchmarks/gpu_check.sh OUT_DIR`` (which first installs the wheels that travel beside it).
It needs only PyTorch and transformers on the machine, plus TRL and this project's wheel (the LLM
resource's client and transformers backend; Dagster is not needed). No network: the model is randomly
initialised in the shape of the built-in SmolLM2-135M (Llama: 30 layers, hidden 576, 9 heads / 3 KV heads,
vocab 49,152; ``--model-size 360m`` for SmolLM2-360M's shape), with a word-level tokenizer built here
whose vocabulary fills the model's. It measures

1. generation, bf16 on CUDA: the LLM resource's path (``LLMClient`` + ``TransformersBackend`` + a cold request
   cache; ``LLMResource`` itself when Dagster is importable) vs raw ``model.generate`` on the same rendered
   prompts, greedy, tokens/s at batch 1, 16 and 64, and whether both produced the same text;
2. training: TRL ``SFTTrainer`` (prompt/completion, completion-only loss) and TRL ``CPOTrainer`` with
   ``loss_type="simpo"`` steps: tokens/s (non-padding tokens seen; chosen + rejected for CPO) and MFU =
   tokens/s x (6 N + 12 L d S) / the GPU's dense bf16 peak (``PEAK_BF16_TFLOPS``, by device name).

Writes ``gpu_check.md`` and ``gpu_check.json`` into the output folder. ``--dry-run``: the same code on CPU
with a tiny model and few tokens (CI runs it; its figures say nothing about a GPU).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets; matched by substring of
# torch.cuda.get_device_name(), first match wins (so the specific names come first).
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),
    ("GH200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM5 ("NVIDIA H100 80GB HBM3")
    ("H800", 989.4),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
)
SHAPES = {  # LlamaConfig keywords of the built-in model's shape (and a larger one)
    "135m": dict(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
    ),
    "360m": dict(
        hidden_size=960,
        intermediate_size=2560,
        num_hidden_layers=32,
        num_attention_heads=15,
        num_key_value_heads=5,
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=49152,
        max_position_embeddings=1024,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
    ),
}
SPECIAL = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS if k in name), None)


# ------------------------------------------------------------------------------------------- model + tokenizer
def build_model_dir(root: Path, shape: str, seed: int = 0) -> tuple[Path, int]:
    """A randomly initialised Llama of ``shape`` and a word-level ChatML tokenizer, saved under ``root``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    cfg = dict(SHAPES[shape])
    vocab = {t: i for i, t in enumerate(SPECIAL + ["system", "user", "assistant"])}
    for i in range(len(vocab), cfg["vocab_size"]):
        vocab[f"w{i}"] = i
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    tok.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(**cfg, bos_token_id=None, eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<pad>"])
    model = LlamaForCausalLM(config)
    out = root / f"random-llama-{shape}"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, n_params(model)


def words(rng: random.Random, n: int, vocab: int) -> str:
    return " ".join(f"w{rng.randrange(8, vocab)}" for _ in range(n))


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------- generation
def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def resource_client(folder: Path, device: str, dtype: str, batch: int, cache_dir: Path):
    """The LLM resource (``LLMResource`` when Dagster is importable, else the ``LLMClient`` it wraps)."""
    try:
        from resources.llm import LLMResource

        res = LLMResource(
            backend="transformers",
            model=str(folder),
            device=device,
            dtype=dtype,
            batch_size=batch,
            cache_dir=str(cache_dir),
        )
        return res, "LLMResource"
    except ImportError:
        from resources.llm import GenerationCache, LLMClient
        from resources.llm.backends.transformers_backend import TransformersBackend

        backend = TransformersBackend(str(folder), device=device, dtype=dtype, batch_size=batch)
        return LLMClient(backend, GenerationCache(cache_dir / "llm_cache.sqlite")), "LLMClient (no Dagster)"


def gen_raw(model, tok, texts: list[str], batch: int, max_new: int) -> tuple[list[str], int, float]:
    import torch

    eos = tok.eos_token_id
    outs, tokens = [], 0
    sync()
    t0 = time.perf_counter()
    for s in range(0, len(texts), batch):
        enc = tok(texts[s : s + batch], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            seqs = model.generate(**enc, do_sample=False, max_new_tokens=max_new, pad_token_id=tok.pad_token_id)
        width = enc["input_ids"].shape[1]
        for row in seqs[:, width:].tolist():
            end = row.index(eos) + 1 if eos in row else len(row)
            tokens += end
            outs.append(tok.decode(row[:end], skip_special_tokens=True))
    sync()
    return outs, tokens, time.perf_counter() - t0


def generation(
    folder: Path, device: str, dtype: str, batches: list[int], max_new: int, prompt_words: int, work: Path, log
) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from resources.llm import SamplingParams

    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).to(device).eval()
    vocab = model.config.vocab_size
    rng = random.Random(1)
    params = SamplingParams(max_tokens=max_new)
    rows = []
    for b in batches:
        n = max(b, 4)  # batch 1: four prompts one after the other
        prompts = [[{"role": "user", "content": words(rng, prompt_words, vocab)}] for _ in range(n)]
        texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        gen_raw(model, tok, texts[:b], b, max_new)  # warm-up
        raw_text, raw_tokens, raw_s = gen_raw(model, tok, texts, b, max_new)
        res, path = resource_client(folder, device, dtype, b, work / f"cache-{b}")
        warm = [[{"role": "user", "content": words(rng, prompt_words, vocab)}] for _ in range(b)]
        res.generate(warm, params)  # warm-up (loads the model; these prompts are not timed)
        sync()
        t0 = time.perf_counter()
        out = res.generate(prompts, params)
        sync()
        res_s = time.perf_counter() - t0
        res_tokens = sum(g[0].completion_tokens for g in out)
        same = [g[0].text for g in out] == raw_text
        row = {
            "batch": b,
            "prompts": n,
            "max_new_tokens": max_new,
            "raw_tok_s": raw_tokens / raw_s,
            "resource_tok_s": res_tokens / res_s,
            "ratio": (res_tokens / res_s) / (raw_tokens / raw_s),
            "raw_tokens": raw_tokens,
            "resource_tokens": res_tokens,
            "same_text": same,
            "path": path,
        }
        log(
            f"generation batch {b}: raw {row['raw_tok_s']:.0f} tok/s, resource {row['resource_tok_s']:.0f} tok/s "
            f"({row['ratio']:.2f}x), same text: {same}"
        )
        rows.append(row)
        del res
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return rows


# ------------------------------------------------------------------------------------------- training
def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time and tokens seen of the steps after the first ``skip`` (warm-up)."""

        def __init__(self, skip: int) -> None:
            self.skip, self.t0, self.tok0, self.seconds, self.tokens, self.steps = skip, None, 0, 0.0, 0, 0

        def on_step_end(self, args, state, control, **kw):
            sync()
            if state.global_step == self.skip:
                self.t0, self.tok0 = time.perf_counter(), state.num_input_tokens_seen
            elif state.global_step > self.skip and self.t0 is not None:
                self.seconds = time.perf_counter() - self.t0
                self.tokens = state.num_input_tokens_seen - self.tok0
                self.steps = state.global_step - self.skip

    return StepTimer


def train_args(cls, out: Path, on_gpu: bool, batch: int, steps: int, **kw):
    return cls(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-5,
        logging_steps=max(1, steps),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        bf16=on_gpu,
        use_cpu=not on_gpu,
        optim="adamw_torch",
        seed=0,
        dataloader_pin_memory=on_gpu,
        **kw,
    )


def mfu(tokens_s: float, params: int, layers: int, hidden: int, seq: float, peak: float | None) -> float | None:
    if not peak:
        return None
    flops_per_token = 6 * params + 12 * layers * hidden * seq
    return tokens_s * flops_per_token / (peak * 1e12)


def training(
    folder: Path, on_gpu: bool, seq: int, batch: int, steps: int, warm: int, peak: float | None, work: Path, log
) -> list[dict]:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    tok = AutoTokenizer.from_pretrained(folder)
    rng = random.Random(2)
    vocab = len(tok)
    n_rows = batch * (steps + 1)
    prompt_w, answer_w = seq // 2 - 8, seq // 2 - 16  # prompt + answer + template tokens fill ~seq

    def load():
        dtype = torch.bfloat16 if on_gpu else torch.float32
        m = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        return m.to("cuda") if on_gpu else m

    rows = []
    Timer = step_timer()
    # SFT: prompt/completion, loss on the completion only
    sft_ds = datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": words(rng, prompt_w, vocab)}],
                "completion": [{"role": "assistant", "content": words(rng, answer_w, vocab)}],
            }
            for _ in range(n_rows)
        ]
    )
    model = load()
    params, cfg = n_params(model), model.config
    timer = Timer(warm)
    args = train_args(
        SFTConfig,
        work / "sft",
        on_gpu,
        batch,
        steps + warm,
        max_length=seq,
        packing=False,
        completion_only_loss=True,
        dataset_num_proc=None,
        include_num_input_tokens_seen="non_padding",
    )
    SFTTrainer(model=model, args=args, train_dataset=sft_ds, processing_class=tok, callbacks=[timer]).train()
    rows.append(train_row("TRL SFT", timer, params, cfg, seq, batch, peak, log))
    del model
    # CPO-SimPO: prompt/chosen/rejected; tokens = chosen + rejected (prompt included in both)
    cpo_ds = datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": words(rng, prompt_w, vocab)}],
                "chosen": [{"role": "assistant", "content": words(rng, answer_w, vocab)}],
                "rejected": [{"role": "assistant", "content": words(rng, answer_w, vocab)}],
            }
            for _ in range(n_rows)
        ]
    )

    class CountingCPOTrainer(CPOTrainer):
        def training_step(self, model, inputs, *a, **k):
            self.state.num_input_tokens_seen += sum(
                int(inputs[key].sum()) for key in ("chosen_attention_mask", "rejected_attention_mask") if key in inputs
            )
            return super().training_step(model, inputs, *a, **k)

    model = load()
    timer = Timer(warm)
    args = train_args(
        CPOConfig,
        work / "cpo",
        on_gpu,
        batch,
        steps + warm,
        loss_type="simpo",
        beta=2.0,
        simpo_gamma=0.5,
        cpo_alpha=0.05,
        max_length=seq,
        include_num_input_tokens_seen="no",
    )
    CountingCPOTrainer(model=model, args=args, train_dataset=cpo_ds, processing_class=tok, callbacks=[timer]).train()
    rows.append(train_row("TRL CPO-SimPO", timer, params, cfg, seq, batch, peak, log))
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return rows


def train_row(name: str, timer, params: int, cfg, seq: int, batch: int, peak: float | None, log) -> dict:
    tok_s = timer.tokens / timer.seconds if timer.seconds > 0 else 0.0
    u = mfu(tok_s, params, cfg.num_hidden_layers, cfg.hidden_size, seq, peak)
    row = {
        "trainer": name,
        "timed_steps": timer.steps,
        "batch": batch,
        "max_length": seq,
        "tokens": timer.tokens,
        "seconds": timer.seconds,
        "tok_s": tok_s,
        "mfu": u,
    }
    log(f"{name}: {timer.steps} steps, {tok_s:.0f} tok/s, MFU {'-' if u is None else f'{100 * u:.1f}%'}")
    return row


# ------------------------------------------------------------------------------------------- report
def environment(device: str) -> dict:
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
        "cuda": torch.version.cuda or "-",
        "host_cpus": os.cpu_count(),
    }
    for dist in ("transformers", "trl", "datasets", "accelerate", "citrus-lake"):
        try:
            env[dist] = md.version(dist)
        except md.PackageNotFoundError:
            env[dist] = "-"
    return env


def write_report(out: Path, result: dict) -> Path:
    env, peak = result["environment"], result["peak_bf16_tflops"]
    mode = "DRY RUN on CPU (tiny model; says nothing about a GPU)" if result["dry_run"] else "GPU run"
    lines = [
        f"# GPU check: {mode}",
        "",
        f"Device: {env['device']}; bf16 peak used for MFU: {peak if peak else 'unknown device (no MFU)'} TFLOP/s. "
        f"Model: random Llama, shape {result['shape']}, {result['params']:,} parameters, dtype {result['dtype']}. "
        f"Total wall time {result['seconds']:.0f} s.",
        "",
        "| " + " | ".join(env) + " |",
        "|" + "---|" * len(env),
        "| " + " | ".join(map(str, env.values())) + " |",
        "",
        "## Generation (greedy): the LLM resource vs raw model.generate",
        "",
        "| batch | prompts | new tokens max | raw tok/s | resource tok/s | resource / raw | same text | path |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["generation"]:
        lines.append(
            f"| {r['batch']} | {r['prompts']} | {r['max_new_tokens']} | {r['raw_tok_s']:,.0f} | "
            f"{r['resource_tok_s']:,.0f} | {r['ratio']:.2f}x | {'yes' if r['same_text'] else 'NO'} | {r['path']} |"
        )
    lines += [
        "",
        "## Training steps (TRL)",
        "",
        "| trainer | timed steps | batch | max length | tokens | seconds | tok/s | MFU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["training"]:
        u = "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        lines.append(
            f"| {r['trainer']} | {r['timed_steps']} | {r['batch']} | {r['max_length']} | {r['tokens']:,} | "
            f"{r['seconds']:.2f} | {r['tok_s']:,.0f} | {u} |"
        )
    lines += [
        "",
        "MFU = tok/s x (6 N + 12 L d S) / peak, N parameters, L layers, d hidden size, S = max length. "
        "CPO tokens are chosen + rejected (each with its prompt), one forward-backward each.",
    ]
    path = out / "gpu_check.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return path


def run(out: Path, dry_run: bool, shape: str | None) -> dict:
    import torch

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    on_gpu = torch.cuda.is_available() and not dry_run
    if not on_gpu and not dry_run:
        raise SystemExit("no CUDA device visible to PyTorch: run on a GPU machine, or pass --dry-run")
    device = torch.cuda.get_device_name(0) if on_gpu else "cpu"
    shape = shape or ("tiny" if dry_run else "135m")
    logf = open(out / "gpu_check.log", "a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"[{time.perf_counter() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as d:
        work = Path(d)
        folder, params = build_model_dir(work, shape)
        log(f"device {device}; model {folder.name}")
        if dry_run:
            gen = generation(folder, "cpu", "float32", [1, 2, 4], 4, 12, work, log)
            train = training(folder, False, 64, 2, 1, 1, None, work, log)
        else:
            gen = generation(folder, "cuda", "bfloat16", [1, 16, 64], 128, 96, work, log)
            train = training(folder, True, 1024, 16, 20, 3, peak_tflops(device), work, log)
        result = {
            "dry_run": dry_run,
            "shape": shape,
            "params": params,
            "dtype": "bfloat16" if on_gpu else "float32",
            "environment": environment(device),
            "peak_bf16_tflops": peak_tflops(device) if on_gpu else None,
            "generation": gen,
            "training": train,
        }
    result["seconds"] = time.perf_counter() - t_start
    path = write_report(out, result)
    log(f"wrote {path}")
    logf.close()
    return result


# ------------------------------------------------------------------------------------------- wheels
# The versions tested in this project's environment. TRAVEL: beside torch + transformers; CORE: usually there
# already (the project's GPU image has them), fetched with --with-core for a machine without them.
TRAVEL = ("trl==1.16.0", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19")
CORE = ("accelerate==1.15.0", "filelock==4.3.2", "psutil==7.2.2", "pyarrow==26.0.1", "pandas==3.1.1", "xxhash==3.8.2")


def install_wheels(wheels: Path, target: Path) -> list[str]:
    """Install (no deps, no index) each wheel whose distribution is missing here or installed in another
    version (the wheels are the tested versions; they go first on PYTHONPATH); returns their names."""
    todo = []
    for whl in sorted(wheels.glob("*.whl")):
        dist, version = whl.name.split("-")[:2]
        try:
            if md.version(dist.replace("_", "-")) != version:
                todo.append(whl)
        except md.PackageNotFoundError:
            todo.append(whl)
    if todo:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--disable-pip-version-check",
                "--target",
                str(target),
                *map(str, todo),
            ],
            check=True,
        )
    return [w.name for w in todo]


def fetch_wheels(dest: Path, python_version: str, with_core: bool, repo: Path) -> None:
    """Where pip works: download the wheels that travel beside the script, build this project's wheel."""
    dest.mkdir(parents=True, exist_ok=True)
    plat = [
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
    ]
    names = list(TRAVEL) + (list(CORE) if with_core else [])
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            *plat,
            "-d",
            str(dest),
            *names,
        ],
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest), str(repo)],
        check=True,
    )
    total = sum(p.stat().st_size for p in dest.glob("*.whl"))
    for p in sorted(dest.glob("*.whl")):
        print(f"{p.stat().st_size / 2**20:8.2f} MiB  {p.name}")
    print(f"{total / 2**20:8.2f} MiB  total ({'OK' if total <= 64 * 2**20 else 'OVER'} the 64 MiB limit)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for gpu_check.md / gpu_check.json / gpu_check.log")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny model, few tokens (CI)")
    ap.add_argument("--model-size", choices=["135m", "360m"], default=None)
    ap.add_argument("--install-wheels", default=None, help="(gpu_check.sh) install the missing wheels of this folder")
    ap.add_argument("--target", default=None)
    ap.add_argument("--fetch-wheels", default=None, help="download the travelling wheels into this folder")
    ap.add_argument("--python-version", default="3.12")
    ap.add_argument("--with-core", action="store_true", help="also fetch accelerate/pyarrow/pandas/... wheels")
    a = ap.parse_args(argv)
    if a.install_wheels:
        print("installed:", ", ".join(install_wheels(Path(a.install_wheels), Path(a.target))) or "nothing")
        return
    if a.fetch_wheels:
        fetch_wheels(Path(a.fetch_wheels), a.python_version, a.with_core, Path(__file__).resolve().parents[1])
        return
    if not a.out:
        ap.error("--out is required")
    run(Path(a.out), a.dry_run, "tiny" if a.dry_run else a.model_size)


if __name__ == "__main__":
    main()
