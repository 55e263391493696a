"""sevbot's edges and orchestration: settings, web app, webhooks, ingestion, outbox worker, CLI."""
