"""Jobs select their assets by definition (``citrus_assets/jobs.py``), and each job runs exactly the assets and
checks it ran when they were named by strings (issue 16 change 2).

``job_selections.snapshot.json`` was recorded from the string selections before the change. If a job's asset
set changes on purpose, regenerate it: ``python tests/platform/test_job_selections.py > tests/platform/job_selections.snapshot.json``
and review the diff.
"""

import json
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("job_selections.snapshot.json")


def job_selections() -> dict[str, dict[str, list[str]]]:
    from citrus_assets.definitions import defs
    from citrus_assets.jobs import jobs

    out = {}
    for job_def in jobs:
        job = defs.resolve_job_def(job_def.name)
        out[job_def.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
            "checks": sorted(
                f"{c.asset_key.to_user_string()}:{c.name}" for c in job.asset_layer.asset_graph.asset_check_keys
            ),
        }
    return out


def test_every_job_selects_the_recorded_assets_and_checks():
    recorded = json.loads(SNAPSHOT.read_text())
    assert job_selections() == recorded


def test_jobs_name_no_asset_by_string():
    import ast

    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("citrus_assets/jobs.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_job"]
    assert calls, "jobs.py defines its jobs with _job"
    for call in calls:
        assets = call.args[1]
        names = assets.elts if isinstance(assets, ast.List) else [assets]
        assert not any(isinstance(e, ast.Constant) for e in names), ast.unparse(call)[:80]


if __name__ == "__main__":
    print(json.dumps(job_selections(), indent=1, sort_keys=True))
