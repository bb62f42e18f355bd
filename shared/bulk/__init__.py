"""Bulk ingestion: upload URLs, file formats, schema mappings, and the split / fan-out / chunk pipeline."""
