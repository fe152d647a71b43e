"""What the reasoning-data stage adds to the code location: SFT stage-3 data and the SFT mixes."""

from citrus_assets.common.automation import ON_NEW_DATA, with_automation
from citrus_assets.reasoning_data.instructions.assets import instruction_examples, instruction_sets
from citrus_assets.reasoning_data.instructions.sensors import instruction_inbox_sensor
from citrus_assets.reasoning_data.mixes import checks as mix_checks
from citrus_assets.reasoning_data.mixes.assets import sft_stage1_mix, sft_stage2_mix, sft_stage3_mix
from citrus_assets.reasoning_data.mixes.nonmedical_assets import nonmedical_reasoning
from citrus_assets.reasoning_data.questions import checks as question_checks
from citrus_assets.reasoning_data.questions.assets import open_questions, question_difficulty
from citrus_assets.reasoning_data.seeds import checks as seed_checks
from citrus_assets.reasoning_data.seeds.assets import judge_answers, question_seeds, seed_sets
from citrus_assets.reasoning_data.seeds.sensors import seed_inbox_sensor
from citrus_assets.reasoning_data.traces import checks as trace_checks
from citrus_assets.reasoning_data.traces.assets import reasoning_traces
from citrus_assets.reasoning_data.traces.sft_assets import sft_examples

# The chain follows its inputs (citrus_assets/common/automation.py): question_seeds is materialized by the
# seed inbox sensor, judge_answers is eager, and everything below it runs on new input data.
AUTOMATED = ("question_difficulty", "open_questions", "reasoning_traces", "sft_examples",
             "sft_stage1_mix", "sft_stage2_mix", "sft_stage3_mix")
assets = with_automation([question_seeds, judge_answers, question_difficulty, open_questions, reasoning_traces,
                          sft_examples, instruction_examples, nonmedical_reasoning, sft_stage1_mix, sft_stage2_mix, sft_stage3_mix],
                         ON_NEW_DATA, AUTOMATED)
checks = [*seed_checks.checks, *question_checks.checks, *trace_checks.checks, *mix_checks.checks]
sensors = [seed_inbox_sensor, instruction_inbox_sensor]
partitions = [seed_sets, instruction_sets]

__all__ = ["assets", "checks", "sensors", "partitions", "question_seeds", "judge_answers", "seed_sets",
           "question_difficulty", "open_questions", "reasoning_traces", "sft_examples", "instruction_examples",
           "instruction_sets", "nonmedical_reasoning", "sft_stage1_mix", "sft_stage2_mix", "sft_stage3_mix"]
