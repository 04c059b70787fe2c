"""Shared fixtures: every test runs isolated from the user's keyring, HOME and variables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

# Where pip put the console script: beside the interpreter in a POSIX venv, in Scripts\ (as
# pytest-vault.exe) on Windows.
_SCRIPTS = sysconfig.get_path("scripts")
CONSOLE_SCRIPT = shutil.which("pytest-vault", path=_SCRIPTS) or str(Path(_SCRIPTS, "pytest-vault"))
SERVICE = "pytest-vault"


@dataclass
class ThrowawayKeyring:
    """The test keyring's file: what is stored, and how often it was read."""

    path: Path

    def entries(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {key.split("\0", 1)[1]: value for key, value in raw.items()}

    def put(self, key_id: str, key_text: str) -> None:
        raw = {} if not self.path.exists() else json.loads(self.path.read_text("utf-8"))
        raw[f"{SERVICE}\0{key_id}"] = key_text
        self.path.write_text(json.dumps(raw), encoding="utf-8")

    def reads(self) -> list[str]:
        try:
            return Path(str(self.path) + ".reads").read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []


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


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A temporary project folder with a pytest.ini, and the console script run in it."""

    root: Path

    @property
    def vault_file(self) -> Path:
        return self.root / "secrets.vault.toml"

    def cli(
        self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        environ = dict(os.environ)
        environ.update(env or {})
        data = input.encode("utf-8") if isinstance(input, str) else input
        done = subprocess.run(
            [CONSOLE_SCRIPT, *args],
            cwd=self.root,
            input=data if data is not None else b"",
            capture_output=True,
            env=environ,
            timeout=60,
            check=False,
        )
        return CliResult(
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def init(self, *args: str) -> str:
        """Create the vault without the keyring; return the new key."""
        result = self.cli("init", "--no-keyring", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


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
    ``tests/secret_service.py``). Entries written by one test stay for the next: give each
    test a vault of its own (a new key id).
    """
    yield from secret_service_fixture(tmp_path_factory)
