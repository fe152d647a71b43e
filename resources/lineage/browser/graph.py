"""Layout of a record's ancestry for the SVG the record page draws (networkx; the template renders it).

Layers by depth: the record on top, its parents below, source units at the bottom. Positions come from
:func:`networkx.multipartite_layout`, scaled to pixels. No string here is HTML: the Jinja template
escapes every label and link.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

NODE_W, NODE_H = 190, 40
GAP_X, GAP_Y = 24, 70
MAX_GRAPH_NODES = 300  # beyond this the page shows the table only
LABEL_CHARS = 26


def _short(s: str | None, n: int = LABEL_CHARS) -> str:
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "…"


def layout(nodes: list[dict[str, Any]], href) -> dict[str, Any] | None:
    """``{"width", "height", "nodes": [...], "edges": [...]}`` for trace ``nodes``; ``href(node)`` gives each
    node's link. None when there are more than :data:`MAX_GRAPH_NODES` nodes."""
    if not nodes or len(nodes) > MAX_GRAPH_NODES:
        return None
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n["record_id"], layer=n["depth"])
    for n in nodes:
        for p in n["parents"]:
            if p in g:
                g.add_edge(p, n["record_id"])
    layers: dict[int, list[str]] = {}
    for n in nodes:
        layers.setdefault(n["depth"], []).append(n["record_id"])
    widest = max(len(v) for v in layers.values())
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    xs = [p[0] for p in pos.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    width = widest * (NODE_W + GAP_X) + GAP_X
    height = len(layers) * (NODE_H + GAP_Y) + GAP_Y // 2
    depth_of = {n["record_id"]: n["depth"] for n in nodes}
    px: dict[str, tuple[float, float]] = {}
    for rid, (x, _y) in pos.items():
        cx = (
            GAP_X + NODE_W / 2 + (x - min(xs)) / span_x * (width - 2 * GAP_X - NODE_W)
            if len(set(xs)) > 1
            else width / 2
        )
        cy = GAP_Y / 2 + depth_of[rid] * (NODE_H + GAP_Y) + NODE_H / 2
        px[rid] = (round(cx, 1), round(cy, 1))
    out_nodes = []
    for n in nodes:
        cx, cy = px[n["record_id"]]
        if n["kind"] == "source":
            top = _short((n["source"] or {}).get("uri", "").replace("\\", "/").rsplit("/", 1)[-1])
            sub = _short((n["source"] or {}).get("locator") or n["record_id"])
        else:
            top = _short(n["asset"] or "missing")
            sub = _short(n["record_id"])
        out_nodes.append(
            {
                "id": n["record_id"],
                "kind": n["kind"],
                "x": round(cx - NODE_W / 2, 1),
                "y": round(cy - NODE_H / 2, 1),
                "w": NODE_W,
                "h": NODE_H,
                "cx": cx,
                "cy": cy,
                "top": top,
                "sub": sub,
                "llm": bool(n.get("generation")),
                "href": href(n),
                "title": f"{n['kind']} {n['record_id']}",
            }
        )
    edges = [
        {"x1": px[p][0], "y1": px[p][1] - NODE_H / 2, "x2": px[c][0], "y2": px[c][1] + NODE_H / 2} for p, c in g.edges
    ]
    return {"width": int(width), "height": int(height), "nodes": out_nodes, "edges": edges}
