"""What the CPT-corpus stage adds to the code location."""

from citrus_assets.cpt_corpus.corpus import checks as corpus_checks
from citrus_assets.cpt_corpus.corpus.assets import cpt_documents, cpt_shards
from citrus_assets.cpt_corpus.pdf import checks as pdf_checks
from citrus_assets.cpt_corpus.pdf.assets import pdf_batches, pdf_documents
from citrus_assets.cpt_corpus.sensors import pdf_inbox_sensor, textbook_inbox_sensor, web_inbox_sensor
from citrus_assets.cpt_corpus.textbooks import checks as textbook_checks
from citrus_assets.cpt_corpus.textbooks.assets import textbook_batches, textbook_chunks, textbook_questions
from citrus_assets.cpt_corpus.web import checks as web_checks
from citrus_assets.cpt_corpus.web.assets import web_corpus, web_documents, web_shards

assets = [pdf_documents, web_documents, web_corpus, textbook_chunks, textbook_questions, cpt_documents, cpt_shards]
checks = [*pdf_checks.checks, *web_checks.checks, *textbook_checks.checks, *corpus_checks.checks]
sensors = [pdf_inbox_sensor, web_inbox_sensor, textbook_inbox_sensor]
partitions = [pdf_batches, web_shards, textbook_batches]

__all__ = ["assets", "checks", "sensors", "partitions", "pdf_documents", "pdf_batches", "web_documents",
           "web_corpus", "web_shards", "textbook_chunks", "textbook_questions", "textbook_batches",
           "cpt_documents", "cpt_shards"]
