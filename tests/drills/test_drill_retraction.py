"""Drill (issue 14 item 14): what a retraction leaves behind.

The sample seed file plus one bad line runs question_seeds -> judge_answers against the drill server (8
generations cached, 1 line quarantined). ``citrus retract source:medqa_demo.jsonl`` (``retract``) then must
leave: no cache entry derived from the file's records, no quarantine row of the file (now and after a
re-run re-reads it), no row of it in the lake. A copy of the file with one word changed, dropped into the
inbox afterwards: its unchanged lines have the retracted records' ids and stay out; the changed line is
written (it may be a legitimate fix), and the copy is flagged as a near-duplicate of the retracted
file in the materialization metadata. Printed: cache entries left, quarantine rows back, rows of the copy
that come back and whether they are flagged.
"""

from citrus_assets.cli.retract import retract
from resources.lake import Lake
from resources.lineage import LineageStore
from tests.drills import drill_support as S

COPY = "medqa_demo_copy"


def test_retraction_leaves_no_cache_no_quarantine_and_flags_a_near_copy(tmp_path, drill_server):
    good = S.SEEDS.read_bytes()
    env = S.make_env(
        tmp_path, "retract", drill_server.base_url, seed_files={S.SEEDS.name: good + b'{"question": broken json\n'}
    )
    result, instance = S.materialize(env, ["question_seeds", "judge_answers"])
    lake = Lake(env["lake"])
    n_seeds = lake.read_table("question_seeds", S.PARTITION).num_rows
    cached = S.cache_rows(env["cache"])
    assert n_seeds == 8 and cached == 8, (n_seeds, cached)
    quarantined = lake.read_quarantine("question_seeds", S.PARTITION).num_rows  # our bad line + the sample's own
    assert quarantined >= 1

    store = LineageStore(lake.lineage_root, str(tmp_path / "lineage.duckdb"))
    report = retract(
        lake,
        store,
        f"source:{S.SEEDS.name}",
        "licence withdrawn",
        instance=instance,
        llm_cache=f"{env['cache']}/llm_cache.sqlite",
    )
    cache_left = S.cache_rows(env["cache"])
    assert report.cache["deleted"] == 8 and cache_left == 0, report.cache
    assert report.quarantine_removed == quarantined
    assert lake.read_quarantine("question_seeds", S.PARTITION).num_rows == 0

    # the next run re-reads the retracted file: nothing of it comes back, its bad line is not quarantined again
    S.materialize(env, ["question_seeds"], instance=instance)
    back = lake.read_table("question_seeds", S.PARTITION).num_rows
    quarantined_again = lake.read_quarantine("question_seeds", S.PARTITION).num_rows
    assert back == 0 and quarantined_again == 0

    # a copy with one word changed arrives: written, but flagged as a near-duplicate of the retracted file
    lines = good.decode().splitlines()
    lines[0] = lines[0].replace("fatigue", "tiredness", 1)
    assert lines[0] != good.decode().splitlines()[0]
    (S.Path(env["inbox"]) / f"{COPY}.jsonl").write_text("\n".join(lines) + "\n")
    copy_run, _ = S.materialize(env, ["question_seeds"], partition=COPY, instance=instance)
    md = S.metadata(copy_run, "question_seeds")
    near = md.get("near_retracted_sources") or []
    rows_copy = lake.read_table("question_seeds", COPY).num_rows
    assert [h["retracted_source"].rsplit("/", 1)[-1] for h in near] == [S.SEEDS.name], md
    # its 7 unchanged lines carry the retracted records' ids (content-derived) and are dropped; the changed one
    # is new and comes back, and the whole copy is flagged (compared before the drop)
    assert rows_copy == 1 and md["retracted_rows"] == n_seeds - 1, md
    print(
        f"\nDRILL retraction: cache entries of the retracted file left {cache_left}/{cached}; quarantine rows of it "
        f"after a re-run {quarantined_again}/{quarantined}; rows of it back {back}/{n_seeds}; one-word copy: {rows_copy}/{n_seeds} "
        f"rows written, flagged near-duplicate (Jaccard {near[0]['jaccard']})"
    )
