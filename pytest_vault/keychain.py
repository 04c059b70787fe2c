"""Where the vault key is looked up, in order; the first source that has it wins.

1. a key file (``--vault-key-file`` / ``--key-file``, else ``PYTEST_VAULT_KEY_FILE``, else
   the ini ``vault_key_file``; `settings` decides which);
2. the environment variable (``PYTEST_VAULT_KEY``; may hold several keys);
3. the ``pytest_vault_key`` hook (other plugins, root ``conftest.py``);
4. the system keyring (service ``pytest-vault``, user name = the key id);
5. a hidden prompt: `keyflows` asks, for both front ends, after `find_key` found nothing.

A key that is found but does not open the vault is an error, never a reason to try the
next source. When nothing is found, `NoKeyError` says what each source answered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import (
    KeyFormatError,
    NoKeyError,
    VaultUsageError,
    WrongKeyError,
    shown_path,
)
from .key import VaultKey, split_keys
from .settings import (
    CONSOLE,
    DEFAULT_KEY_ENV,
    KEY_FILE_ENV,
    KEYRING_POLICIES,
    FrontEnd,
    KeyringPolicy,
)
from .vaultfile import VaultHeader

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "DEFAULT_KEY_ENV",
    "KEYRING_POLICIES",
    "KEYRING_SERVICE",
    "FoundKey",
    "KeyLookup",
    "KeyringPolicy",
    "check_key",
    "find_key",
]

KEYRING_SERVICE: Final = "pytest-vault"
HookLookup = Callable[[str, str], "str | None"]


# Plain classes, not dataclasses: the report header imports this module in every run
# with a vault, and defining a dataclass costs about a millisecond (docs/performance.md).


class FoundKey:
    """A key that opens the vault, and a description of where it came from."""

    __slots__ = ("key", "source", "warnings")

    def __init__(self, key: VaultKey, source: str, warnings: tuple[str, ...] = ()) -> None:
        self.key = key
        self.source = source
        #: Sentences about how the key is kept (a key file others can read, ...).
        self.warnings = warnings

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
        key_file_origin: str = "--key-file",
        front_end: FrontEnd = CONSOLE,
        project: str = "",
    ) -> None:
        self.path = path
        self.key_file = key_file
        #: Where the key file was named (an option, PYTEST_VAULT_KEY_FILE, the ini).
        self.key_file_origin = key_file_origin
        self.front_end = front_end
        #: The project's name, for the label of a keyring entry.
        self.project = project
        self.key_env = key_env
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.keyring = keyring
        self.no_keyring = no_keyring
        #: How the front end spells "do not use the keyring", for messages.
        self.no_keyring_option = no_keyring_option
        self.hook = hook

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
        hook: HookLookup | None = None,
    ) -> KeyLookup:
        """The lookup the settings of a run or command describe."""
        return cls(
            path=settings.vault_file if path is None else path,
            key_file=settings.key_file,
            key_env=settings.key_env,
            environ=environ,
            keyring=settings.keyring,
            no_keyring=settings.no_keyring,
            no_keyring_option=settings.front_end.no_keyring_option,
            hook=hook,
            key_file_origin=settings.key_file_origin,
            front_end=settings.front_end,
            project=settings.rootdir.name,
        )

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
        f"No key for {lookup.path} was found: " + "; ".join(tried) + ". " + no_key_advice(lookup),
        tried=tuple(tried),
    )


def no_key_advice(lookup: KeyLookup) -> str:
    """What to do when no source has the key (the one place a reset is suggested)."""
    return (
        f"Set {lookup.key_env}, or {KEY_FILE_ENV} to a file holding the key, or run "
        "`pytest-vault unlock` or `pytest --vault-unlock` on a terminal; if the key is "
        "lost, `pytest-vault reset` starts over without the secrets."
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
        return retired_key_advice(header, key.key_id)
    # Not one this vault has used: a key from a rotation this version of the file has
    # not seen yet is as likely as another vault's key, and neither calls for a reset.
    return (
        f"this version of the file needs the key {header.key_id}, not {key.key_id}. It may "
        "be a newer key from a rotation this branch does not have yet (merge the main "
        "branch, then try again), or another vault's key."
    )


def retired_key_advice(header: VaultHeader, key_id: str) -> str:
    return (
        f"it is a key from before a reset or rotation of this vault, which has retired it "
        f"({key_id}; rotated; get the new key): the vault now needs {header.key_id}. Get "
        "the new key from whoever rotated it (`pytest-vault key` on their machine)."
    )


def _from_key_file(header: VaultHeader, lookup: KeyLookup, tried: list[str]) -> FoundKey | None:
    if lookup.key_file is None:
        tried.append("no key file was given")
        return None
    shown = shown_path(lookup.key_file)
    # Named by an option, the path says it all; by the variable or the ini, say which.
    origin = "" if lookup.key_file_origin.startswith("--") else f" ({lookup.key_file_origin})"
    source = f"the key file {shown}{origin}"
    try:
        text = lookup.key_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VaultUsageError(f"The key file {shown}{origin} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise VaultUsageError(f"Cannot read the key file {shown}{origin}: {why}.") from None
    # Key files may carry comment lines (a label such as "PUBLIC DEMO KEY").
    key_lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    found = check_key(header, "\n".join(key_lines), source, lookup.path)
    found.warnings = key_file_warnings(lookup.key_file)
    return found


def key_file_warnings(path: Path) -> tuple[str, ...]:
    """What is unsafe about how a key file in use is kept (checked only when one is used)."""
    warnings: list[str] = []
    shown = shown_path(path)
    if os.name == "posix":
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & 0o044:
            warnings.append(
                f"the key file {shown} is readable by other users; make it private with "
                f"`chmod 600 {shown}`"
            )
    from .repository import unignored_in_work_tree

    root = unignored_in_work_tree(path.absolute())
    if root is not None:
        warnings.append(
            f"the key file {shown} is inside the git work tree {root} and git does not "
            "ignore it, so it could be committed; move it out of the repository or add it "
            "to .gitignore"
        )
    return tuple(warnings)


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
    unusable = keyring_unusable()
    if unusable is not None:
        tried.append(unusable)
        return None
    text, problem = read_keyring(header.key_id)
    if text is None:
        retired = _retired_in_keyring(header)
        tried.append(f"{problem}, only {retired}" if retired else problem)
        return None
    return check_key(header, text, f"the system keyring ({keyring_name()})", lookup.path)


def _retired_in_keyring(header: VaultHeader) -> str | None:
    """Why the keyring has no current key when it holds a key this vault retired."""
    for key_id in reversed(header.retired_key_ids):  # the newest retired key first
        text, _ = read_keyring(key_id)
        if text:
            return (
                f"{key_id}, a key this vault has retired (rotated; get the new key from "
                "whoever rotated it)"
            )
    return None


# -- the system keyring: every failure becomes "not found, because ..." -----------------------


def keyring_name() -> str:
    """A short name of the keyring backend in use (for messages and the report header)."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return "unavailable"
    name = type(backend).__module__.rsplit(".", 1)[-1]
    return f"{name}, which stores keys in plain text" if is_plaintext(backend) else name


def is_plaintext(backend: object) -> bool:
    """Whether a keyring backend stores keys unencrypted (keyrings.alt's plain-text file)."""
    kind = type(backend)
    if "plaintext" in kind.__name__.lower():
        return True
    return kind.__module__.startswith("keyrings.alt.file") and "Encrypted" not in kind.__name__


def keyring_unusable() -> str | None:
    """Why the keyring backend in use cannot keep a key, or None when it can."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:  # reading or saving reports this failure in its own words
        return None
    if isinstance(backend, fail.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        return "no system keyring is available on this machine"
    if type(backend).__module__ == "keyring.backends.null":
        return "the keyring backend in use (null) keeps nothing"
    return None


def plaintext_warning() -> str | None:
    """A warning when keys saved in the keyring would be stored in plain text."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return None
    if not is_plaintext(backend):
        return None
    where = getattr(backend, "file_path", None)
    at = f" ({where})" if isinstance(where, str) else ""
    return (
        f"Warning: the keyring backend {type(backend).__module__}.{type(backend).__name__} "
        f"stores keys in plain text{at}; anyone who can read that file has the key."
    )


_DESCRIBE_LIMIT = 200


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > _DESCRIBE_LIMIT:  # cut between words, never inside one
        text = text[:_DESCRIBE_LIMIT].rsplit(" ", 1)[0].rstrip(",;:") + " …"
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


def save_in_keyring(key: VaultKey, label: str | None = None) -> str | None:
    """Store the key under its key id; None on success, else why it failed.

    ``label`` names the vault file and project where the backend keeps a label beside
    the entry (the Secret Service); keyring's own interface has none, so other backends
    show the service ``pytest-vault`` and the key id only.
    """
    unusable = keyring_unusable()
    if unusable is not None:
        return f"the key could not be saved in the system keyring: {unusable}"
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, key.key_id, key.text())
    except Exception as exc:
        return f"the key could not be saved in the system keyring ({_describe(exc)})"
    if label:
        _label_entry(key.key_id, label)
    return None


def keyring_label(path: Path, project: str) -> str:
    """The label of a keyring entry: which vault file of which project it opens."""
    return f"pytest-vault key for {path.name} of {project or path.parent.name} ({path})"


def _label_entry(key_id: str, label: str) -> None:
    """Best effort: give the Secret Service item a label naming the vault."""
    try:
        import keyring
        from keyring.backends import SecretService

        backend = keyring.get_keyring()
        if not isinstance(backend, SecretService.Keyring):
            return
        collection = backend.get_preferred_collection()  # type: ignore[no-untyped-call]
        for item in collection.search_items({"service": KEYRING_SERVICE, "username": key_id}):
            item.set_label(label)
    except Exception:  # a label is a courtesy; the key is saved either way
        return


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
