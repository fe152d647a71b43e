"""Checks of the labelled CPT documents and the shard manifest."""

from citrus_assets.cpt_corpus.corpus.assets import cpt_documents, cpt_shards
from quality import gx_asset_check, id_suite, not_null, values_in_set
from quality.suites import between

CPT_DOCUMENTS_VALID = "cpt_documents_valid"
CPT_SHARDS_VALID = "cpt_shards_valid"

cpt_documents_check = gx_asset_check(
    asset=cpt_documents,
    name=CPT_DOCUMENTS_VALID,
    blocking=True,
    description="Unique ids, non-empty text, positive token counts, known domain labels.",
    suite=lambda: (
        id_suite()
        + not_null(["text", "source"])
        + between("n_tokens", 1, None)
        + values_in_set("domain", ["medical", "general"])
    ),
)
cpt_shards_check = gx_asset_check(
    asset=cpt_shards,
    name=CPT_SHARDS_VALID,
    blocking=True,
    description="Unique shard ids, every shard has documents and tokens, medical share within [0, 1].",
    suite=lambda: (
        id_suite()
        + not_null(["path", "source"])
        + between("documents", 1, None)
        + between("tokens", 1, None)
        + between("medical_share", 0, 1)
    ),
)

checks = [cpt_documents_check, cpt_shards_check]
