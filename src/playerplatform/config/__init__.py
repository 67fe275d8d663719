"""Live configuration: remote config values, feature flags and experiments, held in every
API process's memory (`live`) and resolved per player (`resolve`)."""
