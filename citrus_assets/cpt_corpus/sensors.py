"""The PDF inbox sensor: a new batch folder (or loose PDF) registers its partition and asks for its run."""

from citrus_assets.common.scheduling.inbox_sensor import inbox_sensor
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks
from citrus_assets.cpt_corpus.web.assets import web_documents, web_shards

PDF_INBOX_SENSOR = "pdf_inbox_sensor"


def pdf_batch_keys(inbox) -> list[str]:
    return list(inbox.batches(inbox.pdfs_path()))


pdf_inbox_sensor = inbox_sensor(
    name=PDF_INBOX_SENSOR,
    asset=pdf_documents,
    partitions_def=pdf_batches,
    list_keys=pdf_batch_keys,
    list_entries=lambda inbox: inbox.batches(inbox.pdfs_path()),
    list_refused=lambda inbox: inbox.refused(inbox.pdfs_path()),
    description="Registers a pdf_batches partition for every new batch in the PDF inbox and materializes it.",
)

WEB_INBOX_SENSOR = "web_inbox_sensor"


def web_shard_keys(inbox) -> list[str]:
    return list(inbox.files(inbox.web_path()))


web_inbox_sensor = inbox_sensor(
    name=WEB_INBOX_SENSOR,
    asset=web_documents,
    partitions_def=web_shards,
    list_keys=web_shard_keys,
    list_entries=lambda inbox: inbox.files(inbox.web_path()),
    list_refused=lambda inbox: inbox.refused(inbox.web_path()),
    description="Registers a web_shards partition for every new shard in the web inbox and curates it.",
)

TEXTBOOK_INBOX_SENSOR = "textbook_inbox_sensor"


def textbook_batch_keys(inbox) -> list[str]:
    return list(inbox.batches(inbox.textbooks_path()))


textbook_inbox_sensor = inbox_sensor(
    name=TEXTBOOK_INBOX_SENSOR,
    asset=textbook_chunks,
    partitions_def=textbook_batches,
    list_keys=textbook_batch_keys,
    list_entries=lambda inbox: inbox.batches(inbox.textbooks_path()),
    list_refused=lambda inbox: inbox.refused(inbox.textbooks_path()),
    description="Registers a textbook_batches partition for every new batch in the textbook inbox and chunks it "
    "(textbook_questions follows by its eager automation condition).",
)
