"""CPT textbook assets (paper, CPT): section chunks and their Evol-Instruct question/answer expansion."""

import time

import dagster as dg
import pyarrow as pa

from citrus_assets.common.metadata import output
from citrus_assets.common.prompts import code_version
from citrus_assets.common.scheduling.inbox_sensor import inbox_metadata
from citrus_assets.cpt_corpus.textbooks.chunking import ChunkSpec, chunk_batch
from citrus_assets.cpt_corpus.textbooks.evol import PROMPT_NAMES, TopicFilter, evolve_chunks
from resources.inbox import InboxResource
from resources.lake import LakeResource
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI
from resources.llm import LLMResource
from resources.llm.sampling import SamplingConfig

textbook_batches = dg.DynamicPartitionsDefinition(name="textbook_batches")

CHUNK_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
        ("textbook", pa.string()),
        ("format", pa.string()),
        ("heading_path", pa.string()),
        ("headings", pa.list_(pa.string())),
        ("text", pa.string()),
        ("n_words", pa.int64()),
        ("n_chars", pa.int64()),
        ("overlap_words", pa.int64()),
        ("chunk_index", pa.int64()),
        ("loc_start", pa.int64()),
        ("loc_end", pa.int64()),
        ("max_words", pa.int64()),
    ]
)


class TextbookChunkingConfig(dg.Config):
    """Chunk bounds in words: sections longer than ``max_words`` are split at paragraphs with at most
    ``overlap_words`` repeated (<= max_words // 2); chunks under ``min_words`` merge into a neighbour."""

    max_words: int = 220
    overlap_words: int = 40
    min_words: int = 60

    def spec(self) -> ChunkSpec:
        return ChunkSpec(self.max_words, self.overlap_words, self.min_words)


class TextbookEvolConfig(SamplingConfig):
    """Evol-Instruct expansion: each chunk x operator is one prompt, all in one batched LLM call.

    Operators: deepen, concretize, constraints (adds a constraint), reasoning (multi-step), broaden. The
    defaults keep the demo cheap (2 operators, 160 tokens: the bundled sample is 3 chunks = 6 prompts, about
    a minute with the built-in SmolLM2-135M on 2 idle CPU cores: benchmarks/results/textbook_augmentation.md).
    To scale up: list all five operators, raise ``samples_per_operator`` (n > 1 needs temperature > 0) and
    ``max_tokens`` (~512 for answers with steps),
    and point the ``llm`` resource at a strong model (``backend="vllm"`` on a GPU or an OpenAI-compatible
    server); the request cache makes a re-run after a failure free for everything already generated.
    Off-topic filter: a kept pair shares ``min_shared_terms`` medical terms with its chunk or at least
    ``min_overlap`` of its content words occur in the chunk.
    """

    operators: list[str] = ["deepen", "concretize"]
    samples_per_operator: int = 1
    max_tokens: int = 160  # temperature, top_p, seed: SamplingConfig's (greedy, seed 0)
    min_shared_terms: int = 1
    min_overlap: float = 0.3


@dg.asset(
    partitions_def=textbook_batches,
    code_version="tbchunk-v1",
    kinds={"parquet"},
    description="Textbook sections (Markdown, plain text, PDF) as chunks with heading path, file and line/page "
    "range; long sections split at paragraphs with bounded overlap, tiny ones merged; one partition per batch.",
)
def textbook_chunks(
    context: dg.AssetExecutionContext, config: TextbookChunkingConfig, inbox: InboxResource, lake: LakeResource
) -> dg.Output:
    batches = inbox.batches(inbox.textbooks_path())
    if context.partition_key not in batches:
        raise FileNotFoundError(f"no textbook batch {context.partition_key!r} in {inbox.textbooks_path()}")
    paths = batches[context.partition_key]
    rows, quarantine, stats = chunk_batch(paths, config.spec(), uris={str(p): str(p) for p in paths})
    qpath, n_bad = lake.lake().write_quarantine("textbook_chunks", context.partition_key, quarantine)
    if n_bad:
        context.log.warning(f"{n_bad} textbook files of batch {context.partition_key} quarantined at {qpath}")
    return output(
        pa.Table.from_pylist(rows, schema=CHUNK_SCHEMA),
        stats=dg.MetadataValue.json(stats),
        **inbox_metadata(paths),
        quarantined=n_bad,
        quarantined_by_reason=dg.MetadataValue.json(stats["quarantined_by_reason"]),
        max_words=config.max_words,
        max_overlap_words=stats["max_overlap_words"],
    )


def evolve_partition(chunks: pa.Table, llm, config: TextbookEvolConfig):
    """The asset's generation step (also what the benchmark times)."""
    params = config.sampling(n=config.samples_per_operator)
    return evolve_chunks(
        chunks,
        llm,
        params,
        config.operators,
        TopicFilter(min_shared_terms=config.min_shared_terms, min_overlap=config.min_overlap),
    )


@dg.asset(
    partitions_def=textbook_batches,
    code_version=code_version("tbq-v1", *PROMPT_NAMES),
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Evol-Instruct medical questions with answers grounded in each textbook chunk (deepen, "
    "concretize, constraints, reasoning, broaden); empty, unparseable, refused and off-topic ones quarantined.",
)
def textbook_questions(
    context: dg.AssetExecutionContext,
    config: TextbookEvolConfig,
    llm: LLMResource,
    lake: LakeResource,
    textbook_chunks: pa.Table,
) -> dg.Output:
    t0 = time.perf_counter()
    result = evolve_partition(textbook_chunks, llm, config)
    seconds = time.perf_counter() - t0
    _, n_bad = lake.lake().write_quarantine("textbook_questions", context.partition_key, result.rejects)
    s = result.stats
    return output(
        result.table,
        model=llm.model_id,
        funnel=dg.MetadataValue.json(
            {
                "chunks": s["chunks"],
                "prompts": s["prompts"],
                "generations": s["generations"],
                "kept": s["kept"],
                "dropped": s["dropped"],
            }
        ),
        dropped_by_reason=dg.MetadataValue.json(s["dropped_by_reason"]),
        quarantined=n_bad,
        questions_per_chunk=dg.MetadataValue.float(s["kept_per_chunk"]["mean"]),
        chunks_without_questions=s["kept_per_chunk"]["chunks_without_questions"],
        kept_by_operator=dg.MetadataValue.json(s["kept_by_operator"]),
        generated_tokens=s["generated_tokens"],
        cache_hits=s["cache_hits"],
        generation_seconds=dg.MetadataValue.float(round(seconds, 2)),
    )
