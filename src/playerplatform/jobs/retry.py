"""Retry policy: exponential backoff with "equal jitter" (half fixed, half random), so each
delay is at least as long as the longest possible previous one and retries of many jobs
that failed together spread out."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 3600.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)
