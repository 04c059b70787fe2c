"""The vault file's format: its header, and parsing, validating and rendering its TOML.

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

Reading the header and the names needs no key. Each value is sealed separately (see
`cipher`), so changing one secret changes one line. Where the bytes come from and how they
are written is `fileio`'s job; what a name or a value may be is `names`'.

`VaultFile.parse` reads a file in the exact layout `VaultFile.render` writes with plain
string checks (`canonical_reader`), and imports ``tomllib`` (pure Python, slow, and read at
every pytest start-up by the report header) only for anything else: hand edits, merge
conflicts, damage.
"""

from __future__ import annotations

import binascii
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeGuard

from . import fileio
from .cipher import CIPHER, NONCE_BYTES, TAG_BYTES, ValueCipher
from .errors import VaultError, VaultFileError
from .fileio import write_atomic, write_lock
from .names import (
    MAX_NAME_LENGTH,
    MAX_VALUE_BYTES,
    check_name,
    check_value,
    is_valid_name,
)

if TYPE_CHECKING:
    from .key import VaultKey

# Kept importable from here for the modules that always did (`check_name` and friends come
# from `names`, the writes from `fileio`, the cipher from `cipher`).
__all__ = [
    "CIPHER",
    "FORMAT_VERSION",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "ValueCipher",
    "VaultFile",
    "VaultHeader",
    "check_name",
    "check_value",
    "is_valid_name",
    "write_atomic",
    "write_lock",
]

FORMAT_VERSION: Final = 1

# Plain string checks, not regular expressions: the report header reads the vault file in
# every run, and compiling the patterns cost more than reading a file of 50 secrets.
_HEX: Final = frozenset("0123456789abcdef")
_BASE64_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MAX_TOKEN_LENGTH: Final = 4 * ((NONCE_BYTES + MAX_VALUE_BYTES + TAG_BYTES + 2) // 3)
COMMENT: Final = (
    "# pytest-vault secrets: names are readable, values are encrypted (AES-256-GCM).\n"
    "# Change it with the `pytest-vault` command; see `pytest-vault --help`.\n"
)


def _is_id(value: object, prefix: str, digits: int) -> TypeGuard[str]:
    """``prefix`` and ``digits`` lower-case hex digits (a vault id or a key id)."""
    return (
        isinstance(value, str)
        and len(value) == len(prefix) + digits
        and value.startswith(prefix)
        and _HEX.issuperset(value[len(prefix) :])
    )


def is_vault_id(value: object) -> TypeGuard[str]:
    return _is_id(value, "v_", 32)


def is_key_id(value: object) -> TypeGuard[str]:
    return _is_id(value, "k_", 16)


def is_base64_text(token: str) -> bool:
    """``[A-Za-z0-9+/]+={0,2}``: base64 characters, at most two ``=`` at the end."""
    body = token.rstrip("=")
    return bool(body) and len(token) - len(body) <= 2 and _BASE64_CHARS.issuperset(body)


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
        """Read and validate a vault file. Needs no key; never needs the write lock.

        Anything but a regular file (or a link to one) at ``path`` is refused unread.
        """
        return cls.parse(path, fileio.read_vault_bytes(path))

    @classmethod
    def parse(cls, path: Path, data: bytes) -> VaultFile:
        """Validate the bytes of a vault file; every problem is a `VaultFileError`."""
        from .canonical_reader import canonical_document

        text = _decode(path, data)
        document = canonical_document(text)
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
        return COMMENT + tomli_w.dumps(document)

    def save(self, *, create: bool = False) -> None:
        """Write the file atomically. With ``create``, refuse to replace an existing file.

        A change of an existing file holds `write_lock` around its read-modify-write.
        """
        fileio.write_atomic(self.path, self.render().encode("utf-8"), create=create)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultFileError(
            f"{path} is not a vault file: it is not text (binary or damaged)."
        ) from None


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
    if not is_vault_id(vault_id):
        raise broken("its vault id is missing or malformed")
    if not is_key_id(key_id):
        raise broken("its key id is missing or malformed")
    if cipher != CIPHER:
        raise broken(f"its cipher is not {CIPHER}")
    retired = vault.get("retired_key_ids", [])
    if not isinstance(retired, list) or not all(is_key_id(k) for k in retired):
        raise broken("its list of retired key ids is malformed")
    table = document.get("secrets", {})
    if not isinstance(table, dict):
        raise broken("its [secrets] entry is not a table")
    tokens: dict[str, str] = {}
    for name, token in table.items():
        if not is_valid_name(name):
            raise broken(f"it holds a secret with an invalid name ({name[:40]!r})")
        if not _well_formed_token(token):
            raise broken(f"the value of {name} is not a well-formed encrypted value")
        tokens[name] = token
    header = VaultHeader(vault_id, key_id, tuple(retired), version, cipher)
    return header, tokens


def _well_formed_token(token: object) -> bool:
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH or len(token) % 4:
        return False
    # One check, in C: the base64 alphabet, padding only at the end and nothing after it.
    # (``base64.b64decode(validate=True)`` runs a regular expression first.)
    try:
        raw = binascii.a2b_base64(token, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: a character beyond ASCII
        return False
    return len(raw) >= NONCE_BYTES + TAG_BYTES
