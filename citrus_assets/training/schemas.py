"""Column contracts of the training-stage assets (checkpoints, rejection samples, preference pairs).

A checkpoint asset's table has ONE row describing the saved model (the weights live in HF format
under ``model_path``); downstream assets (rejection sampling, evaluation) read ``model_path``.
"""

import pyarrow as pa

from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID

CHECKPOINT_STAGES = ("cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl")

CHECKPOINT_SCHEMA = pa.schema([
    (RECORD_ID, pa.string()),  # record_id("ckpt", stage, weights_sha256)
    (PARENT_IDS, pa.list_(pa.string())),  # the previous checkpoint's id (if any)
    ("stage", pa.string()),  # one of CHECKPOINT_STAGES
    ("model_path", pa.string()),  # folder in HF format (safetensors + tokenizer), loadable by transformers/vLLM
    ("base_model", pa.string()),  # what training started from (a path/id or the previous checkpoint's model_path)
    ("weights_sha256", pa.string()),  # content hash of the weight files
    ("steps", pa.int64()),
    ("tokens_seen", pa.int64()),
    ("wall_s", pa.float64()),
    ("final_loss", pa.float64()),
    ("hyperparameters", pa.string()),  # canonical JSON
    ("data_versions", pa.string()),  # canonical JSON: {asset[/partition]: data_version} trained on
])

# preference_pairs: rows ready for TRL's CPO trainer (prompt/chosen/rejected, conversational).
MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
PREFERENCE_SCHEMA = pa.schema([
    (RECORD_ID, pa.string()),
    (PARENT_IDS, pa.list_(pa.string())),  # [question/open-question id, chosen sample id, rejected sample id]
    ("question_id", pa.string()),
    ("category", pa.string()),  # "medical" | "nonmedical"
    ("prompt", pa.list_(MESSAGE_TYPE)),  # full rendered conversation up to the answer (never a raw template)
    ("chosen", pa.list_(MESSAGE_TYPE)),  # [assistant message]
    ("rejected", pa.list_(MESSAGE_TYPE)),
    ("prompt_text", pa.string()),  # the prompt as rendered by the sampling model's chat template
    ("selection_rule", pa.string()),
    ("n_samples", pa.int32()),
    ("n_correct", pa.int32()),
    *GEN_FIELDS,
])
