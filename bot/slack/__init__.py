"""sevbot in Slack: the Bolt app (commands, buttons, mentions), Block Kit messages and the outbox sink."""
