"""Data cards: what one checkpoint was trained on, read from the lineage index and the Dagster instance.

:func:`build_card` starts at the checkpoint's ``checkpoint_inputs`` (the asset partitions and data versions
its training run read; the ``data_versions`` column of the checkpoint row when none were recorded) and walks
the asset-level lineage upstream: for each asset partition (one materialization of it), the asset partitions
holding parents of its records (:func:`resources.lineage.query.asset_graph.record_inputs`), recursively, down to
the source files. Where a parent partition was materialized several times, the walk takes the latest
materialization holding a parent that is not newer than the child (the version the child read). An input
that is itself a checkpoint (the model training started from) is listed with its data version and checks
but not walked: its own card covers its data.

Per asset partition the card holds the data version, code version, record count, source files cited (with
the number of source units: lines, pages, WARC records), the models and prompt hashes of LLM-made records
(``generations``), and, from the Dagster instance, the materialization metadata that matches that data
version (``quarantined``; every key about duplicates / dedup / drops / filters / rejects / removals / the
curation funnel / selection; ``decontamination``) and the latest evaluation of every asset check on it
(preferring one that evaluated this data version). :func:`card_markdown` renders it.

A card is *complete* when it lists at least one source file, every input has a data version in the
lineage, and no check failed; otherwise ``problems`` says why (the data card asset check fails on it).
The card holds no wall-clock time of its own, so re-building it on unchanged lineage gives the same JSON.
"""

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
import pyarrow as pa

from citrus_assets.model_training.schemas import CHECKPOINT_SCHEMA
from resources.lineage.query import asset_graph
from resources.lineage.schema import UNPARTITIONED
from resources.lineage.store import LineageStore
from resources.lineage.writer import table_data_version

CARD_VERSION = 1
# Materialization metadata keys that say what a step dropped, filtered, de-duplicated or quarantined.
FILTER_KEY_RE = re.compile(
    r"quarantin|duplicat|dedup|drop|filter|reject|remov|funnel|selection|stage_reasons|kept|skipped|unlabeled"
)
DECONTAMINATION_KEY = "decontamination"
QUARANTINED_KEY = "quarantined"
MAX_LIST_ITEMS = 50  # longer lists in metadata values are cut (the full value stays in the event log)
CHECK_HISTORY = 100  # evaluations read per check
CHECK_DISCOVERY_LIMIT = 100_000  # check evaluation events scanned to find the checks of the listed assets
MATERIALIZATION_HISTORY = 50  # materialization events read per asset partition
KIND_DATA = "data"
KIND_CHECKPOINT = "checkpoint"


# ==================================================================== building
def build_card(
    store: LineageStore,
    instance: dg.DagsterInstance | None,
    checkpoint_asset: str,
    checkpoint: pa.Table | Mapping[str, Any],
    *,
    data_version: str | None = None,
    check_keys: Iterable[dg.AssetCheckKey] | None = None,
    sync: bool = True,
) -> dict[str, Any]:
    """The data card (a JSON-able dict) of the checkpoint ``checkpoint_asset`` whose one-row table (or row)
    is ``checkpoint``.

    ``data_version``: the checkpoint's data version (default: the content hash of the row, as the asset's
    output has). ``instance``: where materialization metadata and check evaluations are read (None: left
    out). Every check evaluated in the instance on a listed asset is reported; ``check_keys`` adds checks
    that may never have been evaluated (the code location's), reported as not evaluated.
    """
    if isinstance(checkpoint, pa.Table):
        table = checkpoint
    else:
        table = pa.Table.from_pylist([dict(checkpoint)], schema=CHECKPOINT_SCHEMA)
    row = table.to_pylist()[0]
    dv = data_version or table_data_version(table)
    mats = asset_graph.materializations(store, sync=sync)
    by_mid = {m["mid"]: m for m in mats}
    ckpt_assets = {r[0] for r in asset_graph.checkpoint_inputs(store, sync=False)} | {checkpoint_asset}

    recorded = asset_graph.checkpoint_inputs(store, checkpoint_asset, dv, sync=False)
    if recorded:
        wanted = sorted({(r[3], r[4], r[5]) for r in recorded}, key=lambda x: tuple(v or "" for v in x))
        inputs_from = "checkpoint_inputs"
    else:
        versions = json.loads(row.get("data_versions") or "{}")
        wanted = [(a, UNPARTITIONED, v) for a, v in sorted(versions.items())]
        inputs_from = "checkpoint row (no checkpoint_inputs lineage)"

    nodes: dict[int, dict[str, Any]] = {}
    inputs: list[dict[str, Any]] = []
    problems: list[str] = []
    for asset, partition, version in wanted:
        kind = KIND_CHECKPOINT if asset in ckpt_assets else KIND_DATA
        mat = _pick(mats, asset, partition, version)
        inputs.append(
            {
                "asset": asset,
                "partition": partition,
                "data_version": version,
                "kind": kind,
                "n_records": mat["n_records"] if mat else None,
                "in_lineage": mat is not None,
            }
        )
        if not version:
            problems.append(f"input {_label(asset, partition)} has no data version")
        if mat is None:
            problems.append(f"input {_label(asset, partition)}@{version} has no lineage")
        elif mat["mid"] not in nodes:
            nodes[mat["mid"]] = _node(mat, kind, 0)
    if not inputs:
        problems.append("no input data version recorded")

    _walk(store, nodes, by_mid, ckpt_assets)
    data_mids = sorted(m for m, n in nodes.items() if n["kind"] == KIND_DATA)
    for mid, uri, n in asset_graph.source_units(store, data_mids, per_materialization=True, sync=False):
        nodes[mid]["sources"][uri] = int(n)
    sources = []
    for uri, n in asset_graph.source_units(store, data_mids, sync=False):
        sources.append(
            {
                "uri": uri,
                "n_units": int(n),
                "cited_by": sorted(_label(x["asset"], x["partition"]) for x in nodes.values() if uri in x["sources"]),
            }
        )
    generations = [
        {
            "asset": nodes[mid]["asset"],
            "partition": nodes[mid]["partition"],
            "model_id": model,
            "model_revision": rev,
            "prompt_template": template,
            "prompt_hash": phash,
            "n_records": int(n),
        }
        for mid, model, rev, template, phash, n in asset_graph.generation_counts(store, data_mids, sync=False)
    ]
    generations.sort(
        key=lambda g: tuple(
            str(g[k] or "")
            for k in ("asset", "partition", "model_id", "model_revision", "prompt_template", "prompt_hash")
        )
    )
    models: dict[tuple, int] = {}
    for g in generations:
        key = (g["model_id"], g["model_revision"])
        models[key] = models.get(key, 0) + g["n_records"]

    keys = sorted(
        set(check_keys or []) | (evaluated_check_keys(instance) if instance is not None else set()),
        key=lambda k: (k.asset_key.to_user_string(), k.name),
    )
    ckpt_section = {
        "asset": checkpoint_asset,
        "stage": row.get("stage"),
        "record_id": row.get("record_id"),
        "data_version": dv,
        "model_path": row.get("model_path"),
        "base_model": row.get("base_model"),
        "weights_sha256": row.get("weights_sha256"),
        "steps": row.get("steps"),
        "tokens_seen": row.get("tokens_seen"),
        "final_loss": row.get("final_loss"),
        "hyperparameters": json.loads(row["hyperparameters"]) if row.get("hyperparameters") else {},
        "checks": [],
    }
    if instance is not None:
        runs_of = _runs_by_version(mats)
        for node in nodes.values():
            runs = runs_of.get((node["asset"], node["partition"], node["data_version"]), set())
            _add_dagster_metadata(instance, node, runs)
            node["checks"] = _checks(instance, keys, node["asset"], node["partition"], runs)
        ckpt_section["checks"] = _checks(
            instance, keys, checkpoint_asset, UNPARTITIONED, runs_of.get((checkpoint_asset, UNPARTITIONED, dv), set())
        )

    ordered = sorted(nodes.values(), key=lambda n: (n["depth"], n["asset"], n["partition"], n["data_version"] or ""))
    all_checks = [dict(c, asset=checkpoint_asset, partition=UNPARTITIONED) for c in ckpt_section["checks"]]
    all_checks += [dict(c, asset=n["asset"], partition=n["partition"]) for n in ordered for c in n["checks"]]
    failed = [f"{_label(c['asset'], c['partition'])}:{c['check']}" for c in all_checks if c["passed"] is False]
    if not sources:
        problems.append("no source file reached")
    problems += [f"check failed: {f}" for f in failed]
    decontamination = [
        {"asset": n["asset"], "partition": n["partition"], **(n["decontamination"] or {})}
        for n in ordered
        if n["decontamination"] is not None
    ]
    return {
        "card_version": CARD_VERSION,
        "checkpoint": ckpt_section,
        "inputs_from": inputs_from,
        "inputs": inputs,
        "lineage": ordered,
        "sources": sources,
        "generations": generations,
        "models": [
            {"model_id": m, "model_revision": r, "n_records": n}
            for (m, r), n in sorted(models.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
        ],
        "decontamination": decontamination,
        "metadata_not_found": [
            _label(n["asset"], n["partition"]) for n in ordered if instance is not None and not n["dagster_metadata"]
        ],
        "checks": {
            "looked_up": instance is not None,
            "n_evaluated": sum(c["passed"] is not None for c in all_checks),
            "n_passed": sum(c["passed"] is True for c in all_checks),
            "n_failed": len(failed),
            "n_not_evaluated": sum(c["passed"] is None for c in all_checks),
            "failed": failed,
        },
        "totals": {
            "n_inputs": len(inputs),
            "n_asset_partitions": len(ordered),
            "n_sources": len(sources),
            "n_source_units": sum(s["n_units"] for s in sources),
            "n_models": len(models),
            "n_generated_records": sum(g["n_records"] for g in generations),
        },
        "complete": not problems,
        "problems": problems,
    }


def _label(asset: str, partition: str | None) -> str:
    return f"{asset}/{partition or UNPARTITIONED}"


def _pick(mats: list[dict], asset: str, partition: str | None, version: str | None) -> dict | None:
    """The latest materialization of (asset, partition) at ``version`` (any version when empty)."""
    partition = partition or UNPARTITIONED
    found = [
        m
        for m in mats
        if m["asset"] == asset and m["partition"] == partition and (not version or m["data_version"] == version)
    ]
    return found[-1] if found else None  # mats are oldest first


def _node(mat: dict, kind: str, depth: int) -> dict[str, Any]:
    created = mat["created_at"]
    return {
        "asset": mat["asset"],
        "partition": mat["partition"],
        "kind": kind,
        "depth": depth,
        "data_version": mat["data_version"],
        "code_version": mat["code_version"],
        "run_id": mat["run_id"],
        "materialized_at": created.isoformat() if created is not None else None,
        "n_records": mat["n_records"],
        "data_path": mat["data_path"],
        "inputs": [],
        "sources": {},
        "quarantined": None,
        "filters": {},
        "decontamination": None,
        "dagster_metadata": False,
        "checks": [],
    }


def _walk(store: LineageStore, nodes: dict[int, dict], by_mid: dict[int, dict], ckpt_assets: set[str]) -> None:
    """Breadth-first upstream over the asset partitions holding parents of the records (module doc)."""
    front = [m for m, n in nodes.items() if n["kind"] == KIND_DATA]
    depth = 0
    while front:
        depth += 1
        holders: dict[tuple[int, str, str], list[int]] = {}
        for child, holder in asset_graph.record_inputs(store, front, sync=False):
            h, c = by_mid[holder], by_mid[child]
            if (h["asset"], h["partition"]) != (c["asset"], c["partition"]):
                holders.setdefault((child, h["asset"], h["partition"]), []).append(holder)
        nxt = []
        for (child, asset, partition), mids in sorted(holders.items()):
            mid = _as_of(mids, by_mid, by_mid[child]["created_at"])
            if mid not in nodes:
                kind = KIND_CHECKPOINT if asset in ckpt_assets else KIND_DATA
                nodes[mid] = _node(by_mid[mid], kind, depth)
                if kind == KIND_DATA:
                    nxt.append(mid)
            label = _label(asset, partition)
            if label not in nodes[child]["inputs"]:
                nodes[child]["inputs"].append(label)
        for n in nodes.values():
            n["inputs"].sort()
        front = nxt


def _as_of(mids: list[int], by_mid: dict[int, dict], when) -> int:
    """The latest of ``mids`` created no later than ``when`` (else the earliest: clocks may disagree)."""
    ordered = sorted(mids, key=lambda m: (by_mid[m]["created_at"], m))
    before = [m for m in ordered if when is None or by_mid[m]["created_at"] is None or by_mid[m]["created_at"] <= when]
    return before[-1] if before else ordered[0]


def _runs_by_version(mats: list[dict]) -> dict[tuple, set[str]]:
    out: dict[tuple, set[str]] = {}
    for m in mats:
        out.setdefault((m["asset"], m["partition"], m["data_version"]), set()).add(m["run_id"])
    return out


def _asset_key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def _dagster_partition(partition: str) -> str | None:
    return None if partition == UNPARTITIONED else partition


# ==================================================================== Dagster instance
def _plain(value: Any) -> Any:
    """A JSON value with long lists cut to ``MAX_LIST_ITEMS``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value[:MAX_LIST_ITEMS]]
        return items + [f"... {len(value) - MAX_LIST_ITEMS} more"] if len(value) > MAX_LIST_ITEMS else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def metadata_entries(metadata: Mapping[str, Any]) -> tuple[int | None, dict[str, Any], dict[str, Any] | None]:
    """(quarantined, filter/dedup entries, decontamination) of a materialization's metadata."""
    quarantined, filters, decont = None, {}, None
    for key, mv in metadata.items():
        if isinstance(mv, dg.MarkdownMetadataValue) or key.endswith("_ids"):
            continue  # pictures and id lists
        value = _plain(mv.value if isinstance(mv, dg.MetadataValue) else mv)
        if key == DECONTAMINATION_KEY:
            decont = value if isinstance(value, dict) else {"value": value}
        elif key == QUARANTINED_KEY:
            quarantined = int(value) if isinstance(value, (int, float)) else None
        elif FILTER_KEY_RE.search(key):
            filters[key] = value
    return quarantined, dict(sorted(filters.items())), decont


def _add_dagster_metadata(instance: dg.DagsterInstance, node: dict, runs: set[str]) -> None:
    """The metadata of the Dagster materialization that produced the node's data version."""
    part = _dagster_partition(node["partition"])
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=_asset_key(node["asset"]), asset_partitions=[part] if part else None),
        limit=MATERIALIZATION_HISTORY,
    ).records

    def version(rec) -> str | None:
        m = rec.asset_materialization
        v = m.metadata.get("data_version")
        return str(v.value) if v is not None else (m.tags or {}).get("dagster/data_version")

    match = next((r for r in records if r.run_id in runs and version(r) in (None, node["data_version"])), None)
    match = match or next((r for r in records if version(r) == node["data_version"]), None)
    if match is None:
        return
    node["dagster_metadata"] = True
    entries = metadata_entries(match.asset_materialization.metadata)
    node["quarantined"], node["filters"], node["decontamination"] = entries


def evaluated_check_keys(instance: dg.DagsterInstance, limit: int = CHECK_DISCOVERY_LIMIT) -> set[dg.AssetCheckKey]:
    """Every asset check with an evaluation among the instance's latest ``limit`` check evaluation events."""
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=limit, ascending=False
    )
    out = set()
    for rec in records:
        ev = rec.event_log_entry.dagster_event.event_specific_data
        out.add(dg.AssetCheckKey(ev.asset_key, ev.check_name))
    return out


def _checks(
    instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey], asset: str, partition: str, runs: set[str]
) -> list[dict[str, Any]]:
    """The latest evaluation of each check on (asset, partition), preferring one of the runs in ``runs``."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    akey, part = _asset_key(asset), _dagster_partition(partition)
    out = []
    for key in sorted((k for k in keys if k.asset_key == akey), key=lambda k: k.name):
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=CHECK_HISTORY)
        evals = []
        for rec in history:  # newest first
            if rec.status == Status.PLANNED or rec.event is None or rec.event.dagster_event is None:
                continue
            ev = rec.event.dagster_event.event_specific_data
            if getattr(ev, "partition", None) in (part, None):
                evals.append(ev)
        if not evals:
            out.append(
                {
                    "check": key.name,
                    "passed": None,
                    "blocking": None,
                    "severity": None,
                    "evaluated_run_id": None,
                    "evaluated_this_version": None,
                    "description": "not evaluated",
                }
            )
            continue

        def target_run(ev) -> str | None:
            t = ev.target_materialization_data
            return t.run_id if t is not None else None

        ev = next((e for e in evals if target_run(e) in runs), evals[0])
        run = target_run(ev)
        out.append(
            {
                "check": key.name,
                "passed": bool(ev.passed),
                "blocking": bool(ev.blocking),
                "severity": ev.severity.value if ev.severity is not None else None,
                "evaluated_run_id": run,
                "evaluated_this_version": (run in runs) if run else None,
                "description": ev.description or "",
            }
        )
    return out


# ==================================================================== Markdown
def _cell(value: Any, limit: int = 120) -> str:
    s = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    s = s.replace("\n", " ").replace("|", "\\|")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _decont_status(d: dict) -> str:
    """on / OFF (opt-out) / FAILED (empty index) of a step's decontamination metadata."""
    if d.get("status"):
        return str(d["status"])
    return "on" if d.get("index_items") else "unknown"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return lines


def _render_value(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "step" in v for v in value):
        parts = []
        for v in value:
            n_in = v.get("documents_in", v.get("in"))
            n_out = v.get("documents_out", v.get("out"))
            parts.append(f"{v['step']} {n_in}→{n_out}" if n_in is not None else str(v["step"]))
        return ", ".join(parts)
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return _cell(value, 300)


_OF_THIS_VERSION = {True: "yes", False: "no (another materialization)", None: "—"}


def decontamination_lines(entries: list[dict]) -> list[str]:
    """The card's decontamination table: status (on / OFF by opt-out / FAILED), removals, index, unreadable
    benchmark files; an opt-out is spelled out under the table."""
    lines: list[str] = []
    if entries:
        lines += _table(
            [
                "asset",
                "partition",
                "removed",
                "status",
                "per benchmark",
                "benchmarks",
                "index items",
                "unreadable benchmark files",
            ],
            [
                [
                    d["asset"],
                    d["partition"],
                    d.get("removed") if d.get("eval_data_dir", True) else "NOT decontaminated (no benchmarks)",
                    _decont_status(d),
                    d.get("removed_per_benchmark", {}),
                    ", ".join(d.get("benchmarks") or []) or "—",
                    d.get("index_items", "—"),
                    ", ".join(u.get("file", "?") for u in d.get("unreadable_benchmark_files") or []) or "—",
                ]
                for d in entries
            ],
        )
        if any(d.get("allow_no_decontamination") and not d.get("index_items") for d in entries):
            lines += [
                "",
                "**Decontamination was turned OFF by the run config (allow_no_decontamination: true) "
                "for at least one step: this data was not checked against any benchmark.**",
            ]
    else:
        lines.append("_No step reported decontamination._")
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown (what ``card.md`` holds and the Dagster UI shows)."""
    ck = card["checkpoint"]
    tot, checks = card["totals"], card["checks"]
    lines = [f"# Data card: {ck['asset']}", ""]
    status = "complete" if card["complete"] else "INCOMPLETE"
    lines.append(
        f"**Status: {status}.** {tot['n_inputs']} inputs, {tot['n_asset_partitions']} asset partitions, "
        f"{tot['n_sources']} source files ({tot['n_source_units']} source units), {tot['n_models']} "
        f"generating models; checks: {checks['n_passed']} passed, {checks['n_failed']} failed, "
        f"{checks['n_not_evaluated']} not evaluated" + ("" if checks["looked_up"] else " (not looked up)") + "."
    )
    if card["problems"]:
        lines += ["", "Problems:"] + [f"- {p}" for p in card["problems"]]
    lines += ["", "## Checkpoint", ""]
    lines += _table(
        ["field", "value"],
        [
            ["stage", ck["stage"]],
            ["record id", ck["record_id"]],
            ["data version", ck["data_version"]],
            ["model path", ck["model_path"]],
            ["base model", ck["base_model"]],
            ["weights sha256", ck["weights_sha256"]],
            ["steps", ck["steps"]],
            ["tokens seen", ck["tokens_seen"]],
            ["final loss", ck["final_loss"]],
            ["hyperparameters", ck["hyperparameters"]],
        ],
    )
    lines += ["", f"## Trained on (from {card['inputs_from']})", ""]
    lines += _table(
        ["input", "partition", "data version", "records", "kind"],
        [
            [
                i["asset"],
                i["partition"],
                i["data_version"] or "—",
                i["n_records"] if i["n_records"] is not None else "not in lineage",
                "base checkpoint (see its own card)" if i["kind"] == KIND_CHECKPOINT else "training data",
            ]
            for i in card["inputs"]
        ],
    )
    lines += ["", "## Sources", ""]
    if card["sources"]:
        lines += _table(
            ["source file", "units cited", "read by"],
            [[s["uri"], s["n_units"], ", ".join(s["cited_by"])] for s in card["sources"]],
        )
    else:
        lines.append("_No source file reached._")
    lines += ["", "## Lineage (record counts per stage)", ""]
    lines += _table(
        ["depth", "asset", "partition", "data version", "code version", "records", "quarantined", "reads"],
        [
            [
                n["depth"],
                n["asset"],
                n["partition"],
                n["data_version"],
                n["code_version"] or "—",
                n["n_records"],
                "—" if n["quarantined"] is None else n["quarantined"],
                ", ".join(n["inputs"] + list(n["sources"])) or "—",
            ]
            for n in card["lineage"]
        ],
    )
    lines += ["", "## Filtering, deduplication and quarantine", ""]
    filtered = [n for n in card["lineage"] if n["filters"] or n["quarantined"]]
    for n in filtered:
        lines.append(f"- **{_label(n['asset'], n['partition'])}**")
        if n["quarantined"]:
            lines.append(f"  - quarantined: {n['quarantined']}")
        lines += [f"  - {k}: {_render_value(v)}" for k, v in n["filters"].items()]
    if not filtered:
        lines.append("_No step reported dropped, filtered, de-duplicated or quarantined records._")
    if card["metadata_not_found"]:
        lines += [
            "",
            "No Dagster materialization of these data versions was found (their metadata is not in this "
            "card): " + ", ".join(card["metadata_not_found"]) + ".",
        ]
    lines += ["", "## Decontamination", ""]
    lines += decontamination_lines(card["decontamination"])
    lines += ["", "## Synthetic data: models and prompts", ""]
    if card["generations"]:
        lines += _table(
            ["asset", "partition", "model", "revision", "prompt template", "prompt hash", "records"],
            [
                [
                    g["asset"],
                    g["partition"],
                    g["model_id"],
                    g["model_revision"] or "—",
                    g["prompt_template"] or "—",
                    g["prompt_hash"] or "—",
                    g["n_records"],
                ]
                for g in card["generations"]
            ],
        )
    else:
        lines.append("_No LLM-generated records._")
    lines += ["", "## Checks (latest evaluation)", ""]
    rows = [[ck["asset"], UNPARTITIONED, c] for c in ck["checks"]]
    rows += [[n["asset"], n["partition"], c] for n in card["lineage"] for c in n["checks"]]
    if rows:
        lines += _table(
            ["asset", "partition", "check", "result", "blocking", "of this data version"],
            [
                [
                    a,
                    p,
                    c["check"],
                    "not evaluated" if c["passed"] is None else ("passed" if c["passed"] else "FAILED"),
                    "—" if c["blocking"] is None else ("yes" if c["blocking"] else "no"),
                    _OF_THIS_VERSION[c["evaluated_this_version"]],
                ]
                for a, p, c in rows
            ],
        )
    else:
        lines.append(
            "_No check evaluated on (or defined for) these assets._"
            if checks["looked_up"]
            else "_Checks not looked up (no Dagster instance)._"
        )
    return "\n".join(lines) + "\n"
