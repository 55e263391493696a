"""The outbox: side effects promised in a transaction (Slack posts, drafts), delivered later by a worker."""
