"""PDF documents for the CPT corpus: extraction (plain Python) and the pdf_documents asset."""
