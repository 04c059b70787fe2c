"""Shared fixtures: every test runs isolated from the user's keyring, HOME and variables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

from projects import Project, ThrowawayKeyring  # noqa: E402

if TYPE_CHECKING:
    from pytest_vault.key import VaultKey


@pytest.hookimpl(optionalhook=True)  # an xdist hook: `-p no:xdist` still works
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker more than CPUs. A third of the suite's time is spent waiting
    on the programs tests start (pytest runs, the console script, git, terminals), so one
    worker per CPU leaves them idle (2 CPUs: ~127 s with 2 workers, ~99 s with 3, ~109 s with
    4). ``PYTEST_XDIST_AUTO_NUM_WORKERS`` and ``-n logical`` keep their meaning."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or config.option.numprocesses == "logical":
        return None
    return (os.cpu_count() or 1) + 1


@pytest.fixture(scope="session")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the compiled (and assertion-rewritten) modules of every Python the
    tests start, shared by the xdist workers of this run and removed with its temporary
    folders."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above popen-gwN
    return base / "pycache"


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, bytecode_cache: Path
) -> ThrowawayKeyring:
    """No test sees the developer's key, CI flags, keyring or HOME."""
    base = tmp_path_factory.mktemp("isolated")
    # Every pytest a test starts would otherwise parse and rewrite every module of every
    # installed plugin again (hypothesis alone: ~1.5 s) when the developer's shell sets
    # PYTHONDONTWRITEBYTECODE; cached outside the projects, so no __pycache__ shows in them.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(bytecode_cache))
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
def key() -> VaultKey:
    """A new vault key (modules whose ``key`` is a text or a vault define their own)."""
    from pytest_vault.key import VaultKey

    return VaultKey.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where a test's vault file goes."""
    return tmp_path / "secrets.vault.toml"


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
