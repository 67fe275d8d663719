"""Messages to players. Today: mail, delivered through the job outbox (`mail`, `jobs`)."""
