"""CPT-corpus web assets: per-shard curation with datatrove, then dedup across every shard of the source."""

import tempfile

import dagster as dg
import pyarrow as pa

from citrus_assets.common.metadata import output
from citrus_assets.cpt_corpus.web_config import WebCurationConfig
from citrus_assets.cpt_corpus.web_curation import curate_shard
from citrus_assets.cpt_corpus.web_dedup import dedup_source
from resources.inbox import InboxResource
from resources.lake import LakeResource

GROUP = "cpt_corpus"
web_shards = dg.DynamicPartitionsDefinition(name="web_shards")


class WebCurationRunConfig(dg.Config):
    """Run-time knobs of the web curation (everything else: WebCurationConfig defaults)."""

    languages: list[str] = ["en"]
    url_filter: bool = True
    minhash_buckets: int = 14
    minhash_hashes_per_bucket: int = 8

    def to_config(self) -> WebCurationConfig:
        return WebCurationConfig(
            languages=tuple(self.languages), url_filter=self.url_filter,
            minhash_buckets=self.minhash_buckets, minhash_hashes_per_bucket=self.minhash_hashes_per_bucket,
        )


@dg.asset(
    group_name=GROUP,
    partitions_def=web_shards,
    code_version="web-v1",
    kinds={"parquet", "datatrove"},
    description="One web shard (WARC/WARC.gz/WET/JSONL) through datatrove: HTML to text, URL, language and "
    "Gopher/C4/FineWeb quality filters; every dropped document kept in the shard's rejects file with its filter.",
)
def web_documents(
    context: dg.AssetExecutionContext, config: WebCurationRunConfig, inbox: InboxResource, lake: LakeResource
) -> dg.Output:
    path = inbox.web_shard(context.partition_key)
    with tempfile.TemporaryDirectory(prefix="citrus-web-") as work:
        result = curate_shard(path, str(path), work, config.to_config())
    lk = lake.lake()
    rejects_path = lk.write_table(result.rejects, lk.data_path("web_documents", context.partition_key, "rejects.parquet"))
    _, n_bad = lk.write_quarantine("web_documents", context.partition_key, result.quarantine)
    md = result.metadata()
    return output(
        result.documents,
        funnel=dg.MetadataValue.json(result.funnel),
        rejected=result.rejects.num_rows,
        rejects_path=dg.MetadataValue.path(lk.url(rejects_path)),
        quarantined=n_bad,
        curation=dg.MetadataValue.json(md),
    )


@dg.asset(
    group_name=GROUP,
    code_version="web-dedup-v1",
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"parquet", "datatrove"},
    description="Exact + MinHash near-dedup across ALL web shards (a cross-shard step: any changed shard "
    "recomputes the whole source). Duplicates are kept in duplicates.parquet with the id kept in their place.",
)
def web_corpus(
    context: dg.AssetExecutionContext, config: WebCurationRunConfig, lake: LakeResource, web_documents: pa.Table
) -> dg.Output:
    with tempfile.TemporaryDirectory(prefix="citrus-dedup-") as work:
        result = dedup_source([web_documents], work, config.to_config())
    lk = lake.lake()
    dup_path = lk.write_table(result.duplicates, lk.data_path("web_corpus", None, "duplicates.parquet"))
    stats = result.stats
    return output(
        result.kept,
        documents_in=web_documents.num_rows,
        duplicates_removed=result.duplicates.num_rows,
        duplicates_path=dg.MetadataValue.path(lk.url(dup_path)),
        dedup=dg.MetadataValue.json(stats),
    )
