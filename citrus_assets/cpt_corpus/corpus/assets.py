"""CPT corpus assembly: labelled documents (domain, language, tokens) and training-ready shards."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from citrus_assets.common.decontamination.index import decontaminate_table
from citrus_assets.common.metadata import output
from citrus_assets.common.plots import histogram_md
from citrus_assets.cpt_corpus.corpus.labelling import MedicalVocabularyScorer, domain_stats, label_documents
from citrus_assets.cpt_corpus.corpus.sharding import manifest_table, pack_shards, write_shards
from resources.lake import LakeResource
from resources.lineage.ids import record_id
from resources.lineage.schema import PARENT_IDS, RECORD_ID


class CorpusConfig(dg.Config):
    """The target model's tokenizer ("builtin" = the built-in model's) and the medical-score threshold."""

    tokenizer: str = "builtin"
    medical_threshold: float = 3.0
    target_tokens_per_shard: int = 2_000_000
    # A folder whose benchmarks/ sub-folder holds more evaluation sets, indexed next to the bundled sample,
    # $CITRUS_EVAL_DATA and $CITRUS_DATA (else ../shared/data) (common.benchmark_data); n-gram size.
    eval_data_dir: str = ""
    decontamination_ngram: int = 13
    # an empty decontamination index fails the blocking check unless this is set (recorded in metadata)
    allow_no_decontamination: bool = False


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from resources.llm import builtin_model_path

    return AutoTokenizer.from_pretrained(str(builtin_model_path()) if name == "builtin" else name)


@dg.asset(
    code_version="cptdoc-v2",
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"parquet"},
    description="Every CPT document (PDF, deduplicated web, textbook chunks and their generated Q/A) with a "
    "domain label (lexical medical scorer), a language tag and token counts with the target tokenizer; "
    "per-source and per-domain statistics.",
)
def cpt_documents(
    context: dg.AssetExecutionContext,
    config: CorpusConfig,
    lake: LakeResource,
    pdf_documents: pa.Table,
    web_corpus: pa.Table,
    textbook_chunks: pa.Table,
    textbook_questions: pa.Table,
) -> dg.Output:
    table = label_documents(
        {
            "pdf_documents": pdf_documents,
            "web_corpus": web_corpus,
            "textbook_chunks": textbook_chunks,
            "textbook_questions": textbook_questions,
        },
        load_tokenizer(config.tokenizer),
        MedicalVocabularyScorer(threshold=config.medical_threshold),
    )
    lk = lake.lake()
    cache = Path(lk.join("_cache", "decontamination")) if lk.is_local else None
    before = table
    table, removed, decont = decontaminate_table(
        table,
        ["text"],
        config.eval_data_dir,
        config.allow_no_decontamination,
        cache,
        lake=lk,
        n=config.decontamination_ngram,
    )
    if not decont["index_items"]:
        context.log.warning("the decontamination index is empty: CPT documents were NOT decontaminated")
    path = lk.write_table(removed, lk.data_path("cpt_documents", None, "decontaminated.parquet"))
    decont["removed_path"] = lk.url(path)
    source_of = dict(zip(before["record_id"].to_pylist(), before["source"].to_pylist()))
    per_source: dict[str, int] = {}
    for rid in removed["record_id"].to_pylist():
        per_source[source_of[rid]] = per_source.get(source_of[rid], 0) + 1
    decont["removed_per_source"] = dict(sorted(per_source.items()))  # textbook_questions, pdf, web, ...
    stats = domain_stats(table)
    by_source: dict[str, list[float]] = {}
    for src, n in zip(table["source"].to_pylist(), table["n_tokens"].to_pylist()):
        by_source.setdefault(src, []).append(n)
    return output(
        table,
        domain_stats=dg.MetadataValue.json(stats),
        decontamination=dg.MetadataValue.json(decont),
        medical_token_share=dg.MetadataValue.float(round(stats["medical_share"], 4)),
        tokens=int(stats["tokens"]),
        token_length_histogram=histogram_md(by_source, "Tokens per document by source", "tokens"),
    )


@dg.asset(
    code_version="cptshard-v1",
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"parquet"},
    description="Training-ready Parquet shards per source, packed to a target token count; this asset is the "
    "manifest (source, shard, path, documents, tokens, medical share) that CPT's bandit sampler reads.",
)
def cpt_shards(
    context: dg.AssetExecutionContext, config: CorpusConfig, lake: LakeResource, cpt_documents: pa.Table
) -> dg.Output:
    lk = lake.lake()
    rows, parents = [], []
    for source in sorted(set(cpt_documents["source"].to_pylist())):
        docs = cpt_documents.filter(pa.compute.equal(cpt_documents["source"], source))
        shards = pack_shards(docs, config.target_tokens_per_shard)
        rows += write_shards(lk, "cpt_shards", None, source, shards)
        parents += [s[RECORD_ID].to_pylist() for s in shards]
    manifest = manifest_table(rows)
    ids = [record_id("cptshard", r["source"], r["shard"], p) for r, p in zip(manifest.to_pylist(), parents)]
    manifest = manifest.append_column(RECORD_ID, pa.array(ids, pa.string()))
    manifest = manifest.append_column(PARENT_IDS, pa.array(parents, pa.list_(pa.string())))
    return output(
        manifest,
        shards=manifest.num_rows,
        documents=int(sum(manifest["documents"].to_pylist())),
        tokens=int(sum(manifest["tokens"].to_pylist())),
    )
