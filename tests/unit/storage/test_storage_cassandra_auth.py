"""Cassandra password authentication from settings (no connection made)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cassandra.auth import PlainTextAuthProvider

from fabric.config import StorageSettings
from fabric.errors import InvalidArgument
from fabric.storage.cassandra_session import auth_provider


def test_no_username_means_no_authentication() -> None:
    assert auth_provider(StorageSettings()) is None


def test_password_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")  # a mounted Secret may end with a newline
    provider = auth_provider(
        StorageSettings(cassandra_username="fabric", cassandra_password_file=str(secret))
    )
    assert isinstance(provider, PlainTextAuthProvider)
    assert (provider.username, provider.password) == ("fabric", "s3cret")


def test_username_without_password_file_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        auth_provider(StorageSettings(cassandra_username="fabric"))
    assert info.value.error_id == "cassandra-password-missing"
