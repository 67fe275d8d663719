"""Tables of the commerce domain."""
