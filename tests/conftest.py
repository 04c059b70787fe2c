"""Shared fixtures: every test runs isolated from the user's keyring, HOME and variables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

from projects import CONSOLE_SCRIPT, SERVICE, CliResult, Project, ThrowawayKeyring  # noqa: E402

__all__ = ["CONSOLE_SCRIPT", "SERVICE", "CliResult", "Project", "ThrowawayKeyring"]


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> ThrowawayKeyring:
    """No test sees the developer's key, CI flags, keyring or HOME."""
    base = tmp_path_factory.mktemp("isolated")
    for name in ("PYTEST_VAULT_KEY", "CI", "GITHUB_ACTIONS", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    home = base / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "throwaway_keyring.Keyring")
    monkeypatch.setenv("PYTEST_VAULT_TEST_KEYRING", str(base / "keyring.json"))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])
    )
    import keyring
    from throwaway_keyring import Keyring

    monkeypatch.setattr(keyring.core, "_keyring_backend", Keyring())
    return ThrowawayKeyring(base / "keyring.json")


@pytest.fixture
def test_keyring(isolated_environment: ThrowawayKeyring) -> ThrowawayKeyring:
    return isolated_environment


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return Project(root)


# -- the real Secret Service keyring (tests marked real_keyring) ------------------------------

from secret_service import SecretServiceSession, secret_service_fixture  # noqa: E402


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretServiceSession]:
    """One private, unlocked Secret Service keyring (D-Bus + gnome-keyring) per test session.

    Skips when dbus/gnome-keyring are missing, fails instead when ``CI`` is set (see
    ``tests/support/secret_service.py``). Entries written by one test stay for the next: give each
    test a vault of its own (a new key id).
    """
    yield from secret_service_fixture(tmp_path_factory)
