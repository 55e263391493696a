"""Ingestion: a normalized batch is deduplicated, scored and grouped, then committed in one transaction."""
