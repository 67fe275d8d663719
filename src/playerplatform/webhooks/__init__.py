"""Signed event intake: one route per provider, a durable row and raw archive per event, and
the `webhook_processing` queue that acts on them (see docs/webhooks.md)."""
