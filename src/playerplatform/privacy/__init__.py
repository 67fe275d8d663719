"""Players' data: export (everything the platform holds about a player, collected from every
domain's exporter into one zip) and erasure (after a grace period, personal data deleted or
replaced by a pseudonym)."""
