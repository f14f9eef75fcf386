"""Open the vault of a process from its settings: ``await open_vault(storage, vault)``.

Embedded backend: wrapped keys in ``<data_dir>/vault.sqlite3``. Cassandra: the ``vault_*``
tables of the keyspace, on the connection the other stores share. The root key comes from
the local file provider (``vault.root_key_file``); a deployment with a KMS passes its own
provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fabric.clock import Clock
from fabric.config import StorageSettings, VaultSettings
from fabric.vault.keystore import KeyStore
from fabric.vault.provider import KeyProvider, LocalFileKeyProvider
from fabric.vault.vault import Vault

if TYPE_CHECKING:
    from fabric.storage.cassandra_session import CassandraConnection


async def open_vault(
    storage: StorageSettings,
    settings: VaultSettings,
    *,
    connection: CassandraConnection | None = None,
    provider: KeyProvider | None = None,
    clock: Clock | None = None,
    key_store: KeyStore | None = None,
) -> Vault:
    """The vault for these settings (a Cassandra connection is needed for that backend;
    ``key_store``, if given, is used instead of the backend's, e.g. a regional one)."""
    keys: KeyStore
    if key_store is not None:
        keys = key_store
    elif storage.backend == "cassandra":
        from fabric.vault.cassandra_keys import CassandraKeyStore

        if connection is None:
            raise ValueError("open_vault on Cassandra needs the shared connection")
        cassandra_keys = CassandraKeyStore(connection)
        await cassandra_keys.prepare()
        keys = cassandra_keys
    else:
        from fabric.vault.sqlite_keys import SqliteKeyStore

        keys = SqliteKeyStore(storage.data_dir / "vault.sqlite3")
    return Vault(
        provider or LocalFileKeyProvider(settings.root_key_file),
        keys,
        backup_window_s=settings.backup_window_days * 86400.0,
        key_cache_s=settings.key_cache_s,
        clock=clock,
    )
