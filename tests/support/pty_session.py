"""A program on a pseudo-terminal (pexpect), with everything it showed kept as a
transcript: the console script's and pytest's terminal flows."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import pexpect
from console import CONSOLE_SCRIPT

#: pytest runs on a terminal skip hypothesis's plugin (start-up time only) and the cache.
PYTEST_ARGS = ("-m", "pytest", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")


class Terminal:
    def __init__(
        self,
        command: str,
        args: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        dimensions: tuple[int, int] = (24, 80),
    ) -> None:
        self.transcript = io.StringIO()
        self.child = pexpect.spawn(
            command,
            args,
            cwd=str(cwd),
            env={**os.environ, **(env or {})},
            encoding="utf-8",
            timeout=timeout,
            dimensions=dimensions,
        )
        self.child.logfile_read = self.transcript

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def expect_exact(self, text: str) -> None:
        self.child.expect_exact(text)

    def send(self, line: str) -> None:
        self.child.sendline(line)

    def type_hidden(self, text: str) -> None:
        # Wait until echo is off, so a typed value could not show even by accident.
        assert self.child.waitnoecho(timeout=self.child.timeout)
        self.child.sendline(text)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        status = self.child.exitstatus
        assert isinstance(status, int)
        return status

    @property
    def text(self) -> str:
        """Everything the program showed so far."""
        return self.transcript.getvalue()


def console_on_terminal(
    root: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    width: int = 250,
) -> Terminal:
    """The console script pip installed, on a pseudo-terminal, in ``root``."""
    return Terminal(
        CONSOLE_SCRIPT, list(args), cwd=root, env=env, timeout=timeout, dimensions=(24, width)
    )


def pytest_on_terminal(
    root: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    width: int = 80,
) -> Terminal:
    """``python -m pytest`` on a pseudo-terminal, in ``root``."""
    return Terminal(
        sys.executable,
        [*PYTEST_ARGS, *args],
        cwd=root,
        env=env,
        timeout=timeout,
        dimensions=(24, width),
    )
