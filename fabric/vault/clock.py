"""Clocks for the vault's schedule: the system clock, and a manual one for tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in unix seconds."""

    def now(self) -> float:
        """The current time."""
        ...


class SystemClock:
    """``time.time()``."""

    def now(self) -> float:
        """The current time."""
        return time.time()


class ManualClock:
    """A clock that moves only when told (tests of the backup window)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self._now += seconds
