"""Token buckets per client: burst, refill, separate keys, bounded memory."""

from __future__ import annotations

import pytest

from support.ratelimit import TokenBucketLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestTokenBucket:
    def test_a_burst_passes_then_the_next_waits_for_one_token(self) -> None:
        clock = Clock()
        limiter = TokenBucketLimiter(rate_per_second=0.5, burst=2, clock=clock)
        assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
        assert limiter.acquire("a") == pytest.approx(2.0)
        clock.now += 2.0
        assert limiter.acquire("a") == 0.0

    def test_clients_have_their_own_buckets(self) -> None:
        limiter = TokenBucketLimiter(rate_per_second=1, burst=1, clock=Clock())
        assert limiter.acquire("a") == 0.0
        assert limiter.acquire("b") == 0.0
        assert limiter.acquire("a") > 0

    def test_refill_never_exceeds_the_burst(self) -> None:
        clock = Clock()
        limiter = TokenBucketLimiter(rate_per_second=1, burst=2, clock=clock)
        limiter.acquire("a")
        clock.now += 3600
        assert [limiter.acquire("a") for _ in range(3)][:2] == [0.0, 0.0]
        assert limiter.acquire("a") > 0

    def test_memory_is_bounded_by_forgetting_the_oldest_client(self) -> None:
        limiter = TokenBucketLimiter(rate_per_second=1, burst=1, max_keys=2, clock=Clock())
        for key in ("a", "b", "c"):
            limiter.acquire(key)
        assert limiter.acquire("a") == 0.0  # forgotten: a full bucket again
        assert limiter.acquire("c") > 0

    def test_retry_after_is_whole_seconds_and_at_least_one(self) -> None:
        assert retry_after_header(0.01) == "1"
        assert retry_after_header(59.2) == "60"

    def test_a_rate_of_zero_is_refused(self) -> None:
        with pytest.raises(ValueError):
            TokenBucketLimiter(rate_per_second=0, burst=1)
