"""Tables of the ugc domain."""
