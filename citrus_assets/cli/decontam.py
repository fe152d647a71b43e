"""``citrus decontam check FILE... [--benchmarks DIR] [--json]``: users' own data against THE index.

Each JSONL line / Parquet row is one record, checked on its content fields (``decontamination.cell_text``:
strings, chat messages' content, nested lists; not roles or ids); a text file is one record. Every match is
reported (benchmark, item id, matched span). Exit code 0: nothing matched; 1: something matched; 2: an input
file could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from citrus_assets.common.decontamination.index import cell_text, eval_index

MAX_MATCHES_PER_RECORD = 50


def iter_records(path: Path) -> Iterator[tuple[str, str]]:
    """(locator, text) of every record of a JSONL, Parquet or text file."""
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"row {i}", cell_text(row)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if line.strip():
                    yield f"line {i}", cell_text(json.loads(line))
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, row in enumerate(data if isinstance(data, list) else [data]):
            yield f"item {i}", cell_text(row)
    else:
        yield "file", path.read_text(encoding="utf-8", errors="replace")


def check_files(files: list[str], benchmarks: str = "") -> dict:
    """The report ``citrus decontam check`` prints (and, as ``--json``, writes)."""
    index, report = eval_index(extra_dirs=[benchmarks] if benchmarks else ())
    out: dict = {
        "index": {"items": index.n_items, "benchmarks": index.benchmarks, **report.as_dict(), "params": index.params()},
        "files": [],
        "matches": [],
        "unreadable_inputs": [],
    }
    for f in files:
        p = Path(f)
        n = 0
        try:
            for loc, text in iter_records(p):
                n += 1
                for m in index.match(text, limit=MAX_MATCHES_PER_RECORD):
                    out["matches"].append(
                        {
                            "file": f,
                            "locator": loc,
                            "benchmark": m.benchmark,
                            "item_id": m.item_id,
                            "kind": m.kind,
                            "hits": m.hits,
                            "span": m.span,
                        }
                    )
        except (OSError, ValueError, UnicodeDecodeError) as e:
            out["unreadable_inputs"].append({"file": f, "reason": f"{type(e).__name__}: {e}"[:300]})
        out["files"].append({"file": f, "records": n})
    out["n_matches"] = len(out["matches"])
    out["n_records_matched"] = len({(m["file"], m["locator"]) for m in out["matches"]})
    return out


def exit_code(result: dict) -> int:
    return 2 if result["unreadable_inputs"] else (1 if result["matches"] else 0)


def format_text(result: dict) -> str:
    idx = result["index"]
    lines = [
        f"index: {idx['items']} benchmark items ({', '.join(idx['benchmarks']) or 'none'}) from "
        f"{', '.join(idx['data_dirs']) or 'no benchmark folder'}"
    ]
    lines += [f"  unreadable benchmark file: {u['file']} ({u['reason']})" for u in idx["unreadable_files"]]
    if not idx["items"]:
        lines.append("WARNING: the index is empty; nothing can match")
    for m in result["matches"]:
        span = " ".join(m["span"].split())
        lines.append(
            f"{m['file']}:{m['locator']}: {m['benchmark']}/{m['item_id']} ({m['kind']}, {m['hits']} n-grams): {span!r}"
        )
    lines += [f"cannot read {u['file']}: {u['reason']}" for u in result["unreadable_inputs"]]
    total = sum(f["records"] for f in result["files"])
    lines.append(
        f"{result['n_records_matched']} of {total} records match a benchmark item ({result['n_matches']} matches)"
    )
    return "\n".join(lines)


def add_decontam_subcommand(sub) -> None:
    dec = sub.add_parser("decontam", help="check files against the benchmark decontamination index")
    dsub = dec.add_subparsers(dest="decontam_command", required=True)
    chk = dsub.add_parser(
        "check", help="report every benchmark item found in JSONL, Parquet or text files (exit 1 when anything matches)"
    )
    chk.add_argument("files", nargs="+", metavar="FILE")
    chk.add_argument(
        "--benchmarks",
        default="",
        metavar="DIR",
        help="more benchmark files (a folder with benchmarks/<name>/ files, or the benchmarks folder "
        "itself), indexed next to the bundled sample, $CITRUS_EVAL_DATA and $CITRUS_DATA",
    )
    chk.add_argument("--json", action="store_true", help="print the report as JSON")
    chk.set_defaults(func=run_decontam)


def run_decontam(args: argparse.Namespace) -> int:
    result = check_files(args.files, args.benchmarks)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else format_text(result), file=sys.stdout)
    return exit_code(result)
