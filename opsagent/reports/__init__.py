"""Reports: a small document model rendered to Markdown, HTML and PDF (repair and period reports)."""
