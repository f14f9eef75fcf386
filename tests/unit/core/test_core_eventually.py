"""The test kit's wait: returns what the condition gave, retries, fails loudly on timeout."""

from __future__ import annotations

import pytest

from fabric.errors import Unavailable
from fabric.testing import eventually, eventually_sync


async def test_returns_the_first_truthy_value_of_a_sync_or_async_condition() -> None:
    calls = []

    def grows() -> list[int]:
        calls.append(1)
        return calls if len(calls) >= 3 else []

    assert await eventually(grows, timeout=5, interval=0) == [1, 1, 1]

    async def ready() -> str:
        return "yes"

    assert await eventually(ready) == "yes"


async def test_assertions_and_listed_errors_mean_not_yet() -> None:
    tries = []

    def flaky() -> bool:
        tries.append(1)
        if len(tries) == 1:
            raise Unavailable("down", error_id="down")
        assert len(tries) >= 3, "not three"
        return True

    assert await eventually(flaky, timeout=5, interval=0, retry_on=(Unavailable,))
    assert len(tries) == 3


async def test_an_unlisted_error_is_raised_at_once() -> None:
    def broken() -> bool:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await eventually(broken, timeout=5)


async def test_timeout_fails_with_the_name_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"legs latched did not hold \(last value: 0\)"):
        await eventually(lambda: 0, timeout=0.05, what="legs latched")
    with pytest.raises(AssertionError, match="AssertionError: never"):
        await eventually(lambda: (_ for _ in ()).throw(AssertionError("never")), timeout=0.05)


def test_sync_variant() -> None:
    seen = []
    assert eventually_sync(lambda: seen.append(1) or len(seen) > 2, interval=0)
    with pytest.raises(AssertionError, match="after 0.05 s, the condition did not hold"):
        eventually_sync(lambda: False, timeout=0.05)
