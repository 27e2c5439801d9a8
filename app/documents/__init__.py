"""Documents: the owner's message templates (sandboxed), invoice and reminder PDFs,
letters for the post."""
