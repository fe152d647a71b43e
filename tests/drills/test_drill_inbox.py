"""Drill 8: hostile and odd inbox entries (issue 14 items 8-11; issue 18 "an edit made while a sensor is off").

- Links out of the inbox (a seed "file" linking to a file outside, a PDF batch folder linking outside, a link
  inside a batch) are not followed: not listed, not registered, reported by the sensor; a non-PDF ``.pdf``
  is quarantined with its size and hash, never its bytes.
- Partition keys are unique, readable and stable: ``心臟.jsonl``/``肺病.jsonl`` and ``set a.jsonl``/``set_a.csv``
  get four keys, the same on every listing; every partition materializes.
- A 255-byte file name is quarantined by its partition (no ENAMETOOLONG); the other files load untouched.
- A JSONL file with a UTF-8 byte-order mark keeps line 1.
- The seed sensor, turned on after a file was edited while it was off, asks for that partition's run (it
  compares with what was last materialized); an untouched file asks for nothing.
"""

import os
import shutil

import dagster as dg

from citrus_assets.cpt_corpus.pdf.extract import extract_batch
from citrus_assets.reasoning_data.seeds.assets import seed_sets
from citrus_assets.reasoning_data.seeds.sensors import seed_inbox_sensor
from resources.inbox import InboxResource, partition_key_for
from resources.lake import Lake
from tests.drills import drill_support as S

SECRET_LINE = "root:x:0:0:outside-the-inbox-SECRET:/root:/bin/bash"
# the sample's 8 well-formed seeds (it also holds a truncated line and a 2-option one on purpose)
LINES = [
    line
    for line in S.SEEDS.read_bytes().splitlines(keepends=True)
    if b"truncated line" not in line and b"Which option is correct" not in line
]


def _tick(instance, inbox_dir, cursor=None):
    with dg.build_sensor_context(
        instance=instance, resources={"inbox": InboxResource(seeds_dir=str(inbox_dir))}, cursor=cursor
    ) as ctx:
        result = seed_inbox_sensor(ctx)
    requests = getattr(result, "run_requests", None) or []
    return [r.partition_key for r in requests], getattr(result, "cursor", None)


def _lake_bytes(lake_root: str) -> bytes:
    return b"".join(open(os.path.join(d, f), "rb").read() for d, _, fs in os.walk(lake_root) for f in fs)


def test_links_out_of_the_inbox_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET_LINE + "\n")
    (outside / "notes.pdf").write_text(SECRET_LINE + "\n")
    env = S.make_env(tmp_path, "links")
    inbox = tmp_path / "links" / "inbox"
    os.symlink(outside / "passwd", inbox / "passwd.jsonl")
    inside_copy = inbox / "alias.jsonl"
    os.symlink(inbox / "medqa_demo.jsonl", inside_copy)  # a link that stays inside is fine
    inbox_res = InboxResource(seeds_dir=str(inbox))
    assert set(inbox_res.files(inbox)) == {"medqa_demo", "alias"}
    assert "passwd.jsonl" in inbox_res.refused(inbox)
    with dg.instance_for_test() as instance:
        keys, _ = _tick(instance, inbox)
    assert sorted(keys) == ["alias", "medqa_demo"]

    pdfs = tmp_path / "pdfs"
    (pdfs / "batch_a").mkdir(parents=True)
    shutil.copy(S.REPO / "sample" / "pdfs" / "batch_001" / "hypertension_primer.pdf", pdfs / "batch_a" / "ok.pdf")
    os.symlink(outside / "notes.pdf", pdfs / "batch_a" / "linked.pdf")
    os.symlink(outside, pdfs / "batch_linked")
    (pdfs / "batch_b").mkdir()
    (pdfs / "batch_b" / "fake.pdf").write_text(SECRET_LINE + "\n")  # inside, but not a PDF
    batches = InboxResource(pdfs_dir=str(pdfs)).batches(pdfs)
    assert {k: [p.name for p in v] for k, v in batches.items()} == {"batch_a": ["ok.pdf"], "batch_b": ["fake.pdf"]}
    assert set(InboxResource().refused(pdfs)) == {"batch_a", "batch_linked"}
    _, quarantine, _ = extract_batch(batches["batch_b"])
    lake = Lake(env["lake"])
    lake.write_quarantine("pdf_documents", "batch_b", quarantine)
    assert len(quarantine) == 1 and "content not copied" in quarantine[0].raw
    leaked = _lake_bytes(env["lake"]).count(b"outside-the-inbox-SECRET")
    assert leaked == 0
    print(
        f"\nDRILL inbox-links: 3 links out of the inbox (seed file, PDF in a batch, batch folder) -> 0 listed, "
        f"3 refused; a non-PDF .pdf quarantined as {quarantine[0].raw}; bytes of outside files in the lake: {leaked}"
    )


def test_partition_keys_are_unique_readable_and_stable_and_long_names_are_quarantined(tmp_path):
    long_name = "q" * (255 - len(".jsonl")) + ".jsonl"
    files = {
        "心臟.jsonl": b"".join(LINES[0:2]),
        "肺病.jsonl": b"".join(LINES[2:4]),
        "set a.jsonl": b"".join(LINES[4:6]),
        "set_a.csv": b"question,A,B,C,D,answer\nFirst-line drug for anaphylaxis?,Epinephrine,Cetirizine,Prednisone,"
        b"Salbutamol,A\nVitamin deficient in scurvy?,A,B12,C,D,C\n",
        long_name: b"".join(LINES[6:8]),
        "bom.jsonl": b"\xef\xbb\xbf" + b"".join(LINES[0:3]),
    }
    env = S.make_env(tmp_path, "keys", seed_files=files)
    inbox = InboxResource(seeds_dir=env["inbox"])
    listing = inbox.files(inbox.seeds_path())
    assert len(listing) == len(files) and listing == inbox.files(inbox.seeds_path())  # unique and stable
    key_of = {p.name: k for k, p in listing.items()}
    assert key_of["set_a.csv"] == "set_a" and key_of["set a.jsonl"].startswith("set_a-")
    assert key_of["心臟.jsonl"].startswith("心臟-") and key_of["肺病.jsonl"].startswith("肺病-")
    assert all(len(k.encode()) < 100 for k in listing) and key_of[long_name] == partition_key_for(
        listing[key_of[long_name]]
    )

    lake = Lake(env["lake"])
    rows, quarantined = {}, {}
    with dg.instance_for_test() as instance:
        keys, _ = _tick(instance, env["inbox"])
        assert sorted(keys) == sorted(listing)
        instance.add_dynamic_partitions(seed_sets.name, keys)
        for key in keys:
            result, _ = S.materialize(env, ["question_seeds"], partition=key, instance=instance)
            assert result.success
            rows[key] = lake.read_table("question_seeds", key).num_rows
            quarantined[key] = S.metadata(result, "question_seeds")["quarantined"]
    long_key = key_of[long_name]
    reasons = lake.read_quarantine("question_seeds", long_key).to_pylist()
    assert rows[long_key] == 0 and len(reasons) == 1 and "file name is 255 bytes" in reasons[0]["reason"]
    assert reasons[0]["raw"] == ""
    others = {k: rows[k] for k in keys if k != long_key}
    assert all(n == 2 for k, n in others.items() if k != key_of["bom.jsonl"]), others
    assert rows[key_of["bom.jsonl"]] == 3 and quarantined[key_of["bom.jsonl"]] == 0  # line 1 kept
    print(
        f"\nDRILL inbox-keys: {len(files)} files -> {len(set(listing))} unique keys "
        f"({', '.join(sorted(k for k in listing if k != long_key))}, and a {len(long_key)}-char key for the "
        f"255-byte name); rows per partition {sorted(rows.values())}; 255-byte name: 1 file quarantined "
        f"('{reasons[0]['reason'][:40]}...'), others untouched; BOM file: 3/3 lines kept"
    )


def test_an_edit_made_while_the_sensor_was_off_is_picked_up(tmp_path):
    env = S.make_env(
        tmp_path, "off", seed_files={"set_a.jsonl": b"".join(LINES[0:2]), "set_b.jsonl": b"".join(LINES[2:4])}
    )
    inbox = tmp_path / "off" / "inbox"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(seed_sets.name, ["set_a", "set_b"])
        for key in ("set_a", "set_b"):  # materialized by hand (the main job, a backfill): the sensor never ran
            assert S.materialize(env, ["question_seeds"], partition=key, instance=instance)[0].success
        (inbox / "set_b.jsonl").write_bytes(b"".join(LINES[2:5]))  # edited while the sensor is off
        os.utime(inbox / "set_a.jsonl", None)  # touched only
        keys, cursor = _tick(instance, inbox)  # the sensor is turned on: first tick, no cursor
        again, _ = _tick(instance, inbox, cursor)  # the same state: the same request (run key deduplicates)
        assert keys == ["set_b"] and again == ["set_b"]
        assert S.materialize(env, ["question_seeds"], partition="set_b", instance=instance)[0].success
        after, _ = _tick(instance, inbox, cursor)
    assert after == []
    print(
        f"\nDRILL sensor-off edit: set_b edited and set_a touched while the seed sensor was off -> first tick "
        f"asks for {keys} (compared with the last materialization's inbox_sha), after its run: {after}"
    )


def test_same_stem_names_get_distinct_keys_and_a_collision_never_raises(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("set_a.csv", "set_a.jsonl", "set_a.json"):
        (inbox / name).write_text("{}\n")
    first = InboxResource(seeds_dir=str(inbox)).files(inbox)
    (inbox / "zzz.jsonl").write_text("{}\n")  # another file arrives: the existing keys do not move
    second = InboxResource(seeds_dir=str(inbox)).files(inbox)
    assert (
        len(first) == 3
        and {k: p.name for k, p in first.items()}.items() <= {k: p.name for k, p in second.items()}.items()
    )
    assert first["set_a"].name == "set_a.csv" and all(k.startswith("set_a-") for k in first if k != "set_a")
    print(f"\nDRILL inbox-same-stem: set_a.csv/.json/.jsonl -> {sorted(first)}; unchanged when another file arrives")
