"""Twitch Drops: campaigns that map Twitch benefits to SKU lines, granting each claimed
entitlement exactly once, fulfilment at Twitch, sync and reconciliation (see docs/drops.md)."""
