"""The CDR spool seals what it keeps with its own key (wrapped by the root key), so it
still works when the key store is down with the rest of Cassandra."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fabric.cdr import Cdr, Direction, Disposition
from fabric.errors import Unavailable
from fabric.storage.spool import SpoolingCdrStore
from fabric.vault.provider import LocalFileKeyProvider
from fabric.vault.vault import Vault


class _Down:
    """A CDR store and key store that are both unreachable."""

    def __getattr__(self, name: str) -> Any:
        async def _fail(*args: object, **kwargs: object) -> None:
            raise Unavailable("down", error_id="cassandra-unavailable")

        return _fail

    async def close(self) -> None:
        return None


async def test_spool_seals_while_the_key_store_is_down(tmp_path: Path) -> None:
    vault = Vault(LocalFileKeyProvider(tmp_path / "root.key"), _Down())  # type: ignore[arg-type]
    spool = await SpoolingCdrStore(_Down(), tmp_path / "spool", vault=vault).open()  # type: ignore[arg-type]
    start = datetime(2026, 5, 1, tzinfo=UTC)
    cdr = Cdr(
        call_id="c-1", tenant_id="acme", from_number="+15550001234", to_number="201",
        direction=Direction.INBOUND, start_time=start, end_time=start,
        disposition=Disposition.NO_ANSWER, hangup_cause="no-answer",
    )
    await spool.write(cdr)
    assert spool.depth == 1
    assert await spool.get("acme", "c-1") == cdr
    raw = b"".join(p.read_bytes() for p in (tmp_path / "spool").iterdir())
    assert b"+15550001234" not in raw
    await spool.close()
