"""The PDF inbox sensor: a new batch folder (or loose PDF) registers its partition and asks for its run."""

from citrus_assets.common.inbox_sensor import inbox_sensor
from citrus_assets.cpt_corpus.assets import pdf_batches, pdf_documents

PDF_INBOX_SENSOR = "pdf_inbox_sensor"


def pdf_batch_keys(inbox) -> list[str]:
    return list(inbox.batches(inbox.pdfs_path()))


pdf_inbox_sensor = inbox_sensor(
    name=PDF_INBOX_SENSOR, asset=pdf_documents, partitions_def=pdf_batches, list_keys=pdf_batch_keys,
    description="Registers a pdf_batches partition for every new batch in the PDF inbox and materializes it.",
)
