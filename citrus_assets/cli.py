"""The ``citrus`` command: ``citrus demo`` (the main job) and ``citrus lineage trace|impact|sync``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    if args.lake:  # before the definitions are imported: their resources read the lake root from here
        os.environ["CITRUS_LAKE"] = args.lake
    import dagster as dg

    from citrus_assets.definitions import defs
    from citrus_assets.demo import format_summary, run_main_job
    from resources.lake import Lake
    from resources.lineage.settings import default_paths

    lake = Lake(args.lake)
    db = default_paths(args.lake).db_path
    with dg.DagsterInstance.get() as instance:
        result = run_main_job(defs, instance, lake, db)
    print(format_summary(result, lake.url(lake.join()), db))
    return 0 if all(result.check_results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    from resources.lineage.cli import add_lineage_subcommands, run_lineage_command

    parser = argparse.ArgumentParser(prog="citrus", description="Citrus lake: medical reasoning data lake")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole graph on the bundled sample (the main job)")
    demo.add_argument("--lake", default=None, help="lake root, a folder or fsspec URL (default: $CITRUS_LAKE or lake)")
    demo.set_defaults(func=cmd_demo)
    add_lineage_subcommands(sub)
    args = parser.parse_args(argv)
    if args.command == "lineage":
        return run_lineage_command(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
