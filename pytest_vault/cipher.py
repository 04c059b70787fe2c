"""Sealing and opening one secret value: AES-256-GCM under a per-vault HKDF sub-key.

A sealed value (a *token*) is ``base64(nonce || ciphertext || tag)``. The sub-key of a
vault is HKDF-SHA256(vault key, salt = vault id, info = `VALUE_KEY_INFO`), and the
associated data binds each token to its vault and its name, so a token moved to another
name or vault fails to open. ``cryptography`` is imported only when a value is sealed or
opened, never when a vault file is merely read.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import TamperedError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from .key import VaultKey

CIPHER: Final = "AES-256-GCM"
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
VALUE_KEY_INFO: Final = b"pytest-vault v1 value encryption"
_ASSOCIATED_DATA_PREFIX: Final = b"pytest-vault 1\0"


def value_aead(key: VaultKey, vault_id: str) -> AESGCM:
    """The AES-256-GCM cipher of one vault, keyed with its HKDF sub-key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key.derive(salt=vault_id.encode("utf-8"), info=VALUE_KEY_INFO))


class ValueCipher:
    """Seals and opens the values of one vault with one key."""

    def __init__(self, key: VaultKey, vault_id: str) -> None:
        self._aead = value_aead(key, vault_id)
        self._vault_id = vault_id.encode("ascii")

    def _associated_data(self, name: str) -> bytes:
        return _ASSOCIATED_DATA_PREFIX + self._vault_id + b"\0" + name.encode("ascii")

    def seal(self, name: str, value: str) -> str:
        """Encrypt one value under a fresh random nonce; the token is bound to ``name``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), self._associated_data(name))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, name: str, token: str, path: Path) -> str:
        """Decrypt one value; a changed, moved or swapped token raises `TamperedError`.

        ``path`` only names the file in the message.
        """
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
