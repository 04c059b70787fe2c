"""Values left under a retired key: finding them (``check``) and re-encrypting them (``repair``).

A value sealed under a key the vault has retired gets there by a merge resolved by hand:
a line kept from a branch made before a rotation. It is well-formed, so only decrypting
tells it apart: it fails under the current key and opens under a retired one.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .cipher import ValueCipher
from .errors import TamperedError, VaultError
from .fileio import write_lock
from .key import VaultKey
from .keychain import KeyLookup
from .keyset import KeySet, find_keys
from .vaultfile import VaultFile

if TYPE_CHECKING:
    from .cli import Command


class Diagnosis:
    """Which values open under which key."""

    def __init__(self) -> None:
        #: name -> the retired key id its value opens under.
        self.retired: dict[str, str] = {}
        #: names whose value opened under no key found.
        self.unopened: list[str] = []
        #: the retired keys that were found.
        self.keys: KeySet = KeySet()


def diagnose(vault_file: VaultFile, current: VaultKey | None, lookup: KeyLookup) -> Diagnosis:
    """Try every value: the current key first, then every retired key that can be found."""
    diagnosis = Diagnosis()
    header = vault_file.header
    pending = list(vault_file.names)
    if current is not None:
        cipher = vault_file.cipher(current)
        pending = [name for name in pending if not _opens(cipher, vault_file, name)]
    if not pending:
        return diagnosis
    diagnosis.keys = find_keys(lookup, header.vault_id, header.retired_key_ids)
    ciphers = {key_id: vault_file.cipher(key) for key_id, key in diagnosis.keys.keys.items()}
    for name in pending:
        opened_by = next((k for k, c in ciphers.items() if _opens(c, vault_file, name)), None)
        if opened_by is not None:
            diagnosis.retired[name] = opened_by
        elif current is not None:
            diagnosis.unopened.append(name)
    return diagnosis


def _opens(cipher: ValueCipher, vault_file: VaultFile, name: str) -> bool:
    try:
        cipher.open(name, vault_file.tokens[name], vault_file.path)
    except TamperedError:
        return False
    return True


def describe_retired(diagnosis: Diagnosis) -> list[str]:
    """One sentence per retired key still in use (names and key ids only)."""
    by_key: dict[str, list[str]] = {}
    for name, key_id in sorted(diagnosis.retired.items()):
        by_key.setdefault(key_id, []).append(name)
    return [
        f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} still encrypted under the "
        f"retired key {key_id} (a line kept from before a rotation)."
        for key_id, names in by_key.items()
    ]


def cmd_repair(command: Command) -> int:
    found = command.found_key()
    path = command.path
    with write_lock(path):
        vault_file = VaultFile.load(path)
        if vault_file.header.key_id != found.key.key_id:
            raise VaultError(f"{path} changed while this command ran; run `repair` again.")
        diagnosis = diagnose(vault_file, found.key, command.lookup)
        if diagnosis.retired:
            cipher = vault_file.cipher(found.key)
            for name, key_id in diagnosis.retired.items():
                old = vault_file.cipher(diagnosis.keys.keys[key_id])
                value = old.open(name, vault_file.tokens[name], path)
                vault_file.tokens[name] = cipher.seal(name, value)
            vault_file.save()
    names = sorted(diagnosis.retired)
    if names:
        print(
            f"Re-encrypted {', '.join(names)} under the current key {found.key.key_id}.",
            file=sys.stderr,
        )
    if diagnosis.unopened:
        wanted = ", ".join(vault_file.header.retired_key_ids) or "none"
        print(
            f"{', '.join(diagnosis.unopened)} opened under no key found (the retired key ids "
            f"are {wanted}; looked in {diagnosis.keys.where_looked()}): add the old key to "
            f"{command.lookup.key_env} and run `pytest-vault repair` again, or set "
            f"{'it' if len(diagnosis.unopened) == 1 else 'them'} again with `pytest-vault set`.",
            file=sys.stderr,
        )
        return 1
    if not names:
        print(
            f"Every value of {path} is under the current key; nothing to repair.", file=sys.stderr
        )
    return 0
