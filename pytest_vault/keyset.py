"""Every key the sources hold for some key ids: the old and the new key of a rotation.

The key chain (`keychain.find_key`) answers one question: the key that opens the file as it
is now, or why there is none. Merging a rotation, checking for values left under a retired
key and repairing them need more: each key whose id they name, wherever it is. So this
module asks every source, never stops at the first, and never fails: a malformed or
unrelated key is simply not one of the keys wanted.

Sources, in the key chain's order: the key file (several keys allowed, one per line or
separated by commas), the key variable (several keys allowed), the ``pytest_vault_key``
hook (asked once per key id), and the system keyring (looked up by key id, under the same
policy as the key chain). Nothing here prompts.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import KeyFormatError
from .key import VaultKey, split_keys
from .keychain import KeyLookup, read_keyring


class KeySet:
    """The keys found for some key ids, and where each came from."""

    def __init__(self) -> None:
        self.keys: dict[str, VaultKey] = {}
        self.sources: dict[str, str] = {}
        #: The sources that were asked, for "looked in ..." messages.
        self.asked: list[str] = []

    def get(self, key_id: str) -> VaultKey | None:
        return self.keys.get(key_id)

    def has_all(self, key_ids: Iterable[str]) -> bool:
        return all(key_id in self.keys for key_id in key_ids)

    def missing(self, key_ids: Iterable[str]) -> list[str]:
        return sorted({key_id for key_id in key_ids if key_id not in self.keys})

    def where_looked(self) -> str:
        """``"the key file x, PYTEST_VAULT_KEY and the system keyring"``."""
        if not self.asked:
            return "no key source (none is configured)"
        if len(self.asked) == 1:
            return self.asked[0]
        return ", ".join(self.asked[:-1]) + " and " + self.asked[-1]

    def _offer(self, text: str, source: str, wanted: set[str]) -> None:
        try:
            key = VaultKey.parse(text)
        except KeyFormatError:
            return
        if key.key_id in wanted and key.key_id not in self.keys:
            self.keys[key.key_id] = key
            self.sources[key.key_id] = source


def find_keys(lookup: KeyLookup, vault_id: str, key_ids: Iterable[str]) -> KeySet:
    """Look for each of ``key_ids`` in every source; never raises, never prompts."""
    wanted = set(key_ids)
    found = KeySet()
    if not wanted:
        return found
    _from_key_file(lookup, wanted, found)
    _from_environment(lookup, wanted, found)
    if lookup.hook is not None:
        found.asked.append("the pytest_vault_key hook")
        for key_id in sorted(wanted - set(found.keys)):
            text = _ask_hook(lookup, vault_id, key_id)
            if text:
                found._offer(text, "the pytest_vault_key hook", wanted)
    readable, _ = lookup.keyring_readable()
    if readable:
        found.asked.append("the system keyring")
        for key_id in sorted(wanted - set(found.keys)):
            text, _ = read_keyring(key_id)
            if text:
                found._offer(text, "the system keyring", wanted)
    return found


def _ask_hook(lookup: KeyLookup, vault_id: str, key_id: str) -> str | None:
    assert lookup.hook is not None
    try:
        return lookup.hook(vault_id, key_id)
    except Exception:  # a failing hook means "not from the hook" here
        return None


def _from_key_file(lookup: KeyLookup, wanted: set[str], found: KeySet) -> None:
    if lookup.key_file is None:
        return
    source = f"the key file {lookup.key_file}"
    found.asked.append(source)
    try:
        text = lookup.key_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            for part in split_keys(line):
                found._offer(part, source, wanted)


def _from_environment(lookup: KeyLookup, wanted: set[str], found: KeySet) -> None:
    name = lookup.key_env
    found.asked.append(name)
    for part in split_keys(lookup.environ.get(name, "")):
        found._offer(part, name, wanted)
