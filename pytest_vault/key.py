"""The vault key: generate, parse, format, fingerprint, and derive sub-keys from it.

A key is 256 random bits written as one line of text::

    PYTEST-VAULT-KEY-1<58 base32 characters>

The fixed prefix lets secret scanners spot a leaked key; the body carries the key and a
4-byte checksum, so a mistyped key is reported as a typo rather than as a wrong key. The
*key id* (``k_`` + 16 hex digits) is an HMAC of a constant under the key: it names the key
in the vault file and in the keyring without revealing anything about it.
"""

from __future__ import annotations

import base64
import binascii
import sys
from _operator import _compare_digest as compare_digest  # what `hmac.compare_digest` is
from typing import TYPE_CHECKING, Final, NoReturn

from .errors import KeyFormatError

if TYPE_CHECKING:
    from _hashlib import HASH
    from collections.abc import Callable

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _builtin_sha256() -> Callable[[bytes], HASH]:
    """The interpreter's own SHA-256. ``hashlib`` (and ``hmac``, which imports it) would load
    OpenSSL's libcrypto for the two hashes a key needs: ~4 ms of a ~45 ms `get`, whose
    cipher is `cryptography`'s own OpenSSL. A build without it falls back to ``hashlib``."""
    # Named by version: a failed import would search every folder of sys.path.
    try:
        module = __import__("_sha2" if sys.version_info >= (3, 12) else "_sha256")
        return module.sha256  # type: ignore[no-any-return]
    except (ImportError, AttributeError):  # pragma: no cover - CPython builds it
        pass
    import hashlib  # pragma: no cover

    return hashlib.sha256  # pragma: no cover


_sha256: Final = _builtin_sha256()


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) of ``message`` under a key of at most 64 bytes."""
    padded = key.ljust(64, b"\0")
    inner = _sha256(bytes(byte ^ 0x36 for byte in padded) + message).digest()
    return _sha256(bytes(byte ^ 0x5C for byte in padded) + inner).digest()


KEY_PREFIX: Final = "PYTEST-VAULT-KEY-1"
KEY_BYTES: Final = 32
_CHECKSUM_BYTES: Final = 4
_BODY_LENGTH: Final = 58  # base32 of 36 bytes, without padding
KEY_LENGTH: Final = len(KEY_PREFIX) + _BODY_LENGTH
_B32_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _length_problem(excess: int) -> str:
    """Why a key of the wrong length is refused, in words ("6 characters are missing")."""
    count = abs(excess)
    characters = f"{count} character{'' if count == 1 else 's'}"
    if excess < 0:
        return (
            f"{characters} {'is' if count == 1 else 'are'} missing (a whole key is "
            f"{KEY_LENGTH} characters long), so it was copied incompletely or mistyped"
        )
    return (
        f"it has {characters} too many (a whole key is {KEY_LENGTH} characters long), "
        "so it was mistyped or holds more than one key"
    )


def _checksum(raw: bytes) -> bytes:
    return _sha256(b"pytest-vault key checksum\0" + raw).digest()[:_CHECKSUM_BYTES]


class VaultKey:
    """A vault key in memory. Its ``repr`` and ``str`` show the key id, never the key."""

    __slots__ = ("_raw", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError("a vault key is exactly 32 bytes")
        self._raw = raw
        self.key_id: str = "k_" + _hmac_sha256(raw, b"pytest-vault key id").hex()[:16]

    @classmethod
    def generate(cls) -> VaultKey:
        """A new random key from the operating system's CSPRNG."""
        import secrets  # not at import: the report header of every run imports this module

        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> VaultKey:
        """Parse a key's text form; raise `KeyFormatError` saying what is wrong with it."""
        candidate = text.strip()
        # Only ASCII is a key: ``str.upper()`` would turn look-alikes such as U+0131 (dotless
        # i) or U+017F (long s) into key characters, and accept a key nobody wrote.
        prefix = candidate[: len(KEY_PREFIX)]
        if not (prefix.isascii() and prefix.upper() == KEY_PREFIX):
            raise KeyFormatError(f"it is not a pytest-vault key (a key starts with {KEY_PREFIX})")
        body = candidate[len(KEY_PREFIX) :]
        if not body.isascii() or not _B32_ALPHABET.issuperset(body.upper()):
            raise KeyFormatError(
                "it contains characters a key never has (a key is plain ASCII: letters and "
                "the digits 2 to 7), so it was mistyped or mangled"
            )
        body = body.upper()
        if len(body) != _BODY_LENGTH:
            raise KeyFormatError(_length_problem(len(body) - _BODY_LENGTH))
        try:
            decoded = base64.b32decode(body + "======")
        except binascii.Error:  # pragma: no cover - alphabet and length are checked above
            raise KeyFormatError("it is not a valid key (typo?)") from None
        raw, checksum = decoded[:KEY_BYTES], decoded[KEY_BYTES:]
        # The last character carries 2 unused bits; only the canonical one is a key, so
        # that a typo there is caught like any other.
        canonical = base64.b32encode(decoded).decode("ascii").rstrip("=")
        if not compare_digest(_checksum(raw), checksum) or canonical != body:
            raise KeyFormatError("its checksum does not match, so it was mistyped")
        return cls(raw)

    def text(self) -> str:
        """The key's text form. Only the commands whose job is to show the key call this."""
        body = base64.b32encode(self._raw + _checksum(self._raw)).decode("ascii")
        return KEY_PREFIX + body.rstrip("=")

    def derive(self, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
        """A sub-key for one purpose: HKDF-SHA256(key, salt, info) (see `cipher`)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(
            self._raw
        )

    def cipher_for(self, vault_id: str) -> AESGCM:
        """The AES-256-GCM cipher of one vault's values (see `cipher.value_aead`)."""
        from .cipher import value_aead

        return value_aead(self, vault_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VaultKey) and compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __repr__(self) -> str:
        return f"VaultKey({self.key_id})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Refuse pickling: a key must never travel by accident (cache, multiprocessing).
        raise TypeError("a VaultKey cannot be pickled")


def split_keys(text: str) -> list[str]:
    """The keys of a variable that may hold several, separated by commas or whitespace."""
    return [part for part in text.replace(",", " ").split() if part]
