"""CPT-corpus web assets: per-shard curation with datatrove, then dedup across every shard of the source."""

import os
import tempfile

import dagster as dg
import pyarrow as pa

from citrus_assets.common.engine_config import EngineRunConfig, engine_run_config
from citrus_assets.common.metadata import output
from citrus_assets.common.plots import bars_md, funnel_md
from citrus_assets.common.scheduling.backfill import per_partition, single_run
from citrus_assets.common.scheduling.inbox_sensor import inbox_metadata
from citrus_assets.cpt_corpus.web.config import WebCurationConfig
from citrus_assets.cpt_corpus.web.curation import curate_shard
from citrus_assets.cpt_corpus.web.dedup import dedup_source
from citrus_assets.cpt_corpus.web.pipelines import ExecutorOptions
from resources.inbox import InboxResource
from resources.lake import LakeResource, split_partitions

web_shards = dg.DynamicPartitionsDefinition(name="web_shards")


class WebCurationSettings(EngineRunConfig):
    """What the web assets' run config adds to its engines' fields: ``work_dir``, where the datatrove folders go
    ("" = the system temp folder; Slurm and multi-machine Ray need a shared folder). See ``WebCurationRunConfig``.
    """

    work_dir: str = ""

    def executor_options(self) -> ExecutorOptions:
        return self.to_engine(ExecutorOptions)

    def to_config(self) -> WebCurationConfig:
        """The curation's config: the run config's knobs, ``WebCurationConfig``'s defaults for the rest."""
        return self.to_engine(WebCurationConfig, execution=self.executor_options())

    def work_folder(self, prefix: str):
        """A temporary folder for one call's datatrove files, under ``work_dir`` when set."""
        if self.work_dir:
            os.makedirs(self.work_dir, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=prefix, dir=self.work_dir or None)


# The curation knobs offered at run time (every other WebCurationConfig field keeps its default).
RUN_TIME_KNOBS = ("languages", "url_filter", "minhash_buckets", "minhash_hashes_per_bucket", "workers")

WebCurationRunConfig = engine_run_config(
    "WebCurationRunConfig",
    ExecutorOptions,
    engine_run_config("WebCurationKnobs", WebCurationConfig, WebCurationSettings, include=RUN_TIME_KNOBS),
    rename={"kind": "executor"},
    doc="""Run config of the web assets: ``work_dir`` plus fields of the engines' own configs, with their names
    and defaults declared there once: ``RUN_TIME_KNOBS`` of ``WebCurationConfig`` (web/config.py) and every field
    of the datatrove executor's ``ExecutorOptions`` (web/pipelines.py).

    ``executor`` (``ExecutorOptions.kind``) runs the datatrove pipelines: ``local`` (default, in the step's
    process), ``ray`` (RayPipelineExecutor on ``ray_address``; "" = a local Ray started by the step when none is
    connected) or ``slurm`` (SlurmPipelineExecutor: an sbatch job array on ``slurm_partition``; the step waits
    for it). ``workers``: tasks at once (local: rank processes; ray/slurm: <= 0 = all); ``rank_timeout_s``: local
    with ``workers > 1``, the deadline of one datatrove rank (killed with its stacks dumped).
    """,
)


@dg.asset(
    partitions_def=web_shards,
    code_version="web-v1",
    kinds={"parquet", "datatrove"},
    backfill_policy=single_run(),
    description="One web shard (WARC/WARC.gz/WET/JSONL) through datatrove: HTML to text, URL, language and "
    "Gopher/C4/FineWeb quality filters; every dropped document kept in the shard's rejects file with its filter. "
    "A backfill over many shards is one run; each shard is still written, quarantined and checked on its own.",
)
def web_documents(
    context: dg.AssetExecutionContext, config: WebCurationRunConfig, inbox: InboxResource, lake: LakeResource
) -> dg.Output:
    return per_partition(context, lambda key: curate_web_shard(key, config, inbox, lake))


def funnel_stages(funnel: list[dict]) -> list[tuple[str, int]]:
    """Documents in, then documents out after each step of a shard's curation funnel."""
    if not funnel:
        return []
    return [("input", int(funnel[0]["documents_in"]))] + [(f["step"], int(f["documents_out"])) for f in funnel]


def curate_web_shard(key: str, config: WebCurationRunConfig, inbox: InboxResource, lake: LakeResource):
    """One web shard: its kept documents and its materialization metadata (funnel picture included)."""
    path = inbox.web_shard(key)
    with config.work_folder("citrus-web-") as work:
        result = curate_shard(path, str(path), work, config.to_config())
    lk = lake.lake()
    rejects_path = lk.write_table(result.rejects, lk.data_path("web_documents", key, "rejects.parquet"))
    _, n_bad = lk.write_quarantine("web_documents", key, result.quarantine)
    md = result.metadata()
    return result.documents, dict(
        **inbox_metadata(path),
        funnel=dg.MetadataValue.json(result.funnel),
        funnel_picture=funnel_md(funnel_stages(result.funnel), f"web_documents {key}: documents per filter"),
        rejected=result.rejects.num_rows,
        rejects_path=dg.MetadataValue.path(lk.url(rejects_path)),
        quarantined=n_bad,
        curation=dg.MetadataValue.json(md),
    )


@dg.asset(
    code_version="web-dedup-v1",
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"parquet", "datatrove"},
    description="Exact + MinHash near-dedup across ALL web shards. A cross-shard step: it reads every "
    "materialized web_documents shard and recomputes the whole source on each run, so re-materializing one "
    "shard re-runs the dedup of all of them (metadata `shards_read`, `recomputes`). Duplicates are kept in "
    "duplicates.parquet with the id kept in their place.",
)
def web_corpus(
    context: dg.AssetExecutionContext, config: WebCurationRunConfig, lake: LakeResource, web_documents: pa.Table
) -> dg.Output:
    shards = shard_rows(web_documents, context.asset_partition_keys_for_input("web_documents"))
    with config.work_folder("citrus-dedup-") as work:
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
        shards_read=dg.MetadataValue.json(shards),
        recomputes=f"all web shards ({len(shards)}): cross-shard dedup is recomputed over every shard on each run",
        dedup_funnel=funnel_md(dedup_stages(stats), "web_corpus: cross-shard dedup"),
        cluster_sizes=bars_md(
            [(str(k), n) for k, n in stats["group_size_histogram"].items()],
            "web_corpus: duplicate groups by size (kept + removed)",
            unit="groups",
            label="group size",
        ),
    )


def shard_rows(table: pa.Table, shards: list[str]) -> dict[str, int]:
    """Documents read per shard (from the partition row counts the lake attaches to a multi-partition read)."""
    try:
        return {k: t.num_rows for k, t in split_partitions(table).items()}
    except ValueError:  # loaded by another IO manager: counts unknown unless there is one shard
        return {shards[0]: table.num_rows} if len(shards) == 1 else dict.fromkeys(shards)


def dedup_stages(stats: dict) -> list[tuple[str, int]]:
    """Documents in, after exact dedup, after near (MinHash) dedup = kept; each label names what it removed."""
    n, exact, near = stats["documents_in"], stats["exact_duplicates"], stats["minhash_duplicates"]
    return [
        ("documents in", n),
        (f"after exact dedup (-{exact} exact dups)", n - exact),
        (f"kept after near dedup (-{near} near dups)", n - exact - near),
    ]
