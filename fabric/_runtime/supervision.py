"""Supervision: turn a handler's exception into a directive, with bounded restarts.

As in Akka/Proto.Actor, one-for-one: the actor's ``decide(exc)`` chooses RESUME, RESTART or
STOP. A RESTART beyond ``max_restarts`` within ``window_s`` becomes STOP, so a poison
message cannot spin an actor forever. Only ``Exception`` is supervised; ``BaseException``
(cancellation, interpreter exit) propagates.
"""

from __future__ import annotations

from collections import deque

from fabric.actor import Directive
from fabric.clock import Clock


class RestartBudget:
    """At most ``max_restarts`` restarts within any ``window_s`` seconds."""

    __slots__ = ("_clock", "_max", "_window", "_times")

    def __init__(self, clock: Clock, max_restarts: int, window_s: float) -> None:
        self._clock = clock
        self._max = max_restarts
        self._window = window_s
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        """Record a restart and say whether it is within the budget."""
        now = self._clock.now()
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()
        if len(self._times) >= self._max:
            return False
        self._times.append(now)
        return True


def bounded(directive: Directive, budget: RestartBudget) -> Directive:
    """Apply the restart budget to a decider's directive."""
    if directive is Directive.RESTART and not budget.allow():
        return Directive.STOP
    return directive
