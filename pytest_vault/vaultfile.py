"""The vault file: its TOML format, one value's encryption, and atomic, locked writes.

Layout (format 1)::

    # comment lines
    [vault]
    format = 1
    id = "v_<32 hex>"            # random vault id, bound into every value
    key_id = "k_<16 hex>"        # fingerprint of the key that opens the vault
    cipher = "AES-256-GCM"
    retired_key_ids = [...]      # ids of keys from before a reset or rotation

    [secrets]
    NAME = "<base64 of nonce || ciphertext || tag>"

Reading the header and the names needs no key. Each value is sealed separately, with the
vault id and its name as associated data, so a value moved to another name or vault fails
to open, and changing one secret changes one line.

`VaultFile.parse` reads a file in the exact layout `VaultFile.render` writes with regular
expressions, and imports ``tomllib`` (pure Python, slow, and read at every pytest start-up
by the report header) only for anything else: hand edits, merge conflicts, damage.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import glob
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeGuard

from .errors import (
    SecretNameError,
    SecretValueError,
    TamperedError,
    VaultError,
    VaultFileError,
    VaultFileExistsError,
    VaultFileMissingError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from .key import VaultKey

FORMAT_VERSION: Final = 1
CIPHER: Final = "AES-256-GCM"
MAX_VALUE_BYTES: Final = 1024 * 1024
MAX_NAME_LENGTH: Final = 200
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
LOCK_TIMEOUT_SECONDS: Final = 60.0

# Plain string checks, not regular expressions: the report header reads the vault file in
# every run, and compiling the patterns cost more than reading a file of 50 secrets.
_HEX: Final = frozenset("0123456789abcdef")
_BASE64_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MAX_TOKEN_LENGTH: Final = 4 * ((NONCE_BYTES + MAX_VALUE_BYTES + TAG_BYTES + 2) // 3)
_COMMENT: Final = (
    "# pytest-vault secrets: names are readable, values are encrypted (AES-256-GCM).\n"
    "# Change it with the `pytest-vault` command; see `pytest-vault --help`.\n"
)


def _is_name(name: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``, at most MAX_NAME_LENGTH characters."""
    return name.isascii() and name.isidentifier() and len(name) <= MAX_NAME_LENGTH


def _is_id(value: object, prefix: str, digits: int) -> TypeGuard[str]:
    """``prefix`` and ``digits`` lower-case hex digits (a vault id or a key id)."""
    return (
        isinstance(value, str)
        and len(value) == len(prefix) + digits
        and value.startswith(prefix)
        and _HEX.issuperset(value[len(prefix) :])
    )


def _is_vault_id(value: object) -> TypeGuard[str]:
    return _is_id(value, "v_", 32)


def _is_key_id(value: object) -> TypeGuard[str]:
    return _is_id(value, "k_", 16)


def _is_base64_text(token: str) -> bool:
    """``[A-Za-z0-9+/]+={0,2}``: base64 characters, at most two ``=`` at the end."""
    body = token.rstrip("=")
    return bool(body) and len(token) - len(body) <= 2 and _BASE64_CHARS.issuperset(body)


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise `SecretNameError`.

    The message does not repeat an invalid name: what was typed where a name belongs is
    often a value or a key (``pytest-vault get PYTEST-VAULT-KEY-1...``).
    """
    if not _is_name(name):
        raise SecretNameError(
            f"That is not a valid secret name ({_name_problem(name)}; not repeated here in "
            "case it is a value or a key): use letters, digits and _, "
            f"not starting with a digit, at most {MAX_NAME_LENGTH} characters."
        )
    return name


def is_valid_name(name: object) -> bool:
    """Whether ``name`` is a valid secret name (and so safe to show in a message)."""
    return isinstance(name, str) and _is_name(name)


def _name_problem(name: str) -> str:
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name)} characters long"
    if name[0] in "0123456789":
        return "it starts with a digit"
    position, char = next((i, c) for i, c in enumerate(name, 1) if not _is_name("_" + c))
    return f"character {position} is {char!r}"


def check_value(name: str, value: str) -> str:
    """Return ``value`` if it can be stored, else raise `SecretValueError`."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise SecretValueError(
            f"The value for {name} is not valid Unicode text (it holds lone surrogates)."
        ) from None
    if size > MAX_VALUE_BYTES:
        raise SecretValueError(
            f"The value for {name} is {size:,} bytes; a secret holds at most "
            f"{MAX_VALUE_BYTES:,} bytes (1 MiB)."
        )
    return value


# Plain classes, not dataclasses: the report header imports this module in every run
# with a vault, and defining a dataclass costs about a millisecond (docs/performance.md).


class VaultHeader:
    """The readable part of a vault file: enough to know which key opens it."""

    __slots__ = ("cipher", "format", "key_id", "retired_key_ids", "vault_id")

    def __init__(
        self,
        vault_id: str,
        key_id: str,
        retired_key_ids: tuple[str, ...] = (),
        format: int = FORMAT_VERSION,  # the file's name for it
        cipher: str = CIPHER,
    ) -> None:
        self.vault_id = vault_id
        self.key_id = key_id
        self.retired_key_ids = retired_key_ids
        self.format = format
        self.cipher = cipher

    def _fields(self) -> tuple[str, str, tuple[str, ...], int, str]:
        return (self.vault_id, self.key_id, self.retired_key_ids, self.format, self.cipher)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VaultHeader) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"VaultHeader(vault_id={self.vault_id!r}, key_id={self.key_id!r}, "
            f"retired_key_ids={self.retired_key_ids!r}, format={self.format!r}, "
            f"cipher={self.cipher!r})"
        )

    @classmethod
    def new(cls, key_id: str) -> VaultHeader:
        import secrets

        return cls(vault_id="v_" + secrets.token_hex(16), key_id=key_id)

    def rekeyed(self, key_id: str) -> VaultHeader:
        """The header after a rotation or reset: same vault, new key, old key retired."""
        retired = tuple(k for k in self.retired_key_ids if k != key_id)
        if self.key_id != key_id and self.key_id not in retired:
            retired += (self.key_id,)
        return VaultHeader(self.vault_id, key_id, retired, self.format, self.cipher)


class ValueCipher:
    """Seals and opens the values of one vault with one key (AES-256-GCM, HKDF sub-key)."""

    def __init__(self, key: VaultKey, vault_id: str) -> None:
        self._aead: AESGCM = key.cipher_for(vault_id)
        self._vault_id = vault_id.encode("ascii")

    def _associated_data(self, name: str) -> bytes:
        return b"pytest-vault 1\0" + self._vault_id + b"\0" + name.encode("ascii")

    def seal(self, name: str, value: str) -> str:
        """Encrypt one value under a fresh random nonce; the token is bound to ``name``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), self._associated_data(name))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, name: str, token: str, path: Path) -> str:
        """Decrypt one value; a changed, moved or swapped token raises `TamperedError`."""
        from cryptography.exceptions import InvalidTag

        raw = base64.b64decode(token)
        try:
            plain = self._aead.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._associated_data(name)
            )
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise TamperedError(
                f"The value of {name} in {path} does not decrypt although the key is right: "
                "it was edited, moved from another name or vault, or damaged. "
                f"Set it again with `pytest-vault set {name}`."
            ) from None


class VaultFile:
    """A vault file in memory: its header and the sealed value of each secret."""

    def __init__(self, path: Path, header: VaultHeader, tokens: dict[str, str] | None = None):
        self.path = path
        self.header = header
        self.tokens: dict[str, str] = {} if tokens is None else tokens

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VaultFile) and (self.path, self.header, self.tokens) == (
            other.path,
            other.header,
            other.tokens,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:  # names only: the tokens are ciphertext, but long
        return f"VaultFile(path={self.path!r}, header={self.header!r}, names={self.names!r})"

    # -- reading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> VaultFile:
        """Read and validate a vault file. Needs no key; never needs the write lock."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise VaultFileMissingError(f"There is no vault file at {path}.") from None
        except IsADirectoryError:
            raise VaultFileError(f"{path} is a folder, not a vault file.") from None
        except OSError as exc:
            raise VaultFileError(f"Cannot read the vault file {path}: {exc.strerror}.") from None
        return cls.parse(path, data)

    @classmethod
    def parse(cls, path: Path, data: bytes) -> VaultFile:
        """Validate the bytes of a vault file; every problem is a `VaultFileError`."""
        text = _decode(path, data)
        document = _canonical_document(text)
        if document is None:
            document = _toml_document(path, text)
        return cls(path, *_validate(path, document))

    @property
    def names(self) -> list[str]:
        """The secret names, sorted."""
        return sorted(self.tokens)

    def cipher(self, key: VaultKey) -> ValueCipher:
        return ValueCipher(key, self.header.vault_id)

    def decrypt_all(self, key: VaultKey) -> dict[str, str]:
        """Every value in clear text. The key must be the file's (checked by the key chain)."""
        if key.key_id != self.header.key_id:
            raise VaultError(f"That key does not open {self.path}.")  # guarded by the callers
        cipher = self.cipher(key)
        return {name: cipher.open(name, self.tokens[name], self.path) for name in self.names}

    # -- writing -------------------------------------------------------------------------

    def render(self) -> str:
        import tomli_w

        vault: dict[str, Any] = {
            "format": self.header.format,
            "id": self.header.vault_id,
            "key_id": self.header.key_id,
            "cipher": self.header.cipher,
            "retired_key_ids": list(self.header.retired_key_ids),
        }
        document = {"vault": vault, "secrets": {n: self.tokens[n] for n in self.names}}
        return _COMMENT + tomli_w.dumps(document)

    def save(self, *, create: bool = False) -> None:
        """Write the file atomically. With ``create``, refuse to replace an existing file."""
        write_atomic(self.path, self.render().encode("utf-8"), create=create)


def _parse_with_tomllib(path: Path, data: bytes) -> VaultFile:
    """`VaultFile.parse` without its fast path (the tests compare the two)."""
    return VaultFile(path, *_validate(path, _toml_document(path, _decode(path, data))))


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultFileError(
            f"{path} is not a vault file: it is not text (binary or damaged)."
        ) from None


def _canonical_document(text: str) -> dict[str, Any] | None:
    """What tomllib reads from ``text`` if `render` wrote it, else None (ask tomllib).

    Only a valid file in exactly the layout `render` writes (tomli_w's) is read here: every
    value is then plain hex or base64 between double quotes, which TOML reads as written.
    Anything else (other spacing or comments, CRLF, quoted keys, escapes, a name twice, a
    malformed id or value) goes to tomllib and `_validate`, which say what is wrong.
    """
    if text.startswith(_COMMENT):
        text = text[len(_COMMENT) :]
    head, found, table = text.partition("\n\n[secrets]\n")
    lines = head.split("\n")
    if (
        not found
        or len(lines) < 6
        or lines[0] != "[vault]"
        or lines[1] != f"format = {FORMAT_VERSION}"
        or lines[4] != f'cipher = "{CIPHER}"'
    ):
        return None
    vault_id, key_id = _quoted(lines[2], "id = "), _quoted(lines[3], "key_id = ")
    if not _is_vault_id(vault_id) or not _is_key_id(key_id):
        return None
    if lines[5:] == ["retired_key_ids = []"]:
        retired = []
    elif len(lines) > 7 and lines[5] == "retired_key_ids = [" and lines[-1] == "]":
        retired = [line[5:-2] for line in lines[6:-1]]
        if not all(
            line.startswith('    "') and line.endswith('",') and _is_key_id(line[5:-2])
            for line in lines[6:-1]
        ):
            return None
    else:
        return None
    secrets_table: dict[str, str] = {}
    if table:
        if table[-1] != "\n":
            return None
        for line in table[:-1].split("\n"):
            name, separator, rest = line.partition(' = "')
            token = rest[:-1]
            if not (separator and rest[-1:] == '"' and _is_name(name)):
                return None
            if not _is_base64_text(token) or name in secrets_table:
                return None  # a name twice: tomllib refuses the file, with its own message
            secrets_table[name] = token
    vault = {
        "format": FORMAT_VERSION,
        "id": vault_id,
        "key_id": key_id,
        "cipher": CIPHER,
        "retired_key_ids": retired,
    }
    return {"vault": vault, "secrets": secrets_table}


def _quoted(line: str, prefix: str) -> str | None:
    """The text between the double quotes of ``prefix"text"``, else None."""
    if line.startswith(prefix + '"') and line.endswith('"') and len(line) > len(prefix) + 1:
        return line[len(prefix) + 1 : -1]
    return None


def _toml_document(path: Path, text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long for int()
        if "\n<<<<<<< " in "\n" + text or "\n>>>>>>> " in text:
            raise VaultFileError(
                f"{path} holds unresolved merge conflict markers: resolve the conflict "
                "(keep one line per secret), then run `pytest-vault check`."
            ) from None
        line = getattr(exc, "lineno", None)  # Python 3.14+
        where = f" (line {line})" if line else ""
        raise VaultFileError(
            f"{path} is not a valid vault file: it is not TOML{where}. "
            "It was damaged or edited by hand; restore it from version control."
        ) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise VaultFileError(
            f"{path} is not a valid vault file: it nests arrays or tables too deeply. "
            "It was damaged or edited by hand; restore it from version control."
        ) from None


def _validate(path: Path, document: dict[str, Any]) -> tuple[VaultHeader, dict[str, str]]:
    def broken(why: str) -> VaultFileError:
        return VaultFileError(
            f"{path} is not a valid vault file: {why}. "
            "Restore it from version control, or run `pytest-vault check` for details."
        )

    vault = document.get("vault")
    if not isinstance(vault, dict):
        raise broken("it has no [vault] table")
    version = vault.get("format")
    if type(version) is not int:
        raise broken("its format version is missing")
    if version != FORMAT_VERSION:
        if version > FORMAT_VERSION:
            raise VaultFileError(
                f"{path} uses vault format {version}, newer than this pytest-vault "
                f"understands (format {FORMAT_VERSION}). Upgrade pytest-vault."
            )
        raise broken(f"format version {version} does not exist")
    unknown = set(document) - {"vault", "secrets"}
    if unknown:
        raise broken(f"it has unexpected tables ({', '.join(sorted(unknown))})")
    unknown = set(vault) - {"format", "id", "key_id", "cipher", "retired_key_ids"}
    if unknown:
        raise broken(f"its [vault] table has unexpected entries ({', '.join(sorted(unknown))})")
    vault_id, key_id, cipher = vault.get("id"), vault.get("key_id"), vault.get("cipher")
    if not _is_vault_id(vault_id):
        raise broken("its vault id is missing or malformed")
    if not _is_key_id(key_id):
        raise broken("its key id is missing or malformed")
    if cipher != CIPHER:
        raise broken(f"its cipher is not {CIPHER}")
    retired = vault.get("retired_key_ids", [])
    if not isinstance(retired, list) or not all(_is_key_id(k) for k in retired):
        raise broken("its list of retired key ids is malformed")
    table = document.get("secrets", {})
    if not isinstance(table, dict):
        raise broken("its [secrets] entry is not a table")
    tokens: dict[str, str] = {}
    for name, token in table.items():
        if not _is_name(name):
            raise broken(f"it holds a secret with an invalid name ({name[:40]!r})")
        if not _well_formed_token(token):
            raise broken(f"the value of {name} is not a well-formed encrypted value")
        tokens[name] = token
    header = VaultHeader(vault_id, key_id, tuple(retired), version, cipher)
    return header, tokens


def _well_formed_token(token: object) -> bool:
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH or len(token) % 4:
        return False
    if not _is_base64_text(token):
        return False
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= NONCE_BYTES + TAG_BYTES


# -- atomic, serialised writes ------------------------------------------------------------


def write_atomic(path: Path, data: bytes, *, create: bool = False) -> None:
    """Replace (or, with ``create``, newly create) ``path`` with ``data``, all or nothing.

    The data goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over the target, so a reader sees the old or the new file, never a mix.
    """
    folder = path.parent
    if not folder.is_dir():
        raise VaultFileError(f"Cannot write {path}: the folder {folder} does not exist.")
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise VaultFileError(f"Cannot write {path}: {exc.strerror}.") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        if create:
            try:
                os.link(temp, path)  # atomic "create if absent"
            except FileExistsError:
                raise VaultFileExistsError(f"{path} already exists; it was not changed.") from None
        else:
            os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise VaultFileError(f"Cannot write {path}: {exc.strerror}; it was not changed.") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # The new file is in place: nothing after this point may report the write as failed
    # ("not changed" would be false, and after a rotation the user would drop the new key).
    # A leftover hard link is swept by the next write; a folder that cannot be fsynced
    # (some file systems refuse) only weakens durability across a power cut.
    if create:
        with contextlib.suppress(OSError):
            temp.unlink()
    with contextlib.suppress(OSError):
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - folders cannot be opened there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def write_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the vault's lock file (``<file>.lock``) for one read-modify-write.

    The operating system releases the lock when its holder dies, and the holder removes
    the lock file when it is done, so nothing is left behind. A lock file that was removed
    while we waited for it is stale: lock the new one instead.
    """
    lock_path = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise VaultFileError(
                f"Cannot write {path}: the folder {path.parent} does not exist."
            ) from None
        except OSError as exc:
            raise VaultFileError(f"Cannot lock {path}: {exc.strerror}.") from None
        if not _try_lock(fd, deadline):
            os.close(fd)
            raise VaultError(
                f"Another pytest-vault command has been changing {path} for over "
                f"{timeout:.0f} seconds; try again when it is done."
            )
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if current.st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        _remove_stale_temporaries(path)
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)


def _try_lock(fd: int, deadline: float) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    import fcntl

    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _remove_stale_temporaries(path: Path) -> None:
    # We hold the lock, so any temporary file of this vault belongs to a dead writer. The
    # name is escaped ("s[1].toml"), and the random part has no dot: ".v.toml.x.toml.*.tmp"
    # is a temporary file of the vault "v.toml.x.toml", which is not ours to remove.
    prefix = f".{path.name}."
    for stale in path.parent.glob(glob.escape(prefix) + "*.tmp"):
        if "." not in stale.name[len(prefix) : -len(".tmp")]:
            with contextlib.suppress(OSError):
                stale.unlink()
