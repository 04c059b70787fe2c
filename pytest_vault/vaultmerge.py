"""A three-way merge of vault files, one secret at a time (git's merge driver uses it).

Without a rotation, secrets merge by their sealed values, which needs no key: a value
that one side changed (added, replaced, removed) and the other left alone is taken from
the side that changed it; a value both sides changed differently is a conflict. Both
sides storing the same value (different nonces) is not a conflict when the key is found.

When one side rotated or reset the key, the other side's values are under the old key, so
the merge is done on the decrypted values (base, ours and theirs each opened with its own
key, found by key id) and the result is sealed under the new key: nothing is left under a
retired key. When a key needed for that is not found, the secrets the other side changed
are left in conflict and the missing key id is named; everything else is merged.

Both sides rotating (two new keys) merges under ours' key when every key is found; the
other new key is then retired. Without those keys, the whole file is a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import TamperedError
from .keyset import KeySet
from .vaultfile import VaultFile, VaultHeader

KeyFinder = Callable[[str, Iterable[str]], KeySet]
"""Finds keys by key id for one vault id (`keyset.find_keys` bound to the settings)."""

OURS, THEIRS = "ours", "theirs"


class MergeOutcome:
    """The merged text, the names left in conflict, and what to tell the user."""

    def __init__(self, text: str, conflicts: list[str], notes: list[str]) -> None:
        self.text = text
        self.conflicts = conflicts
        #: Sentences for standard error (names, key ids and sides only, never a value).
        self.notes = notes

    @property
    def clean(self) -> bool:
        return not self.conflicts


class _Conflict:
    """One secret's two sides; None where that side has no such secret."""

    def __init__(self, ours: str | None, theirs: str | None, stale: str = "") -> None:
        self.ours = ours
        self.theirs = theirs
        #: The side whose line is sealed under an old key (no key to re-seal it), if any.
        self.stale = stale

    def side(self, side: str) -> str | None:
        return self.ours if side == OURS else self.theirs


def merge_vaults(
    base: VaultFile | None,
    ours: VaultFile,
    theirs: VaultFile,
    find: KeyFinder,
    *,
    marker_size: int = 7,
    favor: str | None = None,
) -> MergeOutcome:
    """Merge ``theirs`` into ``ours`` given their common ancestor ``base`` (None: none).

    With ``favor`` (``"ours"`` or ``"theirs"``), each conflict is settled with that side's
    line, except a line sealed under an old key that could not be re-sealed.
    """
    merger = _Merger(base, ours, theirs, find, marker_size)
    merger.favor = favor
    return merger.run()


class _Merger:
    def __init__(
        self,
        base: VaultFile | None,
        ours: VaultFile,
        theirs: VaultFile,
        find: KeyFinder,
        marker_size: int,
    ) -> None:
        self.ours, self.theirs, self.find = ours, theirs, find
        self.marker_size = marker_size
        vault_id = ours.header.vault_id
        if base is None or base.header.vault_id != vault_id:
            # No common version of this vault: as if it had started empty under ours' key.
            base = VaultFile(ours.path, VaultHeader(vault_id, ours.header.key_id))
        self.base = base
        self.notes: list[str] = []
        self.favor: str | None = None

    # -- the cases ---------------------------------------------------------------------

    def run(self) -> MergeOutcome:
        base, ours, theirs = self.base, self.ours, self.theirs
        if ours.header.vault_id != theirs.header.vault_id:
            self.notes.append(
                "Ours and theirs are two different vaults (their vault ids differ), so their "
                "secrets cannot be merged: keep one side's file and set the other's secrets "
                "again."
            )
            return self._whole_file_conflict()
        base_key, ours_key, theirs_key = (f.header.key_id for f in (base, ours, theirs))
        if ours_key == theirs_key == base_key:
            return self._merge_sealed()
        # A rotation or reset happened on one side or both.
        if _same(ours, base):
            return self._outcome(self._header(theirs_key), dict(theirs.tokens), {})
        if _same(theirs, base):
            return self._outcome(self._header(ours_key), dict(ours.tokens), {})
        return self._merge_decrypted()

    def _merge_sealed(self) -> MergeOutcome:
        """Same key everywhere: merge the sealed values as they are."""
        base, ours, theirs = self.base.tokens, self.ours.tokens, self.theirs.tokens
        merged: dict[str, str] = {}
        conflicts: dict[str, _Conflict] = {}
        for name in sorted(set(base) | set(ours) | set(theirs)):
            b, o, t = base.get(name), ours.get(name), theirs.get(name)
            if t in (o, b):
                chosen = o
            elif o == b:
                chosen = t
            else:
                conflicts[name] = _Conflict(o, t)
                continue
            if chosen is not None:
                merged[name] = chosen
        if conflicts:
            self._settle_equal_values(merged, conflicts)
        return self._outcome(self._header(self.ours.header.key_id), merged, conflicts)

    def _settle_equal_values(self, merged: dict[str, str], conflicts: dict[str, _Conflict]) -> None:
        """Both sides stored the same value (sealed with different nonces): no conflict."""
        if not any(c.ours is not None and c.theirs is not None for c in conflicts.values()):
            return
        key_id = self.ours.header.key_id
        key = self.find(self.ours.header.vault_id, [key_id]).get(key_id)
        if key is None:
            return
        cipher = self.ours.cipher(key)
        for name, conflict in list(conflicts.items()):
            if conflict.ours is None or conflict.theirs is None:
                continue
            ours_value = _open(cipher.open, name, conflict.ours, self.ours.path)
            theirs_value = _open(cipher.open, name, conflict.theirs, self.ours.path)
            if ours_value is not None and ours_value == theirs_value:
                merged[name] = conflict.ours
                del conflicts[name]

    def _merge_decrypted(self) -> MergeOutcome:
        """A rotation or reset on one side (or both): merge the values, seal under the new key."""
        base, ours, theirs = self.base, self.ours, self.theirs
        base_key = base.header.key_id
        result_key = ours.header.key_id if ours.header.key_id != base_key else theirs.header.key_id
        needed = {ours.header.key_id, theirs.header.key_id}
        if base.tokens:
            needed.add(base_key)
        keys = self.find(ours.header.vault_id, sorted(needed))
        if not keys.has_all(needed):
            return self._without_keys(keys, needed)
        values = {
            side: self._decrypt(file, keys)
            for side, file in (("base", base), (OURS, ours), (THEIRS, theirs))
        }
        new_key = keys.keys[result_key]
        cipher = VaultFile(ours.path, self._header(result_key)).cipher(new_key)
        sealed = {OURS: ours, THEIRS: theirs}

        def token(side: str, name: str, value: str) -> str:
            file = sealed[side]
            if file.header.key_id == result_key and values[side].get(name) == value:
                return file.tokens[name]  # unchanged ciphertext: a smaller diff
            return cipher.seal(name, value)

        merged: dict[str, str] = {}
        conflicts: dict[str, _Conflict] = {}
        names = set(base.tokens) | set(ours.tokens) | set(theirs.tokens)
        for name in sorted(names):
            b, o, t = (values[side].get(name) for side in ("base", OURS, THEIRS))
            if t in (o, b):
                chosen, side = o, OURS
            elif o == b:
                chosen, side = t, THEIRS
            else:
                conflicts[name] = _Conflict(
                    None if o is None else token(OURS, name, o),
                    None if t is None else token(THEIRS, name, t),
                )
                continue
            if chosen is not None:
                merged[name] = token(side, name, chosen)
        self._note_rekeyed(result_key, conflicts)
        return self._outcome(self._header(result_key), merged, conflicts)

    def _without_keys(self, keys: KeySet, needed: set[str]) -> MergeOutcome:
        """Merge what needs no key; leave the other side's changes in conflict."""
        base, ours, theirs = self.base, self.ours, self.theirs
        base_key = base.header.key_id
        missing = ", ".join(keys.missing(needed))
        if base_key not in (ours.header.key_id, theirs.header.key_id):
            self.notes.append(
                f"Both sides changed the key (ours {ours.header.key_id}, theirs "
                f"{theirs.header.key_id}); merging them needs the key(s) {missing}, "
                f"not found in {keys.where_looked()}, so the whole file is in conflict."
            )
            return self._whole_file_conflict()
        rekeyed, other = (ours, theirs) if ours.header.key_id != base_key else (theirs, ours)
        rekeyed_side = OURS if rekeyed is ours else THEIRS
        changed = sorted(
            name
            for name in set(base.tokens) | set(other.tokens)
            if base.tokens.get(name) != other.tokens.get(name)
        )
        merged = {n: t for n, t in rekeyed.tokens.items() if n not in changed}
        conflicts = {}
        for name in changed:
            pair = (other.tokens.get(name), rekeyed.tokens.get(name))
            ours_token, theirs_token = pair if rekeyed is theirs else pair[::-1]
            stale = THEIRS if rekeyed is ours else OURS
            conflicts[name] = _Conflict(ours_token, theirs_token, stale)
        what = self._what_happened(rekeyed)
        other_side = THEIRS if rekeyed is ours else OURS
        self.notes.append(
            f"{rekeyed_side.capitalize()} {what} (key {rekeyed.header.key_id}) while "
            f"{other_side} changed {', '.join(changed)} under the key {base_key}; "
            f"re-encrypting those changes needs the key(s) {missing}, not found in "
            f"{keys.where_looked()}. They are left in conflict: get the key and merge the "
            "file again with `pytest-vault merge`."
        )
        return self._outcome(self._header(rekeyed.header.key_id), merged, conflicts)

    # -- helpers -----------------------------------------------------------------------

    def _decrypt(self, file: VaultFile, keys: KeySet) -> dict[str, str]:
        """Every value of ``file``, with its own key or, failing that, any key found."""
        values: dict[str, str] = {}
        own = keys.get(file.header.key_id)
        others = [key for key_id, key in keys.keys.items() if key_id != file.header.key_id]
        candidates = ([own] if own is not None else []) + others
        for name, token in file.tokens.items():
            for key in candidates:
                value = _open(
                    VaultFile(file.path, file.header).cipher(key).open, name, token, file.path
                )
                if value is not None:
                    values[name] = value
                    break
            else:
                raise TamperedError(
                    f"The value of {name} in {file.path} does not decrypt with any key found "
                    "(it was edited or damaged); nothing was merged. Fix that version first."
                )
        return values

    def _what_happened(self, rekeyed: VaultFile) -> str:
        base_names = set(self.base.tokens)
        if base_names and not base_names & set(rekeyed.tokens):
            return "reset the vault (every secret deleted, new key)"
        return "rotated the key"

    def _note_rekeyed(self, result_key: str, conflicts: dict[str, _Conflict]) -> None:
        base_key = self.base.header.key_id
        for side, file in ((OURS, self.ours), (THEIRS, self.theirs)):
            if file.header.key_id != base_key:
                self.notes.append(
                    f"{side.capitalize()} {self._what_happened(file)}; the merged vault is "
                    f"sealed under the key {result_key}."
                )
        if base_key not in (self.ours.header.key_id, self.theirs.header.key_id):
            self.notes.append(
                f"Both sides changed the key: the result keeps ours ({result_key}) and retires "
                f"theirs ({self.theirs.header.key_id})."
            )
        if conflicts:
            self.notes.append(
                "Both lines of each conflict are sealed under that key, so either one can be kept."
            )

    def _header(self, key_id: str) -> VaultHeader:
        retired: list[str] = []
        files = (self.ours, self.theirs, self.base)
        for file in files:
            retired.extend(file.header.retired_key_ids)
        retired.extend(file.header.key_id for file in files)
        unique = [k for i, k in enumerate(retired) if k != key_id and k not in retired[:i]]
        header = self.ours.header
        return VaultHeader(header.vault_id, key_id, tuple(unique), header.format, header.cipher)

    def _outcome(
        self, header: VaultHeader, merged: dict[str, str], conflicts: dict[str, _Conflict]
    ) -> MergeOutcome:
        if self.favor is not None:
            self._settle(merged, conflicts, self.favor)
        placeholder = {name: "" for name in conflicts}
        text = VaultFile(self.ours.path, header, {**merged, **placeholder}).render()
        lines = text.splitlines(keepends=True)
        out: list[str] = []
        for line in lines:
            name = line.partition(" = ")[0]
            conflict = conflicts.get(name) if line.endswith(' = ""\n') else None
            if conflict is None:
                out.append(line)
                continue
            out.append("<" * self.marker_size + f" {OURS}\n")
            if conflict.ours is not None:
                out.append(f'{name} = "{conflict.ours}"\n')
            out.append("=" * self.marker_size + "\n")
            if conflict.theirs is not None:
                out.append(f'{name} = "{conflict.theirs}"\n')
            out.append(">" * self.marker_size + f" {THEIRS}\n")
        return MergeOutcome("".join(out), sorted(conflicts), self.notes)

    def _settle(self, merged: dict[str, str], conflicts: dict[str, _Conflict], side: str) -> None:
        settled = []
        for name, conflict in list(conflicts.items()):
            if conflict.stale == side and conflict.side(side) is not None:
                continue  # that line is under an old key: keep the conflict, never that line
            token = conflict.side(side)
            if token is not None:
                merged[name] = token
            settled.append(name)
            del conflicts[name]
        if settled:
            self.notes.append(f"Settled {', '.join(settled)} with the {side} side's line.")
        if conflicts:
            self.notes.append(
                f"{', '.join(conflicts)}: the {side} side's line is under an old key that was "
                "not found, so it was not taken."
            )

    def _whole_file_conflict(self) -> MergeOutcome:
        if self.favor is not None:
            chosen = self.ours if self.favor == OURS else self.theirs
            self.notes.append(
                f"Took the {self.favor} side's whole file; the other side's changes are not in it."
            )
            return MergeOutcome(chosen.render(), [], self.notes)
        ours_text, theirs_text = self.ours.render(), self.theirs.render()
        text = (
            "<" * self.marker_size
            + f" {OURS}\n{ours_text}"
            + "=" * self.marker_size
            + f"\n{theirs_text}"
            + ">" * self.marker_size
            + f" {THEIRS}\n"
        )
        names = sorted(set(self.ours.tokens) | set(self.theirs.tokens))
        return MergeOutcome(text, names or ["(the header)"], self.notes)


def _same(file: VaultFile, base: VaultFile) -> bool:
    return file.header.key_id == base.header.key_id and file.tokens == base.tokens


def _open(opener: Callable[[str, str, Path], str], name: str, token: str, path: Path) -> str | None:
    try:
        return opener(name, token, path)
    except TamperedError:
        return None
