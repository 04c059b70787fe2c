"""The opened vault tests see, and the operations that change a vault file.

Every change is one read-modify-write under the file's lock: the file is re-read after
the lock is taken, so concurrent writers lose no update, and a writer whose key was
rotated away meanwhile gets a clear error instead of mixing two keys in one file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

from .errors import MissingSecretError, VaultError, WrongKeyError
from .fileio import write_lock
from .key import VaultKey
from .names import check_name, check_value, is_valid_name
from .vaultfile import VaultFile, VaultHeader


class Vault(Mapping[str, str]):
    """A read-only mapping of secret name to value. Its ``repr`` shows names, never values."""

    def __init__(self, values: Mapping[str, str], path: Path, source: str) -> None:
        self._values = dict(values)
        self.path = path
        self.source = source

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise MissingSecretError(self.missing_message(name)) from None

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Vault {self.path.name}: {', '.join(self) or 'no secrets'}>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Vault cannot be pickled (it holds secrets)")

    def missing_message(self, name: str) -> str:
        held = ", ".join(self) or "no secrets"
        if not is_valid_name(name):
            return (
                f"The vault {self.path} has no secret of that name (it holds: {held}); it is "
                "not a valid secret name, so it is not repeated here in case it is a value or "
                "a key typed in a name's place."
            )
        return (
            f"The vault {self.path} has no secret {name} (it holds: {held}). "
            f"Add it with `pytest-vault set {name}`."
        )


def open_vault(vault_file: VaultFile, key: VaultKey, source: str) -> Vault:
    """Decrypt every value of ``vault_file`` with a key the key chain accepted."""
    return Vault(vault_file.decrypt_all(key), vault_file.path, source)


def _load_for_change(path: Path, key: VaultKey) -> VaultFile:
    vault_file = VaultFile.load(path)
    if vault_file.header.key_id != key.key_id:
        raise WrongKeyError(
            f"{path} changed while this command ran: it now needs the key "
            f"{vault_file.header.key_id} (it was rotated or reset). Nothing was written."
        )
    return vault_file


def create_vault(path: Path, key: VaultKey) -> VaultFile:
    """Write a new, empty vault for ``key``; refuses to replace an existing file.

    Under the lock like every write, so it also sweeps what a killed writer left behind.
    """
    vault_file = VaultFile(path, VaultHeader.new(key.key_id))
    with write_lock(path):
        vault_file.save(create=True)
    return vault_file


def set_secrets(
    path: Path, key: VaultKey, values: Mapping[str, str], *, replace: bool = True
) -> None:
    """Add or replace secrets; every other line of the file stays byte-for-byte.

    With ``replace=False`` (``import`` without ``--force``), names the file already holds
    are refused, checked under the lock so that a concurrent writer cannot slip one in.
    """
    for name, value in values.items():
        check_value(check_name(name), value)
    with write_lock(path):
        vault_file = _load_for_change(path, key)
        existing = sorted(set(values) & set(vault_file.tokens))
        if existing and not replace:
            raise VaultError(
                f"{path} already holds {', '.join(existing)}; nothing was written. "
                "Pass --force to replace them."
            )
        cipher = vault_file.cipher(key)
        for name, value in values.items():
            vault_file.tokens[name] = cipher.seal(name, value)
        vault_file.save()


def change_secrets(
    path: Path,
    key: VaultKey,
    values: Mapping[str, str],
    remove: Iterable[str],
    *,
    expected: Mapping[str, str | None],
) -> None:
    """Set ``values`` and remove ``remove`` in one write (``edit``); other lines stay as
    they are, ciphertext included.

    ``expected`` holds each touched name's token (None: absent) as it was read before the
    change was prepared; a name another writer changed meanwhile is refused, not overwritten.
    """
    for name, value in values.items():
        check_value(check_name(name), value)
    with write_lock(path):
        vault_file = _load_for_change(path, key)
        moved = sorted(n for n, token in expected.items() if vault_file.tokens.get(n) != token)
        if moved:
            raise VaultError(
                f"{', '.join(moved)} changed in {path} while you edited; nothing was written. "
                "Run the command again."
            )
        cipher = vault_file.cipher(key)
        for name, value in values.items():
            vault_file.tokens[name] = cipher.seal(name, value)
        for name in remove:
            vault_file.tokens.pop(name, None)
        vault_file.save()


def remove_secret(path: Path, name: str) -> None:
    """Remove one secret. Needs no key: names are visible and removal reveals nothing."""
    check_name(name)
    with write_lock(path):
        vault_file = VaultFile.load(path)
        if name not in vault_file.tokens:
            raise MissingSecretError(f"The vault {path} has no secret {name}; nothing was removed.")
        del vault_file.tokens[name]
        vault_file.save()


def rekey(
    path: Path,
    old_key: VaultKey | None,
    keep_to_new_key: Callable[[VaultKey], None],
) -> VaultKey:
    """Rotate (``old_key`` given: every secret kept) or reset (None: every secret deleted).

    The new file is built and verified in memory, then ``keep_to_new_key`` stores the new
    key (keyring, key file, standard output); only when that succeeded is the file replaced.
    """
    with write_lock(path):
        current = VaultFile.load(path) if old_key is None else _load_for_change(path, old_key)
        values = current.decrypt_all(old_key) if old_key is not None else {}
        new_key = VaultKey.generate()
        rekeyed = VaultFile(path, current.header.rekeyed(new_key.key_id))
        cipher = rekeyed.cipher(new_key)
        rekeyed.tokens = {name: cipher.seal(name, value) for name, value in values.items()}
        # Verify the new file opens with the new key before anything is replaced.
        reparsed = VaultFile.parse(path, rekeyed.render().encode("utf-8"))
        if reparsed.decrypt_all(new_key) != values:  # pragma: no cover - a bug guard
            raise VaultError(f"Re-encrypting {path} failed verification; nothing was changed.")
        keep_to_new_key(new_key)
        rekeyed.save()
        return new_key
