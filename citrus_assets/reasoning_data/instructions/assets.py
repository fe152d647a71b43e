"""Instruction data for SFT stages 1 and 2: one partition per inbox file, normalized to chat rows."""

import dagster as dg

from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.scheduling.inbox_sensor import inbox_metadata
from citrus_assets.reasoning_data.instructions.instruction_files import load_instruction_file
from resources.inbox import InboxResource
from resources.lake import LakeResource

instruction_sets = dg.DynamicPartitionsDefinition(name="instruction_sets")


def instruction_file(inbox: InboxResource, partition: str):
    files = inbox.files(inbox.instructions_path())
    if partition not in files:
        raise FileNotFoundError(f"no instruction file for partition {partition!r} in {inbox.instructions_path()}")
    return files[partition]


@dg.asset(
    partitions_def=instruction_sets,
    code_version="instructions-v1",
    kinds={"parquet"},
    description="Instruction conversations (ShareGPT/Infinity-Instruct `conversations` or OpenAI `messages`) "
    "normalized to one chat format; malformed records quarantined, exact duplicates within the file skipped.",
)
def instruction_examples(context: dg.AssetExecutionContext, inbox: InboxResource, lake: LakeResource) -> dg.Output:
    path = instruction_file(inbox, context.partition_key)
    result = load_instruction_file(path, context.partition_key)
    qpath, n_bad = lake.lake().write_quarantine("instruction_examples", context.partition_key, result.quarantine)
    if n_bad:
        context.log.warning(f"{n_bad} records of {path.name} quarantined at {qpath}")
    table = result.table()
    reasons: dict[str, int] = {}
    for q in result.quarantine:
        reasons[q.reason] = reasons.get(q.reason, 0) + 1
    return output(
        table,
        source_file=dg.MetadataValue.path(str(path)),
        **inbox_metadata(path),
        quarantined=n_bad,
        quarantine_reasons=dg.MetadataValue.json(reasons),
        duplicates_skipped=result.duplicates,
        formats=dg.MetadataValue.json(result.formats),
        languages=dg.MetadataValue.json(value_counts(table, "language")),
        user_turns=dg.MetadataValue.json({str(k): v for k, v in value_counts(table, "n_user_turns").items()}),
    )
