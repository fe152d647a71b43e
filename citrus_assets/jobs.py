"""Jobs, and the main job's plan: which job runs for which inbox partitions, in dependency order."""

from dataclasses import dataclass
from typing import Callable

import dagster as dg

from citrus_assets.cpt_corpus.assets import pdf_batches
from citrus_assets.cpt_corpus.sensors import pdf_batch_keys, web_shard_keys
from citrus_assets.cpt_corpus.web_assets import web_shards
from citrus_assets.reasoning_data.assets import seed_sets
from citrus_assets.reasoning_data.sensors import seed_keys

REASONING_DATA_JOB = "reasoning_data_job"
CPT_PDF_JOB = "cpt_pdf_job"
CPT_WEB_SHARD_JOB = "cpt_web_shard_job"
CPT_WEB_DEDUP_JOB = "cpt_web_dedup_job"
CPT_CORPUS_JOB = "cpt_corpus_job"

reasoning_data_job = dg.define_asset_job(
    REASONING_DATA_JOB,
    selection=dg.AssetSelection.groups("reasoning_data"),
    description="Seeds → closed-form answers for one seed set (with the assets' checks).",
)
cpt_pdf_job = dg.define_asset_job(
    CPT_PDF_JOB,
    selection=dg.AssetSelection.assets("pdf_documents"),
    description="PDF extraction for one PDF batch (with its checks).",
)

cpt_web_shard_job = dg.define_asset_job(
    CPT_WEB_SHARD_JOB, selection=dg.AssetSelection.assets("web_documents"),
    description="Web curation of one shard (with its checks).",
)
cpt_web_dedup_job = dg.define_asset_job(
    CPT_WEB_DEDUP_JOB, selection=dg.AssetSelection.assets("web_corpus"),
    description="Dedup across every curated web shard (cross-shard: recomputes the whole source).",
)

cpt_corpus_job = dg.define_asset_job(
    CPT_CORPUS_JOB, selection=dg.AssetSelection.assets("cpt_documents", "cpt_shards"),
    description="Label every CPT document and pack the training shards + manifest.",
)

jobs = [reasoning_data_job, cpt_pdf_job, cpt_web_shard_job, cpt_web_dedup_job, cpt_corpus_job]


@dataclass(frozen=True)
class MainStep:
    """One step of the main job: run ``job`` for every partition the inbox lists."""

    job: str
    partitions: dg.DynamicPartitionsDefinition | None
    list_keys: Callable | None = None


MAIN_PLAN: list[MainStep] = [
    MainStep(CPT_PDF_JOB, pdf_batches, pdf_batch_keys),
    MainStep(CPT_WEB_SHARD_JOB, web_shards, web_shard_keys),
    MainStep(CPT_WEB_DEDUP_JOB, None),
    MainStep(CPT_CORPUS_JOB, None),
    MainStep(REASONING_DATA_JOB, seed_sets, seed_keys),
]
