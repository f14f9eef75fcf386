"""Vault metrics: seal/unseal counts and failures by data class, key versions in use, and no
tenant id, object id or key material in any label."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from fabric.vault.errors import VaultContextMismatch
from fabric.vault.provider import LocalFileKeyProvider
from fabric.vault.sqlite_keys import SqliteKeyStore
from fabric.vault.vault import Vault

TENANT = "tenant-metrics-4f1d"
OBJECT = "object-metrics-77aa"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture()
async def vault(tmp_path: Path) -> AsyncIterator[Vault]:
    v = Vault(LocalFileKeyProvider(tmp_path / "root.key"), SqliteKeyStore(tmp_path / "v.db"))
    yield v
    await v.close()


async def test_operations_and_failures_are_counted_by_class(vault: Vault) -> None:
    ok = {"op": "seal", "data_class": "transcript", "outcome": "ok"}
    opened = {"op": "unseal", "data_class": "transcript", "outcome": "ok"}
    failed = {"op": "unseal", "data_class": "transcript", "outcome": "vault-context-mismatch"}
    before = [_value("fabric_vault_operations_total", **x) for x in (ok, opened, failed)]
    blob = await vault.seal(TENANT, "transcript", OBJECT, b"hello")
    await vault.open(TENANT, "transcript", OBJECT, blob)
    with pytest.raises(VaultContextMismatch):
        await vault.open(TENANT, "transcript", "another-object", blob)
    after = [_value("fabric_vault_operations_total", **x) for x in (ok, opened, failed)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


async def test_key_versions_in_use_are_visible(vault: Vault) -> None:
    await vault.seal(TENANT, "transcript", OBJECT, b"x")  # creates and unwraps a tenant key
    assert _value("fabric_vault_key_unwraps_total", level="root", version="1") >= 1
    await vault.rotate_root()
    assert _value("fabric_vault_current_key_version", level="root") == 2


async def test_no_ids_or_key_material_in_labels(vault: Vault) -> None:
    blob = await vault.seal(TENANT, "transcript", OBJECT, b"secret")
    await vault.open(TENANT, "transcript", OBJECT, blob)
    for metric in REGISTRY.collect():
        if not metric.name.startswith("fabric_vault"):
            continue
        for sample in metric.samples:
            for value in sample.labels.values():
                assert TENANT not in value and OBJECT not in value
                assert len(value) < 40  # names, versions and error ids only
