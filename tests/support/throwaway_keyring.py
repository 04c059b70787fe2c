"""A throw-away keyring backend for the tests: a JSON file, and a log of every read.

Selected with ``PYTHON_KEYRING_BACKEND=throwaway_keyring.Keyring`` (this folder on
``PYTHONPATH``); the file is ``$PYTEST_VAULT_TEST_KEYRING``. It never touches the user's
real keyring. Setting ``PYTEST_VAULT_TEST_KEYRING_FAIL`` makes every call raise
``KeyringLocked``, to exercise a locked keyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


def _store() -> Path:
    return Path(os.environ["PYTEST_VAULT_TEST_KEYRING"])


def _load() -> dict[str, str]:
    try:
        return dict(json.loads(_store().read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _check() -> None:
    if os.environ.get("PYTEST_VAULT_TEST_KEYRING_FAIL"):
        raise KeyringLocked("the test keyring is locked")


class Keyring(KeyringBackend):
    priority = 0.01  # type: ignore[assignment]  # never chosen unless named

    def get_password(self, service: str, username: str) -> str | None:
        with open(str(_store()) + ".reads", "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {service} {username}\n")
        _check()
        return _load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        _check()
        entries = _load()
        entries[f"{service}\0{username}"] = password
        _store().write_text(json.dumps(entries), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        _check()
        entries = _load()
        if entries.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("no such entry")
        _store().write_text(json.dumps(entries), encoding="utf-8")


class PlaintextKeyring(Keyring):
    """The throw-away keyring under the name of keyrings.alt's plain-text file backend
    (``keyrings.alt.file.PlaintextKeyring``), which pytest-vault must name and warn about."""

    file_path = "/home/me/.local/share/python_keyring/keyring_pass.cfg"
