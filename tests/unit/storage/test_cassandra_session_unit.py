"""The Cassandra session helpers that need no node: the cached row factory and the
request counter (``fabric.storage.cassandra_session``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from cassandra.query import BatchStatement, BatchType, SimpleStatement

from fabric.storage.cassandra_session import (
    aexecute,
    count_requests,
    row_factory,
    statement_label,
)


def test_row_factory_makes_each_column_list_class_once() -> None:
    first = row_factory(["[applied]", "epoch"], [(True, 7)])
    again = row_factory(["[applied]", "epoch"], [(False, 8), (True, 9)])
    other = row_factory(["name", "due"], [("ring-0", 1.5)])
    assert type(first[0]) is type(again[0])  # the class was made once, not per response
    assert type(other[0]) is not type(first[0])
    assert (first[0].applied, first[0].epoch) == (True, 7)  # "[applied]" cleaned as the driver does
    assert [tuple(r) for r in again] == [(False, 8), (True, 9)]
    assert other[0].name == "ring-0" and other[0].due == 1.5
    assert row_factory(["epoch"], []) == []


class _Response:
    def add_callbacks(self, ok: Any, err: Any) -> None:
        ok([])


class _Session:
    cluster = SimpleNamespace(_prepared_statements={})

    def execute_async(self, statement: Any, params: Any = None) -> _Response:
        return _Response()


def test_requests_are_counted_by_statement_only_while_counting() -> None:
    session: Any = _Session()
    put = SimpleStatement("INSERT INTO actor_state (kind, key, data, version) VALUES "
                          "(%s, %s, %s, %s) USING TIMESTAMP %s")
    claim = SimpleStatement("INSERT INTO actor_claims (kind, key) VALUES (%s, %s) "
                            "IF NOT EXISTS")
    batch = BatchStatement(BatchType.LOGGED)
    batch.add(put, ("call", "a", b"", 1, 5))
    batch.add("DELETE FROM reminder_by_id WHERE kind = 'call'")

    async def main() -> dict[str, int]:
        await aexecute(session, put)  # not counting yet
        assert count_requests(True) == {}
        await aexecute(session, put)
        await aexecute(session, claim)
        await aexecute(session, claim)
        await aexecute(session, batch)
        counts = count_requests(False)
        await aexecute(session, claim)  # stopped: not counted
        assert count_requests(False) == {}
        return counts

    counts = asyncio.run(main())
    assert counts == {
        statement_label(put): 1,
        statement_label(claim): 2,
        "BATCH LOGGED 2": 1,
        f"  in batch: {statement_label(put)}": 1,
        "  in batch: DELETE FROM reminder_by_id WHERE kind": 1,
    }
    assert statement_label(claim).endswith("..IF")
    assert statement_label(put).endswith("..TIMESTAMP")
