"""Tables of the leaderboards domain."""
