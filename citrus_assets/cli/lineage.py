"""``citrus lineage ...`` subcommands.

    citrus lineage trace RECORD_ID [--json]
    citrus lineage impact ASSET[:PARTITION] [--json] [--max-records N]   (ASSET "source": PARTITION = file URI or name)
    citrus lineage impact --record RECORD_ID [--json]
    citrus lineage sync
    citrus lineage serve [--host 127.0.0.1] [--port 8765]   (the read-only lineage browser, :mod:`.browser`)

``--lake`` / ``--db`` override ``$CITRUS_LAKE`` / ``$CITRUS_LINEAGE_DB`` (see :mod:`.settings`).
Wire into a console script with ``add_lineage_subcommands(subparsers)`` and dispatch
``run_lineage_command(args)`` when ``args.command == "lineage"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from resources.lineage.query.openlineage import DEFAULT_NAMESPACE, export_jsonl
from resources.lineage.settings import DEFAULT_BROWSER_HOST, DEFAULT_BROWSER_PORT, default_paths
from resources.lineage.store import LineageStore, UnknownRecord, format_impact, format_trace


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    p.add_argument("--lake", default=default, help="lake root (default: $CITRUS_LAKE or ./lake)")
    p.add_argument(
        "--db",
        default=default,
        help="DuckDB lineage index (default: $CITRUS_LINEAGE_DB or <lake>/_lineage/lineage.duckdb)",
    )


def add_lineage_subcommands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``lineage {trace,impact,sync}`` to an ``argparse`` subparsers object; returns the lineage parser."""
    lp = subparsers.add_parser("lineage", help="record-level lineage: trace, impact, sync, openlineage, serve")
    _common(lp, suppress=False)
    sub = lp.add_subparsers(dest="lineage_command", metavar="{trace,impact,sync,openlineage,serve}")
    sub.required = True

    tp = sub.add_parser("trace", help="every ancestor of a record down to its source documents")
    tp.add_argument("record_id")
    tp.add_argument("--json", action="store_true", help="print JSON")
    tp.add_argument("--max-depth", type=int, default=None)
    _common(tp, suppress=True)

    ip = sub.add_parser("impact", help="everything derived from an asset partition, a source file or a record")
    ip.add_argument("target", nargs="?", help="ASSET[:PARTITION]; 'source:FILE' for a source file URI or name")
    ip.add_argument("--record", default=None, help="impact of one record id instead")
    ip.add_argument("--json", action="store_true", help="print JSON")
    ip.add_argument("--max-records", type=int, default=1000, help="derived record ids to list (-1: all)")
    _common(ip, suppress=True)

    sp = sub.add_parser("sync", help="ingest new lineage files into the DuckDB index")
    _common(sp, suppress=True)

    op = sub.add_parser("openlineage", help="asset-level lineage as OpenLineage run events (JSON Lines)")
    op.add_argument("--out", required=True, help="file to write (one RunEvent per line)")
    op.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="job namespace (default %(default)s)")
    _common(op, suppress=True)

    wp = sub.add_parser("serve", help="the read-only lineage browser (web pages over the index)")
    wp.add_argument("--host", default=DEFAULT_BROWSER_HOST, help="address to bind (default %(default)s)")
    wp.add_argument("--port", type=int, default=DEFAULT_BROWSER_PORT, help="port (default %(default)s)")
    _common(wp, suppress=True)
    return lp


def parse_target(target: str) -> tuple[str, str | None]:
    """``ASSET[:PARTITION]`` -> (asset, partition); splits on the first ``:`` (URIs keep theirs)."""
    asset, sep, partition = target.partition(":")
    return asset, (partition if sep and partition != "" else None)


def run_lineage_command(args: argparse.Namespace) -> int:
    """Run a parsed ``lineage`` command; returns the process exit code."""
    paths = default_paths(getattr(args, "lake", None), getattr(args, "db", None))
    if getattr(args, "lineage_command", None) == "serve":
        from resources.lineage.browser import serve

        serve(args.host, args.port, paths.lake, paths.db_path)
        return 0
    store = LineageStore(paths.lineage_root, paths.db_path)
    cmd = getattr(args, "lineage_command", None)
    try:
        if cmd == "sync":
            n = store.sync()
            st = store.stats(sync=False)
            print(
                f"ingested {n} new commit(s) into {paths.db_path}: {st['records']} records, {st['edges']} edges, "
                f"{st['sources']} source units, {st['checkpoints']} checkpoints"
            )
            return 0
        if cmd == "openlineage":
            n = export_jsonl(store, args.out, args.namespace)
            print(f"wrote {n} OpenLineage run event(s) to {args.out}")
            return 0
        if cmd == "trace":
            d = store.trace(args.record_id, max_depth=args.max_depth)
            print(json.dumps(d, indent=2, default=str) if args.json else format_trace(d))
            return 0
        if cmd == "impact":
            max_records = None if args.max_records is not None and args.max_records < 0 else args.max_records
            if args.record:
                d = store.impact_record(args.record, max_records=max_records)
            elif args.target:
                asset, partition = parse_target(args.target)
                d = store.impact(asset, partition, max_records=max_records)
            else:
                print("lineage impact: give ASSET[:PARTITION] or --record RECORD_ID", file=sys.stderr)
                return 2
            print(json.dumps(d, indent=2, default=str) if args.json else format_impact(d))
            return 0
    except UnknownRecord as exc:
        print(f"lineage: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()  # no DuckDB connection left for interpreter shutdown
    print(f"lineage: unknown command {cmd!r}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m citrus_assets.cli.lineage lineage trace ID``."""
    parser = argparse.ArgumentParser(prog="citrus")
    add_lineage_subcommands(parser.add_subparsers(dest="command", required=True))
    return run_lineage_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
