"""Prompt templates as files, and the strict loader that renders them (nothing of ours imported)."""
