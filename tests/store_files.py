"""Reading a real Cassandra node's files for the raw-bytes privacy scans.

A scan lists a table's files and reads them; meanwhile the node may flush or compact, and a
compaction deletes the SSTables it merged (their rows now live in a new file). A scan that
skipped a vanished file could miss a leak, and one that failed on it is a flaky test. So
:data:`SCAN_TABLE_OPTIONS` turns compaction off for the scanned tables (and makes them flush
every second, uncompressed), and :func:`read_all` re-lists and reads again whenever a file
vanished between the listing and the read, until one listing is read whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

SCAN_TABLE_OPTIONS = (
    "compression = {'enabled': 'false'} "
    "AND compaction = {'class': 'SizeTieredCompactionStrategy', 'enabled': 'false'} "
    "AND memtable_flush_period_in_ms = 1000"
)
"""CQL ``WITH`` options for a scanned table: plaintext would show, and no file vanishes."""


def read_all(list_files: Callable[[], list[Path]], attempts: int = 20) -> dict[Path, bytes]:
    """Every file ``list_files`` names, read whole from one listing.

    When a listed file is gone by the time it is read (a compaction or a commit-log segment
    recycled), the listing is taken again; after ``attempts`` listings it raises."""
    for _ in range(attempts):
        read: dict[Path, bytes] = {}
        try:
            for path in list_files():
                read[path] = path.read_bytes()
        except FileNotFoundError:
            time.sleep(0.2)
            continue
        return read
    raise AssertionError(f"files kept vanishing while read ({attempts} listings)")
