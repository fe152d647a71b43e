"""Paper stage: reasoning data (question seeds → closed-form answers → …). Found by common/stages.py."""

# The chain follows its inputs (citrus_assets/common/scheduling/automation.py): question_seeds is materialized by the
# seed inbox sensor, judge_answers is eager, and everything below it runs on new input data.
AUTOMATED_ON_NEW_DATA = (
    "question_difficulty",
    "open_questions",
    "reasoning_traces",
    "sft_examples",
    "sft_stage1_mix",
    "sft_stage2_mix",
    "sft_stage3_mix",
)
