"""The two actor systems, exported from a module of their own.

- :class:`LocalActorSystem`: one process, asyncio, an injectable clock, in-memory or any stores
  (unit tests, tools, a single-process run).
- :class:`RayActorSystem`: hosts as long-lived Ray actors spread over the Ray cluster's nodes.

They live apart from :mod:`fabric.actor` so that the actor surface (what domain code imports)
never imports the machinery, and the machinery can import the surface without a cycle.
Importing this module imports Ray.
"""

from __future__ import annotations

from fabric._runtime.local import LocalActorSystem
from fabric._runtime.ray_system import RayActorSystem

__all__ = ["LocalActorSystem", "RayActorSystem"]
