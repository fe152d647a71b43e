"""What the CPT-corpus stage adds to the code location."""

from citrus_assets.cpt_corpus.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.checks import checks
from citrus_assets.cpt_corpus.sensors import pdf_inbox_sensor

assets = [pdf_documents]
sensors = [pdf_inbox_sensor]
partitions = [pdf_batches]

__all__ = ["assets", "checks", "sensors", "partitions", "pdf_documents", "pdf_batches"]
