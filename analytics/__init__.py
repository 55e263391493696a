"""Pure analytics for sevbot: alert records, severity scoring, explanations and reports (no I/O)."""
