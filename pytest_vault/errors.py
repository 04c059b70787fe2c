"""The error family: every failure a user can cause, each message written for that user.

Messages are one or two plain sentences: what happened, where the key came from, what to
do. No message ever contains a key or a secret value; build them from names, paths, key
ids and sources only.
"""

from __future__ import annotations

import os

HIDDEN_PATH = "the path given (not repeated here: it looks like a key or a secret)"
# Characters of the runs a value is made of (base64, hex, tokens); no regular expression:
# this module is imported in every run, and compiling one costs more than it saves.
_RUN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")


def looks_like_key(text: str) -> bool:
    """Whether ``text`` holds a vault key, or most of one: its prefix ``PYTEST-VAULT-KEY-1``
    (however its separators were mangled) followed by at least 16 more characters."""
    squeezed = "".join(c for c in text if c.isascii() and c.isalnum()).upper()
    start = squeezed.find("PYTESTVAULTKEY1")
    return start >= 0 and len(squeezed) - start - len("PYTESTVAULTKEY1") >= 16


def _looks_random(text: str) -> bool:
    """A value rather than a file name: spaces, or a long run of letters and digits."""
    if any(character.isspace() for character in text.strip()):
        return True
    run = ""
    for character in text + "\0":
        if character in _RUN_CHARACTERS:
            run += character
            continue
        if len(run) >= 20 and any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
        run = ""
    return False


def shown_path(path: object) -> str:
    """``path`` as a message may show it, unless a key or a secret was typed in its place.

    A key is never shown; text that looks like a value (spaces, a long random-looking
    run) is not shown either when no such file exists.
    """
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    if looks_like_key(text):
        return HIDDEN_PATH
    if _looks_random(os.path.basename(text)) and not os.path.lexists(text):
        return HIDDEN_PATH
    return text


def sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class VaultError(Exception):
    """Base of every error pytest-vault reports to a user (never shown as a traceback)."""

    #: Exit status of the console script for this error (1: a vault error, 2: usage).
    exit_status = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class VaultUsageError(VaultError):
    """The command itself was wrong: a bad name, a missing argument, a refused option."""

    exit_status = 2


class VaultFileError(VaultError):
    """The vault file is missing, unreadable, garbled or of an unknown format version."""


class VaultFileMissingError(VaultFileError):
    """No vault file at the expected path."""


class VaultFileExistsError(VaultFileError):
    """A vault file is already there (``init`` refuses to overwrite it)."""


class KeyFormatError(VaultError):
    """A key is not a well-formed vault key (truncated, mistyped, not a key at all)."""


class NoKeyError(VaultError):
    """No source provided a key."""

    def __init__(self, message: str, tried: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        #: What each source answered, for the prompt.
        self.tried = tried


class WrongKeyError(VaultError):
    """A well-formed key was found, but it does not open this vault."""


class TamperedError(VaultError):
    """A value failed to decrypt with the right key: the file was changed by hand."""


class SecretNameError(VaultUsageError):
    """A secret name breaks the naming rules."""


class SecretValueError(VaultError):
    """A secret value is not acceptable (too large, not text)."""


class MissingSecretError(VaultError):
    """The vault holds no secret of that name."""


class ResetDeclinedError(VaultError):
    """A reset was refused (no confirmation) or declined at the prompt."""

    def __init__(self, message: str, *, at_prompt: bool = False) -> None:
        super().__init__(message)
        #: Declined by the person at the prompt (pytest: an interruption, not a usage error).
        self.at_prompt = at_prompt
