"""Column contracts of the training-stage assets (checkpoints, rejection samples, preference pairs).

A checkpoint asset's table has ONE row describing the saved model (the weights live in HF format
under ``model_path``); downstream assets (rejection sampling, evaluation) read ``model_path``.
"""

import pyarrow as pa

from resources.lineage.schema import GEN_FIELDS, PARENT_IDS, RECORD_ID

CHECKPOINT_STAGES = ("cpt", "sft_stage1", "sft_stage2", "sft_stage3", "rl")

CHECKPOINT_SCHEMA = pa.schema(
    [
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
    ]
)

# The model that sampled a rejection sample (and so a preference pair): the ``record_id`` of the
# ``sft_stage3_checkpoint`` row it came from (that id hashes the weights), or ``config:<model>`` /
# ``resource:<model>`` when ``RejectionConfig.model`` chose another model. RL trains only on pairs whose
# sampler is the current stage-3 checkpoint (model_training/preference/checks.py, PREFERENCE_PAIRS_CURRENT_SAMPLER).
SAMPLER_CHECKPOINT = "sampler_checkpoint"

# preference_pairs: rows ready for TRL's CPO trainer (prompt/chosen/rejected, conversational).
MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
PREFERENCE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (
            PARENT_IDS,
            pa.list_(pa.string()),
        ),  # [question/open-question id, chosen sample (or reference) id, rejected sample id]
        ("question_id", pa.string()),
        ("category", pa.string()),  # "medical" | "nonmedical"
        ("prompt", pa.list_(MESSAGE_TYPE)),  # full rendered conversation up to the answer (never a raw template)
        ("chosen", pa.list_(MESSAGE_TYPE)),  # [assistant message]
        ("rejected", pa.list_(MESSAGE_TYPE)),
        ("prompt_text", pa.string()),  # the prompt as rendered by the sampling model's chat template
        ("selection_rule", pa.string()),
        ("n_samples", pa.int32()),
        ("n_correct", pa.int32()),
        (
            "chosen_origin",
            pa.string(),
        ),  # "sample" (a correct sample) | "reference" (no sample correct; reference_chosen)
        ("sampler_checkpoint", pa.string()),  # SAMPLER_CHECKPOINT of the samples the pair was built from
        *GEN_FIELDS,
    ]
)

# rejection_samples: one row per sampled response of the stage-3 model to an open question (or a
# non-medical problem), with its rule-based reward. preference_pairs is built from these rows.
OPTION_TYPE = pa.struct([("letter", pa.string()), ("text", pa.string())])
REJECTION_SAMPLE_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),  # record_id("rsample", question record id, model, revision, sampling, index, text)
        (PARENT_IDS, pa.list_(pa.string())),  # [open-question id] or [source id of the non-medical line]
        ("source_uri", pa.string()),  # non-medical rows only (the input file); null for open questions
        ("source_locator", pa.string()),
        ("question_id", pa.string()),  # the open question's question_id (seed id) / the non-medical source id
        ("category", pa.string()),  # "medical" | "nonmedical"
        ("language", pa.string()),
        ("question", pa.string()),  # the question text put inside <Question> tags
        ("ground_truth", pa.string()),
        ("answer_letters", pa.list_(pa.string())),  # medical: the correct option letters; non-medical: []
        ("options", pa.list_(OPTION_TYPE)),  # medical: the (hidden) options the answer is verified against
        ("sample_index", pa.int32()),
        ("prompt_messages", pa.list_(MESSAGE_TYPE)),  # [system, user] as sent
        ("prompt", pa.string()),  # the same, rendered by the sampling model's chat template
        ("response", pa.string()),
        ("finish_reason", pa.string()),
        ("predicted", pa.string()),  # the answer span that was verified (last <answer> block)
        ("extracted_letters", pa.list_(pa.string())),  # medical: letters read by common.answers.extract_answer
        ("extraction", pa.string()),  # extract_answer's method, or "exact"/"numeric"/"none" (non-medical rule)
        ("reward", pa.float64()),  # 1.0 correct, 0.0 not
        ("cached", pa.bool_()),
        ("reference", pa.string()),  # the question's verified reference response ("" when none): see rejection.py
        ("reference_id", pa.string()),  # its record id (sft example id / non-medical source id)
        ("sampler_checkpoint", pa.string()),  # SAMPLER_CHECKPOINT: the model that sampled the row
        *GEN_FIELDS,
    ]
)
