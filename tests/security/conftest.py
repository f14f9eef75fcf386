"""Fixtures of tests/security (the harness is edge_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from edge_harness import EdgeApiFactory, edge_apis


@pytest.fixture
async def edge_api(tmp_path: Path) -> AsyncIterator[EdgeApiFactory]:
    """Start the API with ``api.*`` overrides: ``api = await edge_api(key_cache_s=0.2)``."""
    async with edge_apis(tmp_path) as start:
        yield start
