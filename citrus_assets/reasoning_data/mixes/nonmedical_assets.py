"""``nonmedical_reasoning``: the non-medical reasoning folder (logic, math) as an asset of the graph.

The folder (``nonmedical.nonmedical_dir``: ``$CITRUS_NONMEDICAL_DIR``, else ``sample/reasoning``) is all of the
demo's stage-3 non-medical rows and the RL stage's non-medical problems. As an asset, the graph shows where
those rows come from, every row is in the lineage index with its file and line (``source_uri`` /
``source_locator``; parent = the source unit), bad lines are quarantined with their reason, and a change to
the files changes the data version, so ``sft_stage3_mix`` and ``rejection_samples`` (which take its rows as
an input, each of their non-medical rows citing a record of this asset as its parent) show unsynced until
they are rebuilt.
"""

import dagster as dg
import pyarrow as pa

from citrus_assets.common.empty import empty_metadata
from citrus_assets.common.metadata import output
from citrus_assets.reasoning_data.mixes.nonmedical import load_nonmedical, nonmedical_dir
from resources.lake import LakeResource
from resources.lineage.schema import PARENT_IDS, RECORD_ID, SOURCE_LOCATOR, SOURCE_URI

NONMEDICAL_ASSET = "nonmedical_reasoning"

NONMEDICAL_SCHEMA = pa.schema(
    [
        (RECORD_ID, pa.string()),
        (PARENT_IDS, pa.list_(pa.string())),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("source", pa.string()),
        ("category", pa.string()),
        ("answer", pa.string()),  # the answer the record states ("" = only inferred): the RL reward's ground truth
        (SOURCE_URI, pa.string()),
        (SOURCE_LOCATOR, pa.string()),
    ]
)


class NonMedicalConfig(dg.Config):
    # "" = $CITRUS_NONMEDICAL_DIR, else sample/reasoning (the folder sft_stage3_mix and rejection_samples read)
    nonmedical_dir: str = ""


def nonmedical_table(folder) -> tuple[pa.Table, list, dict]:
    """(rows, quarantine, counts) of every JSONL/JSON file of ``folder`` (``nonmedical.load_nonmedical``)."""
    load = load_nonmedical(folder)
    table = pa.Table.from_pylist(load.rows, schema=NONMEDICAL_SCHEMA)
    return table, load.quarantine, {"files": load.files, "rows": len(load.rows), "duplicates": load.duplicates}


@dg.asset(
    name=NONMEDICAL_ASSET,
    code_version="nonmedical-v2",  # v2: the stated answer column (rejection_samples reads it)
    kinds={"parquet"},
    description="Every logic/math record of the non-medical folder as a chat row in the <think>/<answer> "
    "format, with its file and line; malformed lines quarantined, exact duplicates counted.",
)
def nonmedical_reasoning(context: dg.AssetExecutionContext, config: NonMedicalConfig, lake: LakeResource) -> dg.Output:
    folder = nonmedical_dir(config.nonmedical_dir)
    table, quarantine, counts = nonmedical_table(folder)
    _, n_bad = lake.lake().write_quarantine(NONMEDICAL_ASSET, None, quarantine)
    if not folder.is_dir():
        context.log.warning(f"non-medical folder {folder} does not exist: no rows")
    return output(
        table,
        folder=dg.MetadataValue.path(str(folder)),
        files=dg.MetadataValue.json(counts["files"]),
        duplicates=counts["duplicates"],
        quarantined=n_bad,
        **empty_metadata(
            table.num_rows, f"no readable record in {folder} ({len(counts['files'])} files, {n_bad} lines quarantined)"
        ),
    )
