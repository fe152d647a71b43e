"""One LoadResult (resources.inbox.LoadResult): seed files and JMED dialogue files bind only their schema."""

import pytest

from citrus_assets.jmed.consultations import dialogues
from citrus_assets.reasoning_data.seeds import seed_files as seeds
from resources import inbox
from resources.lake import QuarantineRecord


@pytest.mark.parametrize(
    "cls,schema", [(seeds.LoadResult, seeds.SEED_SCHEMA), (dialogues.LoadResult, dialogues.DIALOGUE_SCHEMA)]
)
def test_each_loader_binds_its_schema_to_the_one_implementation(cls, schema):
    assert issubclass(cls, inbox.LoadResult) and cls.__dict__.keys() & {"table", "__init__"} == set()
    res = cls()
    res.quarantine.append(QuarantineRecord("f.jsonl", "line 1", "bad json", "{"))
    assert res.rows == [] and res.duplicates == 0 and cls().quarantine == []  # no shared default list
    table = res.table()
    assert table.schema == schema and table.num_rows == 0
