"""JMED builder, first half: consultations by month -> de-identified -> structured medical records.

Only ``deidentified_dialogues`` feeds the rest of the chain: nothing downstream reads ``dialogues``.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pyarrow as pa

from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.prompts import code_version
from citrus_assets.jmed import steps
from citrus_assets.jmed.consultations.dialogues import UNDATED_ENV, load_month, undated_policy
from citrus_assets.jmed.consultations.emr import EMR_PROMPT, SYSTEM_PROMPT
from resources.lake import LakeResource
from resources.llm import LLMResource
from resources.llm.sampling import SamplingConfig

dialogue_months = dg.DynamicPartitionsDefinition(name="dialogue_months")


def dialogues_path(configured: str = "") -> Path:
    """The consultation inbox: the configured folder, else env CITRUS_DIALOGUE_INBOX, else sample/dialogues."""
    return Path(configured or os.environ.get("CITRUS_DIALOGUE_INBOX", "sample/dialogues"))


class DialoguesConfig(dg.Config):
    """Where consultation files arrive ("" = env CITRUS_DIALOGUE_INBOX, else sample/dialogues), and where
    consultations without a date go (``undated``: "file" = a partition named after the file, "import_date" =
    the month the file arrived, "none" = no partition; "" = env CITRUS_DIALOGUE_UNDATED, else "file"; the inbox
    sensor reads the env variable, so set it there rather than here for a sensor-driven lake)."""

    dialogues_dir: str = ""
    undated: str = ""


class EmrConfig(SamplingConfig):
    """Sampling of the record extraction (greedy; short so the CPU demo stays fast; + top_p 1.0, SamplingParams'
    default: the same requests and cache keys as before it inherited SamplingConfig)."""

    max_tokens: int = 160


@dg.asset(
    partitions_def=dialogue_months,
    code_version="dialogues-v1",
    kinds={"parquet"},
    description="Raw consultations of one month (JSON lists, JSONL, Doctor:/Patient: or 医生：/患者： transcripts); "
    "holds PII — nothing downstream reads it except deidentified_dialogues.",
)
def dialogues(context: dg.AssetExecutionContext, config: DialoguesConfig, lake: LakeResource) -> dg.Output:
    folder = dialogues_path(config.dialogues_dir)
    policy = undated_policy(config.undated)
    result, undated = load_month(folder, context.partition_key, undated=policy)
    _, n_bad = lake.lake().write_quarantine("dialogues", context.partition_key, result.quarantine)
    if n_bad:
        context.log.warning(f"{n_bad} consultations quarantined (month {context.partition_key})")
    if undated and policy == "none":
        context.log.warning(
            f"{undated} consultations in {folder} have no month and belong to no partition ({UNDATED_ENV}=none)"
        )
    table = result.table()
    return output(
        table,
        inbox=dg.MetadataValue.path(str(folder)),
        source_files=dg.MetadataValue.json(sorted(set(table["source_uri"].to_pylist()))),
        quarantined=n_bad,
        duplicates_skipped=result.duplicates,
        undated_in_inbox=undated,
        undated_policy=policy,
        month_from=dg.MetadataValue.json(value_counts(table, "month_from")),
        languages=dg.MetadataValue.json(value_counts(table, "language")),
    )


@dg.asset(
    partitions_def=dialogue_months,
    code_version="deid-v2",
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Consultations with names, phones, ID/record numbers, addresses, e-mails, birth dates and URLs "
    "replaced by [NAME]/[PHONE]/[ID]/[ADDRESS]/[EMAIL]/[DOB]/[URL] (jmed/deid.py); a consultation in which "
    "the residual detector (other rules) still finds something is quarantined with the findings; a blocking "
    "check verifies the kept ones.",
)
def deidentified_dialogues(context: dg.AssetExecutionContext, lake: LakeResource, dialogues: pa.Table) -> dg.Output:
    table, counts, bad = steps.deidentify_gated(dialogues)
    address, n_bad = lake.lake().write_quarantine("deidentified_dialogues", context.partition_key, bad)
    if n_bad:
        context.log.warning(
            f"{n_bad} consultations quarantined: personal data left after de-identification ({address})"
        )
    return output(
        table,
        replaced=dg.MetadataValue.json(dict(sorted(counts.items()))),
        replaced_total=sum(counts.values()),
        dialogues_with_pii=sum(1 for n in table["pii_total"].to_pylist() if n),
        quarantined=n_bad,
        quarantine_reasons=dg.MetadataValue.json(sorted({q.reason for q in bad})),
    )


@dg.asset(
    partitions_def=dialogue_months,
    code_version=code_version("emr-v1", SYSTEM_PROMPT, EMR_PROMPT),
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="A structured medical record per consultation (LLM JSON, one batched call per month; age/sex "
    "regex and verbatim-copy fallbacks; diagnosis only from the model or an explicit doctor phrase — "
    "records without one are quarantined).",
)
def emr_records(
    context: dg.AssetExecutionContext,
    config: EmrConfig,
    llm: LLMResource,
    lake: LakeResource,
    deidentified_dialogues: pa.Table,
) -> dg.Output:
    params = config.sampling()
    table, bad, stats = steps.extract_emr(deidentified_dialogues, llm, params)
    _, n_bad = lake.lake().write_quarantine("emr_records", context.partition_key, bad)
    n_in = deidentified_dialogues.num_rows
    if n_in and stats.get("llm_json_ok", 0) < n_in:
        context.log.warning(
            f"the model ({llm.model_id}) returned no JSON record for "
            f"{n_in - stats.get('llm_json_ok', 0)} of {n_in} consultations; rule fallbacks used"
        )
    return output(
        table,
        model=llm.model_id,
        consultations=n_in,
        llm_json_ok=stats.get("llm_json_ok", 0),
        llm_diagnosis=stats.get("llm_diagnosis", 0),
        rule_diagnosis=stats.get("rule_diagnosis", 0),
        quarantined=n_bad,
        quarantine_reasons=dg.MetadataValue.json(sorted({q.reason for q in bad})),
        field_sources=dg.MetadataValue.json(_source_counts(table)),
        cache_hits=sum(table["cached"].to_pylist()),
    )


def _source_counts(table: pa.Table) -> dict:
    out: dict[str, dict[str, int]] = {}
    for s in table["field_sources"].to_pylist():
        for field, origin in json.loads(s).items():
            out.setdefault(field, {}).setdefault(origin, 0)
            out[field][origin] += 1
    return out
