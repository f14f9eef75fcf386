"""The audit log in a SQLite file (``audit.sqlite3`` under ``storage.data_dir``).

Append-only by construction: triggers refuse every UPDATE, and every DELETE of an entry
younger than the 7-year retention (``purge_expired`` removes the older ones). Someone with
the file can still drop the triggers; the hash chain is what detects that
(:func:`fabric.audit.chain.verify_log`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fabric.audit.entry import RETENTION_S, AuditEntry
from fabric.audit.store import AuditPage, AuditQuery, cursor_of, parse_cursor
from fabric.storage.sqlite_db import SqliteDb, make_private

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit_log (
    log_id TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, at_us INTEGER NOT NULL,
    principal TEXT NOT NULL, method TEXT NOT NULL, object_class TEXT NOT NULL,
    outcome TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (log_id, stream, seq));
CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (log_id, at_us, stream, seq);
CREATE TABLE IF NOT EXISTS audit_heads (
    log_id TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (log_id, stream));
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_early_delete BEFORE DELETE ON audit_log
WHEN old.at_us > (CAST(strftime('%s', 'now') AS INTEGER) - {RETENTION_S}) * 1000000
BEGIN SELECT RAISE(ABORT, 'audit entries are kept 7 years'); END;
"""
CHUNK = 500


class SqliteAuditStore:
    """:class:`fabric.audit.store.AuditStore` on a SQLite file."""

    def __init__(self, path: Path) -> None:
        make_private(path)
        self._db = SqliteDb(path, _SCHEMA)

    async def append(self, entry: AuditEntry) -> None:
        """Insert the entry and move its stream's head, in one transaction."""
        await self.append_many([entry])

    async def append_many(self, entries: list[AuditEntry]) -> None:
        """Insert the entries and move their streams' heads, in one transaction."""
        rows = [(e.log_id, e.stream, e.seq, e.at_us, e.principal, e.method, e.object_class,
                 e.outcome, e.to_json()) for e in entries]
        heads = [(e.log_id, e.stream, e.seq, e.hash) for e in entries]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO audit_heads VALUES (?, ?, ?, ?)", heads)

        await self._db.run(write)

    async def query(self, log_id: str, query: AuditQuery) -> AuditPage:
        """A page of the log, newest first, filtered in SQL."""
        q = query.checked()
        after = parse_cursor(q.page_token)
        where = ["log_id = ?", "at_us >= ?", "at_us <= ?"]
        args: list[object] = [log_id, q.since_us, q.until_us or int(time.time() * 1e6)]
        for column, value in (("principal", q.principal), ("object_class", q.object_class),
                              ("outcome", q.outcome)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if q.method:
            where.append("(method = ? OR method LIKE ?)")
            args += [q.method, "%/" + q.method]
        if after is not None:
            where.append("(at_us, stream, seq) < (?, ?, ?)")
            args += list(after)
        sql = (f"SELECT body FROM audit_log WHERE {' AND '.join(where)} "
               "ORDER BY at_us DESC, stream DESC, seq DESC LIMIT ?")
        args.append(q.limit + 1)
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall())
        entries = [AuditEntry.from_json(r[0]) for r in rows]
        page = entries[:q.limit]
        return AuditPage(page, cursor_of(page[-1]) if len(entries) > q.limit else "")

    async def entries(self, log_id: str) -> AsyncIterator[AuditEntry]:
        """Every entry, by stream then seq (read in chunks)."""
        last: tuple[str, int] = ("", 0)
        while True:
            def chunk(
                c: sqlite3.Connection, after: tuple[str, int] = last
            ) -> list[tuple[str, str, int]]:
                return c.execute(
                    "SELECT body, stream, seq FROM audit_log WHERE log_id = ? AND (stream, seq) "
                    "> (?, ?) ORDER BY stream, seq LIMIT ?", (log_id, *after, CHUNK)).fetchall()

            rows = await self._db.run(chunk)
            for body, _, _ in rows:
                yield AuditEntry.from_json(body)
            if len(rows) < CHUNK:
                return
            last = (rows[-1][1], rows[-1][2])

    async def heads(self, log_id: str) -> dict[str, tuple[int, str]]:
        """Each stream's last (seq, hash)."""
        rows = await self._db.run(lambda c: c.execute(
            "SELECT stream, seq, hash FROM audit_heads WHERE log_id = ?", (log_id,)).fetchall())
        return {s: (q, h) for s, q, h in rows}

    async def purge_expired(self, now_s: float | None = None) -> int:
        """Delete entries older than the retention period; how many."""
        cutoff = int(((now_s or time.time()) - RETENTION_S) * 1e6)
        return await self._db.run(lambda c: c.execute(
            "DELETE FROM audit_log WHERE at_us < ?", (cutoff,)).rowcount)

    async def close(self) -> None:
        """Close the file."""
        await self._db.close()
