"""``python -m fabric.vault``: rotate the root key, re-wrap everything, retire the old
version, sweep; data sealed before stays readable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fabric.config import StorageSettings, VaultSettings
from fabric.vault.factory import open_vault


def _cli(tmp_path: Path, *args: str) -> dict[str, object]:
    env = dict(os.environ)
    env.update({
        "FABRIC_STORAGE__BACKEND": "embedded",
        "FABRIC_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "FABRIC_VAULT__ROOT_KEY_FILE": str(tmp_path / "keys" / "root.key"),
    })
    out = subprocess.run(
        [sys.executable, "-m", "fabric.vault", *args], env=env, capture_output=True,
        text=True, timeout=60, check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def test_rotate_rewrap_retire_and_sweep(tmp_path: Path) -> None:
    storage = StorageSettings(backend="embedded", data_dir=tmp_path / "data")
    settings = VaultSettings(root_key_file=tmp_path / "keys" / "root.key", key_cache_s=0)
    vault = await open_vault(storage, settings)
    blob = await vault.seal("acme", "cdr", "call-1", b"kept")
    await vault.close()

    assert _cli(tmp_path, "rotate-root") == {"root_version": 2}
    assert _cli(tmp_path, "rotate-tenant", "acme") == {"tenant_version": 2}
    report = _cli(tmp_path, "rewrap", "--retire")
    assert report["tenant_keys_rewrapped"] == 1
    assert report["data_keys_rewrapped"] == 1  # the tenant's cdr record key
    assert report["root_versions_retired"] == [1]
    assert report["tenant_versions_retired"] == 1
    assert report["failed"] == 0
    assert _cli(tmp_path, "sweep") == {"destroyed": 0}

    vault = await open_vault(storage, settings)
    try:
        assert await vault.provider.versions() == [2]
        assert await vault.open("acme", "cdr", "call-1", blob) == b"kept"
    finally:
        await vault.close()
