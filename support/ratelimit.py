"""Token buckets per client key (an IP address), kept in this process's memory."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Allow `burst` requests at once per key, refilled at `rate_per_second`; bounded memory.

    Each process keeps its own buckets: behind a load balancer with N API containers a client
    gets up to N times the rate, which is acceptable for abuse protection of a public search.
    """

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate and burst must be positive")
        self.rate = rate_per_second
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for `key`; return 0 when allowed, else the seconds until one frees."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.burst), updated=now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            # Most recently used last: the oldest keys are dropped first when memory is full
            # (a forgotten key restarts with a full bucket, which errs on the side of serving).
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def refund(self, key: str) -> None:
        """Give back the token a request took (it turned out not to count, e.g. a good login)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.tokens = min(float(self.burst), bucket.tokens + 1.0)


def retry_after_header(wait_seconds: float) -> str:
    """Return a Retry-After value: whole seconds, at least one."""
    return str(max(1, math.ceil(wait_seconds)))
