"""Test projects: a temporary folder, the real console script run in it, the test keyring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

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
