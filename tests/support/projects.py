"""Test projects: a temporary folder, the console script run in it, the test keyring."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from console import CONSOLE_SCRIPT, CliResult, run_in_process, run_process

__all__ = ["CONSOLE_SCRIPT", "SERVICE", "SUPPORT", "CliResult", "Project", "ThrowawayKeyring"]

SERVICE = "pytest-vault"
#: This folder: the test keyring backend and the scripted helpers live here.
SUPPORT = Path(__file__).resolve().parent


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
class Project:
    """A temporary project folder with a pytest.ini, and the console script run in it."""

    root: Path

    @property
    def vault_file(self) -> Path:
        return self.root / "secrets.vault.toml"

    def cli(
        self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        """The console script with ``args``, run in this process (see `console`)."""
        return run_in_process(args, cwd=self.root, env=self._environ(env), input=_bytes(input))

    def cli_process(
        self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        """The real console script with ``args``, in a new process."""
        return run_process(args, cwd=self.root, env=self._environ(env), input=_bytes(input))

    @staticmethod
    def _environ(env: dict[str, str] | None) -> dict[str, str]:
        return {**os.environ, **(env or {})}

    def init(self, *args: str) -> str:
        """Create the vault without the keyring; return the new key."""
        result = self.cli("init", "--no-keyring", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def _bytes(data: str | bytes | None) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else (data or b"")
