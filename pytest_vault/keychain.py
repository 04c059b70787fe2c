"""Where the vault key is looked up, in order; the first source that has it wins.

1. a key file (``--vault-key-file`` / ``--key-file``);
2. the environment variable (``PYTEST_VAULT_KEY``; may hold several keys);
3. the ``pytest_vault_key`` hook (other plugins, root ``conftest.py``);
4. the system keyring (service ``pytest-vault``, user name = the key id);
5. a hidden prompt: the front ends do that themselves, after `find_key` found nothing.

A key that is found but does not open the vault is an error, never a reason to try the
next source. When nothing is found, `NoKeyError` says what each source answered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Literal

from .errors import KeyFormatError, NoKeyError, VaultUsageError, WrongKeyError
from .key import VaultKey, split_keys
from .vaultfile import VaultHeader

KEYRING_SERVICE: Final = "pytest-vault"
DEFAULT_KEY_ENV: Final = "PYTEST_VAULT_KEY"

KeyringPolicy = Literal["auto", "always", "never"]
KEYRING_POLICIES: Final = ("auto", "always", "never")
HookLookup = Callable[[str, str], "str | None"]


# Plain classes, not dataclasses: the report header imports this module in every run
# with a vault, and defining a dataclass costs about a millisecond (docs/performance.md).


class FoundKey:
    """A key that opens the vault, and a description of where it came from."""

    __slots__ = ("key", "source")

    def __init__(self, key: VaultKey, source: str) -> None:
        self.key = key
        self.source = source

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FoundKey) and self.key == other.key and self.source == other.source

    def __hash__(self) -> int:
        return hash((self.key, self.source))

    def __repr__(self) -> str:
        return f"FoundKey(key={self.key!r}, source={self.source!r})"


class KeyLookup:
    """How to look for a key: the settings of one run or command."""

    def __init__(
        self,
        path: Path,
        *,
        key_file: Path | None = None,
        key_env: str = DEFAULT_KEY_ENV,
        environ: Mapping[str, str] | None = None,
        keyring: KeyringPolicy = "auto",
        no_keyring: bool = False,
        no_keyring_option: str = "--no-keyring",
        hook: HookLookup | None = None,
    ) -> None:
        self.path = path
        self.key_file = key_file
        self.key_env = key_env
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.keyring = keyring
        self.no_keyring = no_keyring
        #: How the front end spells "do not use the keyring", for messages.
        self.no_keyring_option = no_keyring_option
        self.hook = hook

    def keyring_readable(self) -> tuple[bool, str]:
        """Whether the keyring may be read, and if not, why not."""
        if self.no_keyring:
            return False, f"the keyring was not read ({self.no_keyring_option})"
        if self.keyring == "never":
            return False, "the keyring was not read (vault_keyring = never)"
        if self.keyring == "auto" and ci_is_set(self.environ):
            return (
                False,
                "the keyring was not read because CI is set (vault_keyring = always reads it)",
            )
        return True, ""

    def keyring_writable(self) -> tuple[bool, str]:
        """Whether a new key may be saved in the keyring (the same rules as reading)."""
        readable, why = self.keyring_readable()
        return readable, why.replace("was not read", "was not used")


def ci_is_set(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_key(header: VaultHeader, lookup: KeyLookup) -> FoundKey:
    """Run the key chain for the vault whose header is given."""
    tried: list[str] = []
    for source in (_from_key_file, _from_environment, _from_hook, _from_keyring):
        found = source(header, lookup, tried)
        if found is not None:
            return found
    raise NoKeyError(
        f"No key for {lookup.path} was found: " + "; ".join(tried) + ". "
        f"Set {lookup.key_env}, or save the key in the keyring with `pytest-vault unlock` "
        "or `pytest --vault-unlock` on a terminal.",
        tried=tuple(tried),
    )


def check_key(header: VaultHeader, text: str, source: str, path: Path) -> FoundKey:
    """Parse ``text`` as the key of this vault; say clearly why it is not."""
    try:
        key = VaultKey.parse(text)
    except KeyFormatError as exc:
        raise KeyFormatError(
            f"The key from {source} cannot open {path}: {exc}. Copy it again, in full."
        ) from None
    if key.key_id != header.key_id:
        raise WrongKeyError(f"The key from {source} does not open {path}: {_mismatch(header, key)}")
    return FoundKey(key, source)


def _mismatch(header: VaultHeader, key: VaultKey) -> str:
    if key.key_id in header.retired_key_ids:
        return (
            f"it is a key from before a reset or rotation of this vault ({key.key_id}; "
            f"the vault now needs {header.key_id}). Get the current key from whoever "
            "rotated it; if it is lost, `pytest --vault-reset` starts over without the secrets."
        )
    return (
        f"it is the key of another vault ({key.key_id}; this vault needs {header.key_id}). "
        "Use this vault's key; if it is lost, `pytest --vault-reset` starts over."
    )


def _from_key_file(header: VaultHeader, lookup: KeyLookup, tried: list[str]) -> FoundKey | None:
    if lookup.key_file is None:
        tried.append("no key file was given")
        return None
    source = f"the key file {lookup.key_file}"
    try:
        text = lookup.key_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VaultUsageError(f"The key file {lookup.key_file} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise VaultUsageError(f"Cannot read the key file {lookup.key_file}: {why}.") from None
    # Key files may carry comment lines (a label such as "PUBLIC DEMO KEY").
    key_lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return check_key(header, "\n".join(key_lines), source, lookup.path)


def _from_environment(header: VaultHeader, lookup: KeyLookup, tried: list[str]) -> FoundKey | None:
    name = lookup.key_env
    keys = split_keys(lookup.environ.get(name, ""))
    if not keys:
        # An empty variable is "not set": forks get empty secrets in GitHub Actions.
        tried.append(f"{name} is not set")
        return None
    source = name if len(keys) == 1 else f"{name} (key {{n}} of {len(keys)})"
    parsed: list[tuple[int, VaultKey]] = []
    malformed: list[tuple[int, KeyFormatError]] = []
    for position, text in enumerate(keys, start=1):
        try:
            parsed.append((position, VaultKey.parse(text)))
        except KeyFormatError as exc:
            malformed.append((position, exc))
    # The matching key wins, even beside a malformed one (a rotation in progress).
    for position, key in parsed:
        if key.key_id == header.key_id:
            return FoundKey(key, source.format(n=position))
    if malformed:
        position, problem = malformed[0]
        raise KeyFormatError(
            f"The key from {source.format(n=position)} cannot open {lookup.path}: {problem}. "
            "Copy it again, in full."
        )
    if len(parsed) == 1:
        raise WrongKeyError(
            f"The key from {name} does not open {lookup.path}: {_mismatch(header, parsed[0][1])}"
        )
    ids = ", ".join(key.key_id for _, key in parsed)
    raise WrongKeyError(
        f"None of the {len(parsed)} keys in {name} ({ids}) opens {lookup.path}, which needs "
        f"{header.key_id}. Add this vault's current key to {name}."
    )


def _from_hook(header: VaultHeader, lookup: KeyLookup, tried: list[str]) -> FoundKey | None:
    if lookup.hook is None:
        return None
    text = lookup.hook(header.vault_id, header.key_id)
    if not text:
        tried.append("no pytest_vault_key hook returned a key")
        return None
    return check_key(header, text, "the pytest_vault_key hook", lookup.path)


def _from_keyring(header: VaultHeader, lookup: KeyLookup, tried: list[str]) -> FoundKey | None:
    readable, why = lookup.keyring_readable()
    if not readable:
        tried.append(why)
        return None
    text, problem = read_keyring(header.key_id)
    if text is None:
        tried.append(problem)
        return None
    return check_key(header, text, f"the system keyring ({keyring_name()})", lookup.path)


# -- the system keyring: every failure becomes "not found, because ..." -----------------------


def keyring_name() -> str:
    """A short name of the keyring backend in use (for messages and the report header)."""
    try:
        import keyring

        return type(keyring.get_keyring()).__module__.rsplit(".", 1)[-1]
    except Exception:
        return "unavailable"


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described + _backend_hint(exc)


def _backend_hint(exc: BaseException) -> str:
    """Name PYTHON_KEYRING_BACKEND when it is what failed: keyring's own error does not
    ("ValueError: Empty module name", "ModuleNotFoundError: No module named 'no'")."""
    configured = os.environ.get("PYTHON_KEYRING_BACKEND")
    if configured is None or not isinstance(exc, ImportError | ValueError | AttributeError):
        return ""
    try:
        from keyring.core import load_keyring

        load_keyring(configured)
    except (ImportError, ValueError, AttributeError, TypeError):
        return (
            f"; PYTHON_KEYRING_BACKEND={configured!r} names no keyring backend that can be loaded"
        )
    except Exception:
        return ""
    return ""


def read_keyring(key_id: str) -> tuple[str | None, str]:
    """The key stored for ``key_id``, or None and why there is none."""
    try:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, key_id)
    except Exception as exc:  # any backend failure means "no key from the keyring"
        return None, f"the system keyring could not be read ({_describe(exc)})"
    if not value:
        return None, f"the system keyring ({keyring_name()}) has no entry for {key_id}"
    return value, ""


def save_in_keyring(key: VaultKey) -> str | None:
    """Store the key under its key id; None on success, else why it failed."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, key.key_id, key.text())
    except Exception as exc:
        return f"the key could not be saved in the system keyring ({_describe(exc)})"
    return None


def remove_from_keyring(key_id: str) -> str | None:
    """Delete the entry of ``key_id``; None on success, else why nothing was removed."""
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, key_id)
        except PasswordDeleteError:
            return f"the system keyring ({keyring_name()}) has no entry for {key_id}"
    except Exception as exc:
        return f"the system keyring could not be changed ({_describe(exc)})"
    return None


def write_key_file(path: Path, key: VaultKey) -> None:
    """Write the key to a new file readable only by its owner; never replace a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultUsageError(f"{path} already exists; a key file is never overwritten.") from None
    except OSError as exc:
        raise VaultUsageError(f"Cannot create the key file {path}: {exc.strerror}.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(key.text() + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def check_key_file_free(path: Path | None) -> None:
    """Refuse early, before anything changes, when a ``--key-out`` file already exists."""
    if path is not None and (path.exists() or path.is_symlink()):
        raise VaultUsageError(f"{path} already exists; a key file is never overwritten.")
