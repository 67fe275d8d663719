"""Operations helpers shared by tests: the metrics token every test app is built with."""

from __future__ import annotations

METRICS_TOKEN = "test-metrics-token-0123456789"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
