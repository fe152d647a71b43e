"""RL-stage data assets: ``rejection_samples`` (sampling + rule reward) and ``preference_pairs`` (CPO rows).

Both are partitioned by seed set. ``rejection_samples`` depends on ``sft_stage3_checkpoint`` explicitly:
by default it samples from that checkpoint's ``model_path``; ``RejectionConfig.model`` points it at any
other model instead (the dependency stays, so the graph shows what the default run reads).
"""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from citrus_assets.common.cost_guard import budget_metadata, llm_cost_guard
from citrus_assets.common.decontamination.index import decontaminate_table
from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output, value_counts
from citrus_assets.common.prompts import code_version
from citrus_assets.common.scheduling.automation import ON_NEW_DATA
from citrus_assets.model_training.preference import nonmedical as nm
from citrus_assets.model_training.preference.pairs import (
    LONGEST_VS_CONFIDENT,
    SELECTION_RULES,
    build_pairs,
    resolve_pair,
)
from citrus_assets.model_training.preference.rejection import (
    MEDICAL,
    NONMEDICAL,
    SYSTEM_PROMPT,
    USER_PROMPT,
    medical_items,
    nonmedical_items,
    rescore,
    sample_items,
    sft_references,
)
from citrus_assets.model_training.preference.sampler import sampler_id, sampler_report, with_sampler
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from resources.lake import LakeResource
from resources.llm import LLMResource, SamplingParams
from resources.llm.sampling import SamplingConfig

USE_RESOURCE = "resource"
NO_NONMEDICAL = "none"


class RejectionConfig(SamplingConfig):
    """Rejection sampling. Paper: 20 samples per question at temperature 1.2 (set ``n: 20`` and a
    ``max_tokens`` long enough for full traces, e.g. 2048). The defaults (n=4, max_tokens=128) keep the
    CPU demo (built-in 135M model, 8 questions) near a minute.

    model: "" = the ``sft_stage3_checkpoint`` asset's ``model_path``; "resource" = the ``llm`` resource
    exactly as configured; anything else = a local path, a Hugging Face id, or the served model name on
    an OpenAI-compatible/vLLM server at ``base_url``. ``backend``: "" = "openai" when ``base_url`` is set
    (or when ``model`` is set and the ``llm`` resource is itself "openai": a model served by the same
    server), else the ``llm`` resource's local backend ("vllm" if it uses vLLM, else "transformers").
    The request cache, device and server settings are the ``llm`` resource's.
    """

    model: str = ""
    backend: str = ""
    base_url: str = ""
    revision: str = ""
    n: int = 4
    temperature: float = 1.2
    max_tokens: int = 128
    # the problems come from the nonmedical_reasoning asset (the SFT mix's records, with file and line);
    # "none" = no non-medical questions; answer rule: model_training/preference/nonmedical.py
    nonmedical_dir: str = ""  # only "none" is read: the folder itself is nonmedical_reasoning's config
    nonmedical_glob: str = "*.jsonl"  # which of nonmedical_reasoning's source files are sampled
    nonmedical_share: float = 0.1  # non-medical questions sampled: this share of all sampled questions
    min_nonmedical: int = 0  # ... but at least this many (when the folder has them)

    def params(self) -> SamplingParams:
        return self.sampling(n=self.n)


class PreferenceConfig(dg.Config):
    """Pair selection (rules documented in model_training/preference/pairs.py). Paper mix: 45K medical + 5K
    non-medical pairs, i.e. ``nonmedical_share`` 0.1 of all pairs."""

    selection_rule: str = LONGEST_VS_CONFIDENT
    max_pairs_per_question: int = 1
    nonmedical_share: float = 0.1
    min_nonmedical_pairs: int = 0  # keep at least this many non-medical pairs, whatever the medical count
    reference_chosen: bool = False  # pair a verified reference vs a wrong sample when no sample is correct
    seed: int = 0
    # decontamination (common.decontamination): more benchmark folders next to the bundled sample and
    # $CITRUS_EVAL_DATA/$CITRUS_DATA; an empty index fails the blocking check unless this is set
    eval_data_dir: str = ""
    allow_no_decontamination: bool = False


def checkpoint_model_path(checkpoint: pa.Table) -> str:
    paths = [
        p for p in (checkpoint.column("model_path").to_pylist() if "model_path" in checkpoint.column_names else []) if p
    ]
    return paths[-1] if paths else ""


def sampling_llm(llm: LLMResource, config: RejectionConfig, checkpoint: pa.Table) -> tuple[LLMResource, str]:
    """(the LLM client to sample with, where its model came from: "checkpoint" | "config" | "resource")."""
    if config.model == USE_RESOURCE:
        return llm, "resource"
    model = config.model or checkpoint_model_path(checkpoint)
    if not model:
        raise ValueError("sft_stage3_checkpoint has no model_path and no model is configured: nothing to sample from")
    served = bool(config.base_url) or (bool(config.model) and llm.backend == "openai")
    backend = config.backend or ("openai" if served else "vllm" if llm.backend == "vllm" else "transformers")
    fields = {k: getattr(llm, k) for k in LLMResource.model_fields}
    fields.update(
        model=model,
        backend=backend,
        revision=config.revision,
        base_url=config.base_url or (llm.base_url if backend == "openai" else ""),
    )
    return LLMResource(**fields), "config" if config.model else "checkpoint"


def nonmedical_problems(
    config: RejectionConfig, n_medical: int, partition: str, nonmedical_rows: list[dict]
) -> nm.ProblemSet:
    """The share of ``nonmedical_reasoning``'s records this partition samples (seeded pick)."""
    k = max(nm.share_count(n_medical, config.nonmedical_share), max(0, config.min_nonmedical))
    if config.nonmedical_dir == NO_NONMEDICAL or k == 0:
        return nm.ProblemSet()
    found = nm.problems_from_rows(nonmedical_rows, config.nonmedical_glob)
    found.available = len(found.problems)
    found.problems = nm.pick(found.problems, lambda p: p.record_id, k, f"{config.seed}:{partition}")
    return found


@dg.asset(
    partitions_def=seed_sets,
    # v4: non-medical problems are nonmedical_reasoning's records (the samples' parent), not the folder's lines
    code_version=code_version("rejection_samples-v4", SYSTEM_PROMPT, USER_PROMPT),
    kinds={"parquet"},
    automation_condition=ON_NEW_DATA,  # a retrained stage 3 re-samples every seed set
    description="n samples per open question from the stage-3 model (Citrus prompt), each with a rule-checked reward "
    "and the id of the model that sampled it (sampler_checkpoint).",
)
def rejection_samples(
    context: dg.AssetExecutionContext,
    config: RejectionConfig,
    llm: LLMResource,
    lake: LakeResource,
    open_questions: pa.Table,
    sft_examples: pa.Table,
    sft_stage3_checkpoint: pa.Table,
    nonmedical_reasoning: pa.Table,  # unpartitioned: every seed-set partition reads all of it
) -> dg.Output:
    client, model_source = sampling_llm(llm, config, sft_stage3_checkpoint)
    med = medical_items(open_questions, references=sft_references(sft_examples))
    extra = nonmedical_problems(config, len(med.items), context.partition_key, nonmedical_reasoning.to_pylist())
    items = med.items + nonmedical_items(extra.problems)
    with llm_cost_guard(context, llm, client) as budget:
        table = sample_items(items, client, config.params())
    sampler = sampler_id(model_source, sft_stage3_checkpoint, client.model_id)
    table = with_sampler(table, sampler)
    qpath, n_bad = lake.lake().write_quarantine(
        "rejection_samples", context.partition_key, med.quarantine + extra.quarantine
    )
    if n_bad:
        context.log.warning(f"{n_bad} questions quarantined at {qpath}")
    accuracy = {}
    for cat in (MEDICAL, NONMEDICAL):
        r = table.filter(pc.equal(table["category"], cat))["reward"]
        accuracy[cat] = round(pc.mean(r).as_py(), 4) if len(r) else None
    return output(
        table,
        **empty_metadata(table.num_rows, "no open question and no non-medical problem to sample"),
        model=client.model_id,
        model_source=model_source,
        sampler_checkpoint=sampler,
        **budget_metadata(budget),
        questions=dg.MetadataValue.json({MEDICAL: len(med.items), NONMEDICAL: len(extra.problems)}),
        samples_per_question=config.n,
        mean_reward=dg.MetadataValue.json(accuracy),
        no_answer_block=sum(1 for t in table["response"].to_pylist() if "<answer>" not in t.lower()),
        truncated=value_counts(table, "finish_reason").get("length", 0),
        quarantined=n_bad,
        nonmedical_source=dg.MetadataValue.json(
            {"files": extra.files, "available": extra.available, "unanswered_records": extra.unanswered}
        ),
        questions_with_reference=dg.MetadataValue.json(
            {
                cat: len(
                    set(
                        table.filter(pc.and_(pc.equal(table["category"], cat), pc.not_equal(table["reference"], "")))[
                            "question_id"
                        ].to_pylist()
                    )
                )
                for cat in (MEDICAL, NONMEDICAL)
            }
        ),
        cache_hits=int(pc.sum(table["cached"]).as_py() or 0) if table.num_rows else 0,
        generated_tokens=int(pc.sum(table["gen_completion_tokens"]).as_py() or 0) if table.num_rows else 0,
    )


def verify_pairs(pairs: pa.Table, samples: pa.Table, open_questions: pa.Table) -> list[str]:
    """Why pairs are unfit for training (empty = fit): the rule re-checks chosen/rejected, and every
    medical prompt contains its open question's text."""
    by_id = {s["record_id"]: s for s in samples.to_pylist()}
    questions = dict(zip(open_questions["record_id"].to_pylist(), open_questions["open_question"].to_pylist()))
    problems = []
    for p in pairs.to_pylist():
        parent, chosen, rejected = resolve_pair(p, by_id)
        if chosen is None or rejected is None or not rescore(chosen) or rescore(rejected):
            problems.append(f"{p['record_id']}: chosen not correct or rejected not incorrect")
            continue
        own = rejected["question"]
        q = questions.get(parent, own) if p["category"] == MEDICAL else own
        if not q or q.strip() not in p["prompt_text"] or q.strip() not in p["prompt"][-1]["content"]:
            problems.append(f"{p['record_id']}: prompt does not contain its question")
    return problems


@dg.asset(
    partitions_def=seed_sets,
    code_version="preference_pairs-v3",
    kinds={"parquet"},
    automation_condition=ON_NEW_DATA,
    description="<prompt, chosen, rejected> rows for TRL's CPO trainer: a correct vs an incorrect sample per question "
    "(optionally a verified reference as chosen when no sample is correct).",
)
def preference_pairs(
    context: dg.AssetExecutionContext,
    config: PreferenceConfig,
    lake: LakeResource,
    rejection_samples: pa.Table,
    open_questions: pa.Table,
) -> dg.Output:
    if config.selection_rule not in SELECTION_RULES:
        raise ValueError(f"selection_rule must be one of {SELECTION_RULES}, got {config.selection_rule!r}")
    table, stats = build_pairs(
        rejection_samples,
        rule=config.selection_rule,
        max_pairs_per_question=config.max_pairs_per_question,
        nonmedical_share=config.nonmedical_share,
        seed=config.seed,
        reference_chosen=config.reference_chosen,
        min_nonmedical_pairs=config.min_nonmedical_pairs,
    )
    problems = verify_pairs(table, rejection_samples, open_questions)
    if problems:  # would poison training data
        raise ValueError(f"{len(problems)} unfit preference pairs, e.g. {problems[:3]}")
    # prompts and both completions are trained on: all three against the benchmark index
    lk = lake.lake()
    table, removed, decont = decontaminate_table(
        table,
        ["prompt", "chosen", "rejected"],
        config.eval_data_dir,
        config.allow_no_decontamination,
        Path(lk.join("_cache", "decontamination")) if lk.is_local else None,
        lake=lk,
    )
    partition = context.partition_key if context.has_partition_key else None
    decont["removed_path"] = lk.url(
        lk.write_table(removed, lk.data_path("preference_pairs", partition, "decontaminated.parquet"))
    )
    sampled = set(rejection_samples["parent_ids"].combine_chunks().flatten().to_pylist())
    unsampled = sum(1 for rid in open_questions["record_id"].to_pylist() if rid not in sampled)
    why = (
        f"0 pairs from {stats.questions} questions: {stats.none_correct} had no correct sample, "
        f"{stats.all_correct} no wrong one (reference_chosen: {config.reference_chosen})"
        if stats.questions
        else "no rejection samples"
    )
    return output(
        table,
        **empty_metadata(table.num_rows, why),
        **{k: v for k, v in stats.as_metadata().items()},
        per_category=dg.MetadataValue.json(stats.per_category),
        open_questions_without_samples=unsampled,
        selection_rule=config.selection_rule,
        reference_chosen=config.reference_chosen,
        samplers=dg.MetadataValue.json(sampler_report(table, None).samplers),
        decontamination=dg.MetadataValue.json(decont),
    )
