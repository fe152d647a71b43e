"""JMED builder, second half: question -> 21 options -> three-tier review -> the benchmark release."""

import uuid

import dagster as dg
import pyarrow as pa

from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.plots import bars_md
from citrus_assets.common.prompts import code_version
from citrus_assets.jmed import steps
from citrus_assets.jmed.assets import dialogue_months
from citrus_assets.jmed.consultations.emr import SYSTEM_PROMPT
from citrus_assets.jmed.items import review as R
from citrus_assets.jmed.plots import age_sex_md
from resources.lake import LakeResource
from resources.llm import LLMResource
from resources.llm.sampling import SamplingConfig

EXPORT_FILE = "jmed.jsonl"


class QuestionConfig(SamplingConfig):
    """Sampling of the question writer (greedy; short)."""

    max_tokens: int = 96


class ReviewConfig(dg.Config):
    """Folder of the tier decision files ("" = env CITRUS_JMED_REVIEWS, else sample/jmed_reviews)."""

    reviews_dir: str = ""


@dg.asset(
    partitions_def=dialogue_months,
    code_version=code_version("jmedq-v1", SYSTEM_PROMPT, *steps.QUESTION_PROMPTS.values()),
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="A diagnostic question per record that does not name the diagnosis (LLM, one batched call; "
    "validator; template fallback in the record's language; quarantine when neither passes).",
)
def jmed_questions(
    context: dg.AssetExecutionContext,
    config: QuestionConfig,
    llm: LLMResource,
    lake: LakeResource,
    emr_records: pa.Table,
) -> dg.Output:
    params = config.sampling()
    table, bad, stats = steps.generate_questions(emr_records, llm, params)
    _, n_bad = lake.lake().write_quarantine("jmed_questions", context.partition_key, bad)
    return output(
        table,
        model=llm.model_id,
        llm_accepted=stats.get("llm", 0),
        template=stats.get("template", 0),
        quarantined=n_bad,
        stats=dg.MetadataValue.json(stats),
    )


@dg.asset(
    partitions_def=dialogue_months,
    code_version="jmedo-v1",
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="21 options A-U per question: ICD-10-normalized answer(s), 19-20 mutually exclusive distractors "
    "(same chapter first, no parent/child, no near-duplicates), 'None of the above' last; fixed seed per item.",
)
def jmed_options(context: dg.AssetExecutionContext, lake: LakeResource, jmed_questions: pa.Table) -> dg.Output:
    table, bad, stats = steps.build_options(jmed_questions)
    _, n_bad = lake.lake().write_quarantine("jmed_options", context.partition_key, bad)
    counts = [len(a) for a in table["answer_letters"].to_pylist()]
    return output(
        table,
        quarantined=n_bad,
        normalized_by=dg.MetadataValue.json(stats["normalized_by"]),
        answer_counts=dg.MetadataValue.json({str(k): counts.count(k) for k in sorted(set(counts))}),
        quarantine_reasons=dg.MetadataValue.json(sorted({q.reason for q in bad})),
    )


@dg.asset(
    partitions_def=dialogue_months,
    code_version="jmedr-v1",
    kinds={"parquet"},
    description="Automatic item checks, then three review tiers (attending, senior, chief physician) imported "
    "from decision files: verdict, reviewer and time per tier, and the item's status.",
)
def jmed_reviews(context: dg.AssetExecutionContext, config: ReviewConfig, jmed_options: pa.Table) -> dg.Output:
    folder = R.reviews_path(config.reviews_dir)
    decisions, problems = R.load_decisions(folder)
    for p in problems:
        context.log.warning(p)
    table = R.review_items(jmed_options, decisions)
    return output(
        table,
        reviews_dir=dg.MetadataValue.path(str(folder)),
        statuses=dg.MetadataValue.json(value_counts(table, "status")),
        auto_rejected=sum(1 for p in table["auto_problems"].to_pylist() if p),
        decision_file_problems=len(problems),
    )


@dg.asset(
    partitions_def=dialogue_months,
    code_version="jmed-v1",
    kinds={"parquet", "jsonl"},
    automation_condition=dg.AutomationCondition.eager(),
    description="The month's JMED release: items approved at all three tiers (id, department, question, "
    "options A-U, answer(s), month), also exported as <lake>/jmed_benchmark/<month>/jmed.jsonl in the "
    "format the JMED seed loader reads.",
)
def jmed_benchmark(context: dg.AssetExecutionContext, lake: LakeResource, jmed_reviews: pa.Table) -> dg.Output:
    table = R.benchmark_rows(jmed_reviews)
    path = export_jsonl(lake, context.partition_key, R.jsonl_lines(table))
    counts = [len(a) for a in table["answer"].to_pylist()]
    return output(
        table,
        export_jsonl=dg.MetadataValue.path(path),
        reviewed=jmed_reviews.num_rows,
        age_sex=age_sex_md(R.age_sex_counts(table)),
        departments=bars_md(
            sorted(value_counts(table, "department").items()), "JMED items by department", "items", label="department"
        ),
        answer_counts=dg.MetadataValue.json({str(k): counts.count(k) for k in sorted(set(counts))}),
        languages=dg.MetadataValue.json(value_counts(table, "language")),
        **empty_metadata(
            table.num_rows,
            (
                "no reviewed item this month (jmed_reviews has 0 rows)"
                if not jmed_reviews.num_rows
                else f"none of {jmed_reviews.num_rows} reviewed items was approved at all three review tiers"
            ),
        ),
    )


def export_jsonl(lake_resource: LakeResource, partition: str, lines: list[str]) -> str:
    """Atomically write the release file next to the asset's Parquet (temp name + rename)."""
    lake = lake_resource.lake()
    path = lake.join("jmed_benchmark", partition, EXPORT_FILE)
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    lake.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with lake.fs.open(tmp, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    lake.fs.mv(tmp, path)
    return lake.url(path)
