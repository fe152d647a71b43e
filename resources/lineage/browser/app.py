"""The Starlette app of the lineage browser and ``serve`` (uvicorn).

Routes (all GET, all read-only; parameters in the query string, so ids, partitions with ``|`` and file
URIs need no path escaping):

* ``/`` asset partitions, checkpoints, retractions, search box
* ``/search?q=`` record / source unit id, ``asset[:partition]``, source file, checkpoint
* ``/record?id=`` ancestry graph down to the source lines, LLM steps with model / prompt / sampling / tokens
  and the lake row (rendered prompt, raw response) where the lake keeps it
* ``/source?id=`` one source unit: file, locator, the line's text
* ``/partition?asset=&partition=`` materializations, sample records, upstream partitions, checkpoints
* ``/impact?source=`` | ``?asset=[&partition=]`` | ``?record=`` | ``?retraction=`` derived records by asset
  partition and the checkpoints trained on them
* ``/checkpoint?asset=[&data_version=]`` training inputs and the data card

Unknown ids answer 404. Templates use Jinja2 autoescape; Markdown (data cards) is rendered by
markdown-it with raw HTML disabled, so a record's text can never become markup.
"""

from __future__ import annotations

import os
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from resources.lineage.browser import data, graph
from resources.lineage.settings import DEFAULT_BROWSER_HOST, DEFAULT_BROWSER_PORT, browser_link, default_paths
from resources.lineage.store import LineageStore, UnknownRecord

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals["link"] = lambda page, **params: browser_link(page, base="", **params)
    env.filters["markdown"] = lambda text: Markup(_MD.render(text or ""))  # html=False: raw HTML is escaped
    env.filters["basename"] = lambda uri: (uri or "").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return env


def create_app(store: LineageStore, lake_root: str | None = None) -> Starlette:
    """The browser over ``store``; ``lake_root`` (default: the lineage root's parent) for retractions."""
    env = _env()
    lake = lake_root or os.path.dirname(store.root.rstrip("/"))

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    def not_found(msg: str) -> HTMLResponse:
        return page("error.html", 404, title="not found", message=msg)

    def arg(request: Request, key: str) -> str | None:
        v = request.query_params.get(key)
        return v if v not in (None, "") else None

    def index(request: Request) -> Response:
        ov = data.overview(store)
        return page("index.html", title="lineage", retractions=data.retractions(lake), **ov)

    def search(request: Request) -> Response:
        hits = data.search(store, request.query_params.get("q", ""))
        one = data.unique_hit(hits)
        if one is not None:
            return RedirectResponse(browser_link(one[0], base="", **one[1]), status_code=303)
        return page("search.html", title=f"search {hits['q']}", hits=hits)

    def record(request: Request) -> Response:
        rid = arg(request, "id")
        if not rid:
            return not_found("give a record id: /record?id=...")
        try:
            tr = data.record(store, rid)
        except UnknownRecord as exc:
            return not_found(str(exc))
        lay = graph.layout(tr["nodes"], _node_href)
        return page(
            "record.html",
            title=f"record {rid}",
            trace=tr,
            graph=lay,
            max_graph=graph.MAX_GRAPH_NODES,
            max_rows=data.MAX_TRACE_ROWS,
        )

    def source(request: Request) -> Response:
        sid = arg(request, "id")
        if not sid:
            return not_found("give a source unit id: /source?id=...")
        try:
            unit = data.source_unit(store, sid)
        except UnknownRecord as exc:
            return not_found(str(exc))
        return page("source.html", title=f"source {unit['uri']} {unit['locator']}", unit=unit)

    def partition(request: Request) -> Response:
        asset, part = arg(request, "asset"), arg(request, "partition")
        if not asset or not part:
            return not_found("give an asset and a partition: /partition?asset=...&partition=...")
        try:
            p = data.partition(store, asset, part)
        except UnknownRecord as exc:
            return not_found(str(exc))
        return page("partition.html", title=f"{asset} [{part}]", p=p, upstream_sample=data.UPSTREAM_SAMPLE_EDGES)

    def impact(request: Request) -> Response:
        retraction = None
        kw: dict[str, Any] = {
            "asset": arg(request, "asset"),
            "part": arg(request, "partition"),
            "source": arg(request, "source"),
            "record_id": arg(request, "record"),
        }
        rid = arg(request, "retraction")
        if rid:
            retraction = next((r for r in data.retractions(lake) if r["id"] == rid), None)
            if retraction is None:
                return not_found(f"no retraction {rid!r} in this lake")
            what, _, which = retraction["target"].partition(":")
            kw = {"source": which} if what == "source" else {"asset": what, "part": which or None}
        try:
            imp = data.impact(store, **kw)
        except UnknownRecord as exc:
            if retraction is None:
                return not_found(str(exc))
            imp = None  # a retraction whose records are gone from the index: show what it recorded
        return page("impact.html", title="impact", imp=imp, retraction=retraction, target=kw)

    def checkpoint(request: Request) -> Response:
        asset = arg(request, "asset")
        if not asset:
            return not_found("give a checkpoint asset: /checkpoint?asset=...")
        try:
            ck = data.checkpoint(store, asset, arg(request, "partition"), arg(request, "data_version"))
        except UnknownRecord as exc:
            return not_found(str(exc))
        return page("checkpoint.html", title=f"checkpoint {asset}", ck=ck)

    routes = [
        Route("/", index),
        Route("/search", search),
        Route("/record", record),
        Route("/source", source),
        Route("/partition", partition),
        Route("/impact", impact),
        Route("/checkpoint", checkpoint),
    ]
    return Starlette(routes=routes)


def _node_href(n: dict[str, Any]) -> str:
    if n["kind"] == "source":
        return browser_link("source", base="", id=n["record_id"])
    return browser_link("record", base="", id=n["record_id"])


def serve(
    host: str = DEFAULT_BROWSER_HOST, port: int = DEFAULT_BROWSER_PORT, lake: str | None = None, db: str | None = None
) -> None:
    """Run the browser with uvicorn until interrupted (``citrus lineage serve``)."""
    import uvicorn

    paths = default_paths(lake, db)
    with LineageStore(paths.lineage_root, paths.db_path, keep_open=30.0) as store:
        print(f"lineage browser on http://{host}:{port}/ over {paths.db_path} (read-only)", flush=True)
        uvicorn.run(create_app(store, paths.lake), host=host, port=port, log_level="warning")
