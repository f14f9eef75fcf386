"""A crafted CDR page token is refused as bad input (``cdr-invalid-page-token``), never an
internal error: whatever a client puts in a token, only InvalidArgument comes out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from fabric.errors import FabricError, InvalidArgument
from fabric.storage.cdr_query import build_query

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 8, tzinfo=UTC)


def _token(body: object) -> str:
    raw = json.dumps(body).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _issued() -> dict[str, object]:
    query = build_query("tenant-a", START, END, None, 10, "")
    return {"v": 1, "q": query.fingerprint, "t": 1_772_400_000_000, "id": "call-1"}


CRAFTED = [
    {**_issued(), "t": 1e20},           # a float far outside any date
    {**_issued(), "t": 10**20},         # an int far outside any date
    {**_issued(), "t": -1},
    {**_issued(), "t": "1772400000000"},
    {**_issued(), "t": True},
    {**_issued(), "id": ["call-1"]},
    {**_issued(), "q": None},
    [1, "v"],                           # JSON that is not an object
    "v",
    None,
    17,
]


@pytest.mark.parametrize("body", CRAFTED, ids=[str(i) for i in range(len(CRAFTED))])
def test_a_crafted_page_token_is_invalid_argument(body: object) -> None:
    with pytest.raises(FabricError) as info:
        build_query("tenant-a", START, END, None, 10, _token(body))
    assert isinstance(info.value, InvalidArgument)
    assert info.value.error_id == "cdr-invalid-page-token"


@pytest.mark.parametrize("raw", ["%%%", "a", "////", "e30", "W10", "\u00e9t\u00e9"])
def test_a_token_that_is_not_base64_json_is_invalid_argument(raw: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build_query("tenant-a", START, END, None, 10, raw)
    assert info.value.error_id == "cdr-invalid-page-token"


def test_an_issued_token_still_works() -> None:
    query = build_query("tenant-a", START, END, None, 10, _token(_issued()))
    assert query.after is not None and query.after[1] == "call-1"
