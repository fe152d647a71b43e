"""The ``citrus`` command: ``citrus demo`` (the main job), ``citrus lineage trace|impact|sync|openlineage``
``citrus retract`` and ``citrus decontam check``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def ensure_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or ``.dagster_home`` in the repo with the repo's dagster.yaml linked in."""
    home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    repo_cfg = REPO_ROOT / "dagster.yaml"
    if not cfg.exists() and repo_cfg.exists() and home != REPO_ROOT:
        cfg.symlink_to(os.path.relpath(repo_cfg, home))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_demo(args: argparse.Namespace) -> int:
    ensure_dagster_home()
    import dagster as dg

    from citrus_assets.definitions import build_definitions
    from citrus_assets.demo import exit_code, format_summary, run_main_job
    from citrus_assets.resources_config import build_resources
    from resources.lake import Lake
    from resources.lineage.settings import default_paths

    lake = Lake(args.lake)
    # the main job runs in this process: its resources carry the lake root (empty: $CITRUS_LAKE at run time)
    defs = build_definitions(build_resources(args.lake or ""))
    db = default_paths(args.lake).db_path
    with dg.DagsterInstance.get() as instance:
        result = run_main_job(defs, instance, lake, db)
    print(format_summary(result, lake.url(lake.join()), db))
    return exit_code(result)


def cmd_retract(args: argparse.Namespace) -> int:
    ensure_dagster_home()
    import dagster as dg

    from citrus_assets.cli.retract import format_report, retract
    from resources.lake import Lake
    from resources.lineage.settings import default_paths
    from resources.lineage.store import LineageStore, UnknownRecord

    paths = default_paths(args.lake)
    lake = Lake(paths.lake)
    store = LineageStore(paths.lineage_root, paths.db_path)
    try:
        if args.dry_run:
            report = retract(lake, store, args.target, args.reason or "dry run", dry_run=True)
        else:
            with dg.DagsterInstance.get() as instance:
                report = retract(lake, store, args.target, args.reason, instance=instance)
    except (UnknownRecord, ValueError) as exc:
        print(f"retract: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    return 0


def cmd_deid(args: argparse.Namespace) -> int:
    from citrus_assets.cli.deid import main as deid_main

    return deid_main(args.file, args.lang, args.report)


def main(argv: list[str] | None = None) -> int:
    from citrus_assets.cli.lineage import add_lineage_subcommands, run_lineage_command

    parser = argparse.ArgumentParser(prog="citrus", description="Citrus lake: medical reasoning data lake")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole graph on the bundled sample (the main job)")
    demo.add_argument("--lake", default=None, help="lake root, a folder or fsspec URL (default: $CITRUS_LAKE or lake)")
    demo.set_defaults(func=cmd_demo)
    deid = sub.add_parser(
        "deid",
        help="de-identify a text/JSON/JSONL file (exit 1 when the residual detector "
        "still finds personal data, 2 when the file cannot be read)",
    )
    deid.add_argument("file", help="a .jsonl, .json or plain-text file")
    deid.add_argument(
        "--lang", choices=["en", "zh"], default=None, help="only this language's name rules (default: both)"
    )
    deid.add_argument("--report", action="store_true", help="print a JSON report instead of the de-identified text")
    deid.set_defaults(func=cmd_deid)
    ret = sub.add_parser("retract", help="take a source file or an asset partition out of the lake (and retrain)")
    ret.add_argument("target", help="source:FILE (a source file URI or name) or ASSET:PARTITION")
    ret.add_argument("--reason", default="", help="why (required unless --dry-run)")
    ret.add_argument("--dry-run", action="store_true", help="only list the affected records and checkpoints")
    ret.add_argument("--lake", default=None, help="lake root (default: $CITRUS_LAKE or lake)")
    ret.set_defaults(func=cmd_retract)
    add_lineage_subcommands(sub)
    from citrus_assets.cli.decontam import add_decontam_subcommand

    add_decontam_subcommand(sub)
    args = parser.parse_args(argv)
    if args.command == "lineage":
        return run_lineage_command(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
