"""Talking to the user's terminal, shared by the plugin and the console script.

"On a terminal" means standard input was a terminal when the process started; pytest
points file descriptor 0 at /dev/null early, so the package remembers it at import. The
questions themselves go to /dev/tty, never to (captured) standard input, and typed keys
and secrets are not echoed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, TextIO

from . import _STDIN_WAS_TTY as STDIN_WAS_TTY

if TYPE_CHECKING:
    from .keyflows import Prompter


def terminal_available() -> bool:
    """True when standard input was a terminal at start and the terminal can be opened."""
    if not STDIN_WAS_TTY:
        return False
    if sys.platform == "win32":  # pragma: no cover - getpass uses the console there
        return True
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def ask_hidden(prompt: str) -> str:
    """Read a line from the terminal without echo (raises EOFError on end of input)."""
    import getpass  # not at import: the plugin imports this module in every pytest run

    return getpass.getpass(prompt)


def _tty_streams() -> tuple[TextIO, TextIO]:
    if sys.platform == "win32":  # pragma: no cover
        return sys.stdin, sys.stderr
    # A tty is not seekable, so "r+" fails: open it once to read and once to write.
    reader = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
    writer = open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115
    return reader, writer


def tell(text: str) -> None:
    """Write a line to the terminal (not to captured output)."""
    _, writer = _tty_streams()
    try:
        print(text, file=writer, flush=True)
    finally:
        _close(writer)


def ask_yes_no(question: str, *, default: bool) -> bool:
    """Ask a yes/no question on the terminal; the default shows in capitals."""
    choices = "[Y/n]" if default else "[y/N]"
    reader, writer = _tty_streams()
    try:
        while True:
            writer.write(f"{question} {choices} ")
            writer.flush()
            answer = reader.readline()
            if not answer:  # end of input: take the safe answer
                writer.write("\n")
                return False
            answer = answer.strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            writer.write("Please answer y or n.\n")
    finally:
        _close(reader)
        _close(writer)


def _close(stream: TextIO) -> None:
    if stream not in (sys.stdin, sys.stderr):
        with contextlib.suppress(OSError):
            stream.close()


class TerminalPrompter:
    """The `keyflows.Prompter` for real use: questions on ``/dev/tty``.

    ``say`` goes to ``say_to`` when given (the console script: standard error), else to
    the terminal when there is one, else to standard error. Without a terminal
    (``interactive`` False) the flows never ask.
    """

    def __init__(self, say_to: TextIO | None = None) -> None:
        self._say_to = say_to
        self.interactive = terminal_available()

    def say(self, text: str) -> None:
        if self._say_to is not None:
            print(text, file=self._say_to, flush=True)
        elif self.interactive:
            tell(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def ask_hidden(self, prompt: str) -> str:
        return ask_hidden(prompt)

    def ask_yes_no(self, question: str, *, default: bool) -> bool:
        return ask_yes_no(question, default=default)


def open_prompter(say_to: TextIO | None = None) -> Prompter:
    """The prompter both front ends use (tests replace this function with a scripted one)."""
    return TerminalPrompter(say_to)
