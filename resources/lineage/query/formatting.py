"""Human-readable text of ``trace`` and ``impact`` results (the ``citrus lineage`` CLI prints these)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["format_trace", "format_impact"]


def _node_label(n: dict[str, Any]) -> str:
    if n["kind"] == "source":
        s = n["source"] or {}
        return f"{n['record_id']}  [source] {s.get('uri')} @ {s.get('locator')}"
    if n["kind"] == "missing":
        return f"{n['record_id']}  [missing: referenced but never committed]"
    label = f"{n['record_id']}  [{n['asset']} | {n['partition']} | dv {n['data_version']}]"
    g = n.get("generation")
    if g:
        sampling = g["sampling"] if isinstance(g["sampling"], str) else json.dumps(g["sampling"], sort_keys=True)
        label += (
            f"\n  model={g['model_id']}@{g['model_revision']} prompt={g['prompt_template']}#{g['prompt_hash']}"
            f" sampling={sampling} tokens={g['prompt_tokens']}+{g['completion_tokens']}"
        )
    return label


def format_trace(d: dict[str, Any]) -> str:
    """Human-readable ancestor tree of a :meth:`LineageStore.trace` result (shared nodes printed once)."""
    nodes = {n["record_id"]: n for n in d["nodes"]}
    lines = [f"trace {d['record_id']}: {d['n_nodes']} nodes, depth {d['max_depth']}"]
    printed: set[str] = set()

    def walk(rid: str, prefix: str, last: bool, top: bool) -> None:
        n = nodes[rid]
        branch = "" if top else ("└── " if last else "├── ")
        label = _node_label(n).replace("\n", "\n" + prefix + ("    " if last or top else "│   "))
        if rid in printed and n["parents"]:
            lines.append(f"{prefix}{branch}{rid}  (see above)")
            return
        printed.add(rid)
        lines.append(f"{prefix}{branch}{label}")
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        ps = [p for p in n["parents"] if p in nodes]
        for i, p in enumerate(ps):
            walk(p, child_prefix, i == len(ps) - 1, False)

    walk(d["record_id"], "", True, True)
    return "\n".join(lines)


def format_impact(d: dict[str, Any]) -> str:
    """Human-readable table of a :meth:`LineageStore.impact` / ``impact_record`` result."""
    t = d["target"]
    if t.get("record_id"):
        what = t["record_id"]
    elif t.get("partition") is not None:
        what = f"{t['asset']}:{t['partition']}"
    else:
        what = t["asset"]
    lines = [
        f"impact of {what}: {d['n_roots']} root record(s), {d['n_descendants']} derived record(s), depth {d['max_depth']}"
    ]
    rows = [("asset", "partition", "records", "data versions")] + [
        (b["asset"], b["partition"], str(b["n_records"]), ",".join(b["data_versions"])) for b in d["by_partition"]
    ]
    if len(rows) > 1:
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for i, r in enumerate(rows):
            lines.append("  " + "  ".join(c.ljust(w[j]) if j != 2 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * x for x in w))
    if d["checkpoints"]:
        lines.append("checkpoints trained on affected data:")
        for c in d["checkpoints"]:
            via = ", ".join(f"{v['asset']}:{v['partition']}@{v['data_version']}" for v in c["inputs"])
            lines.append(
                f"  {c['checkpoint_asset']}:{c['checkpoint_partition']}@{c['checkpoint_data_version']}  via {via}"
            )
    else:
        lines.append("no checkpoint trained on affected data")
    return "\n".join(lines)
