"""A temporary git repository with a vault, driven by the real git and the console script.

The commands a test runs itself run in this process (see `console`); the ones git runs
(the merge and diff drivers) are the real console script, found on PATH as a user's git
finds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from console import CliResult, run_in_process

BIN = Path(sys.executable).parent
#: What `GitRepo` runs return (the console script's result; for git, its own).
Run = CliResult


@dataclass
class GitRepo:
    """A repository whose git finds ``pytest-vault`` on PATH, as a user's would."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path) -> GitRepo:
        root.mkdir(parents=True)
        env = dict(os.environ)
        env.update(
            PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),
            GIT_AUTHOR_NAME="Tester",
            GIT_AUTHOR_EMAIL="tester@example.com",
            GIT_COMMITTER_NAME="Tester",
            GIT_COMMITTER_EMAIL="tester@example.com",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_PAGER="cat",
            PAGER="cat",
        )
        env.pop("PYTEST_VAULT_KEY", None)
        repo = cls(root, env)
        repo.git("init", "-q", "-b", "main")
        repo.git("config", "commit.gpgsign", "false")
        (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        return repo

    @property
    def vault(self) -> Path:
        return self.root / "secrets.vault.toml"

    def _environ(self, keys: list[str] | None) -> dict[str, str]:
        env = dict(self.env)
        if keys:
            env["PYTEST_VAULT_KEY"] = ",".join(keys)
        return env

    def git(self, *args: str, keys: list[str] | None = None, check: bool = True) -> Run:
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=self._environ(keys),
            input=b"",
            capture_output=True,
            timeout=120,
            check=False,
        )
        result = Run(
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )
        if check:
            assert result.returncode == 0, f"git {' '.join(args)}: {result.output}"
        return result

    def cli(self, *args: str, input: str | None = None, keys: list[str] | None = None) -> Run:
        data = (input or "").encode("utf-8")
        return run_in_process(args, cwd=self.root, env=self._environ(keys), input=data)

    def ok(self, *args: str, input: str | None = None, keys: list[str] | None = None) -> Run:
        done = self.cli(*args, input=input, keys=keys)
        assert done.returncode == 0, f"pytest-vault {' '.join(args)}: {done.output}"
        return done

    def init(self) -> str:
        """A vault with drivers configured, committed on main; returns its key."""
        key = self.ok("init", "--no-keyring").stdout.strip()
        self.ok("git-setup")
        self.commit("vault", "-A")
        return key

    def set(self, key: str, name: str, value: str) -> None:
        self.ok("set", name, input=value, keys=[key])

    def get(self, name: str, keys: list[str]) -> str:
        return self.ok("get", name, keys=keys).stdout.removesuffix("\n")

    def commit(self, message: str, *paths: str) -> None:
        self.git("add", *(paths or ("secrets.vault.toml",)))
        self.git("commit", "-q", "-m", message)

    def names(self) -> list[str]:
        return self.ok("list").stdout.split()

    def key_id(self) -> str:
        for line in self.vault.read_text(encoding="utf-8").splitlines():
            if line.startswith("key_id = "):
                return line.split('"')[1]
        raise AssertionError("no key id")
