"""``citrus deid FILE [--lang en|zh] [--report]``: de-identify a user's file and say what is left.

Input by suffix: ``.jsonl`` (one JSON value a line), ``.json`` (a list, or one value), anything else plain
text (one unit a line). Every string inside a JSON value is scrubbed (keys are kept), so consultation
files of any shape work ({"turns": [{"text": ...}]}, {"Dialogue": [...]}, {"input", "output"}).

Output on stdout: the de-identified file in the same shape, or with ``--report`` a JSON report: units,
replacements per type, and every finding of the residual detector (unit, JSON path, type, rule and
offsets into the scrubbed string; never the flagged text).

Exit codes: 0 = scrubbed and the residual detector finds nothing; 1 = it still finds something (review
or drop those units); 2 = the file cannot be read or parsed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citrus_assets.jmed.consultations.deid import residual_pii, scrub

EXIT_CLEAN, EXIT_RESIDUAL, EXIT_UNREADABLE = 0, 1, 2


@dataclass
class DeidRun:
    units: list[Any]
    fmt: str
    replaced: Counter = field(default_factory=Counter)
    residual: list[dict] = field(default_factory=list)
    single: bool = False  # a .json file holding one value (not a list) is written back as one value

    @property
    def exit_code(self) -> int:
        return EXIT_RESIDUAL if self.residual else EXIT_CLEAN

    def report(self, path: str) -> dict:
        return {
            "file": path,
            "format": self.fmt,
            "units": len(self.units),
            "replaced": dict(sorted(self.replaced.items())),
            "replaced_total": sum(self.replaced.values()),
            "residual_units": len({r["unit"] for r in self.residual}),
            "residual": self.residual,
        }

    def render(self) -> str:
        if self.fmt == "text":
            return "\n".join(self.units) + ("\n" if self.units else "")
        if self.fmt == "json":
            return json.dumps(self.units[0] if self.single else self.units, ensure_ascii=False, indent=1) + "\n"
        return "".join(json.dumps(u, ensure_ascii=False) + "\n" for u in self.units)


def read_units(path: Path) -> tuple[list[Any], str, bool]:
    """(units, format, single JSON value) of a file; raises OSError/ValueError when it cannot be read."""
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()], "jsonl", False
    if suffix == ".json":
        value = json.loads(text)
        return (value, "json", False) if isinstance(value, list) else ([value], "json", True)
    return text.splitlines(), "text", False


def _scrub_value(value: Any, lang: str | None, unit: int, path: str, run: DeidRun) -> Any:
    if isinstance(value, str):
        out, counts = scrub(value, lang)
        run.replaced.update(counts)
        run.residual += [
            {"unit": unit, "path": path, "type": f.kind, "rule": f.rule, "start": f.start, "end": f.end}
            for f in residual_pii(out)
        ]
        return out
    if isinstance(value, list):
        return [_scrub_value(v, lang, unit, f"{path}[{i}]", run) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _scrub_value(v, lang, unit, f"{path}.{k}" if path else k, run) for k, v in value.items()}
    return value


def deidentify_file(path: Path, lang: str | None = None) -> DeidRun:
    units, fmt, single = read_units(path)
    run = DeidRun(units=[], fmt=fmt, single=single)
    run.units = [_scrub_value(u, lang, i, "", run) for i, u in enumerate(units)]
    return run


def main(path: str, lang: str | None = None, report: bool = False, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        run = deidentify_file(Path(path), lang)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"deid: cannot read {path}: {exc}", file=err)
        return EXIT_UNREADABLE
    if report:
        out.write(json.dumps(run.report(path), ensure_ascii=False, indent=1) + "\n")
    else:
        out.write(run.render())
    if run.residual:
        print(
            f"deid: the residual detector still finds {len(run.residual)} item(s) in "
            f"{len({r['unit'] for r in run.residual})} unit(s); see --report",
            file=err,
        )
    return run.exit_code
