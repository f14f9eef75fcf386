"""The per-user CLI configuration: named profiles (``fabric login``) and the local fabric
that ``make up`` recorded.

Everything lives in ``$XDG_CONFIG_HOME/fabric`` (default ``~/.config/fabric``), a 0700
folder: ``config.json`` (profiles: target, CA file, plaintext or not, which one is current;
mode 0600), one ``<profile>.key`` per profile holding its API key or operator token (mode
0600), and ``local.json`` written by ``make up`` (where its API listens, its CA and its
operator token file, as absolute paths), so the CLI finds the fabric from any directory.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/fabric``, else ``~/.config/fabric``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fabric"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (folder 0700, file 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


@dataclass
class Profile:
    """Where one fabric is and how to trust it; its key is in ``<name>.key`` beside it."""

    target: str = ""
    ca: str = ""
    insecure: bool = False


@dataclass
class LocalFabric:
    """What ``make up`` recorded about the fabric it runs: ``operator_key_file`` holds the
    named carrier-admin key it made for the local user (the CLI's default credential), the
    operator token file the bootstrap credential (``fabric operator ...`` only)."""

    target: str
    ca: str
    operator_token_file: str
    tls: bool = True
    operator_key_file: str = ""


class ProfileStore:
    """Read and write the profiles of ``config_dir()``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_dir()
        self.path = self.folder / "config.json"

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"current": "", "profiles": {}}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {self.path}: {exc}") from exc
        data.setdefault("current", "")
        data.setdefault("profiles", {})
        return dict(data)

    def names(self) -> list[str]:
        """Every profile's name."""
        return sorted(self._load()["profiles"])

    def current(self) -> str:
        """The profile used when none is named ('' if none)."""
        return str(self._load()["current"])

    def get(self, name: str) -> Profile | None:
        """One profile, or None."""
        raw = self._load()["profiles"].get(name)
        return Profile(**raw) if raw is not None else None

    def key_file(self, name: str) -> Path:
        """The file holding ``name``'s credential."""
        return self.folder / f"{name}.key"

    def save(self, name: str, profile: Profile, key: str, *, make_current: bool) -> None:
        """Store ``profile`` and its key (0600), optionally as the current profile."""
        if not PROFILE_NAME.fullmatch(name):
            raise ValueError(
                f"profile name {name!r} must be 1-32 letters, digits, '-' or '_'"
            )
        data = self._load()
        data["profiles"][name] = asdict(profile)
        if make_current or not data["current"]:
            data["current"] = name
        _write_private(self.key_file(name), key.strip() + "\n")
        _write_private(self.path, json.dumps(data, indent=2) + "\n")

    def remove(self, name: str) -> bool:
        """Forget a profile and delete its key; False if there was none."""
        data = self._load()
        if data["profiles"].pop(name, None) is None:
            return False
        if data["current"] == name:
            data["current"] = next(iter(sorted(data["profiles"])), "")
        self.key_file(name).unlink(missing_ok=True)
        _write_private(self.path, json.dumps(data, indent=2) + "\n")
        return True

    def use(self, name: str) -> None:
        """Make ``name`` the current profile."""
        data = self._load()
        if name not in data["profiles"]:
            raise KeyError(name)
        data["current"] = name
        _write_private(self.path, json.dumps(data, indent=2) + "\n")


def local_fabric_file() -> Path:
    """Where ``make up`` records its fabric."""
    return config_dir() / "local.json"


def record_local_fabric(fabric: LocalFabric) -> Path:
    """Called by ``make up``: remember where the running fabric is (mode 0600)."""
    path = local_fabric_file()
    _write_private(path, json.dumps(asdict(fabric), indent=2) + "\n")
    return path


def read_local_fabric() -> LocalFabric | None:
    """What ``make up`` recorded, or None."""
    path = local_fabric_file()
    try:
        return LocalFabric(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
