"""The per-secret three-way merge in process: the rules, without git (see test_gitdrivers)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from pytest_vault.filelint import read_leniently, safe_lines
from pytest_vault.key import VaultKey
from pytest_vault.keyset import KeySet
from pytest_vault.vaultfile import VaultFile, VaultHeader
from pytest_vault.vaultmerge import MergeOutcome, merge_vaults

PATH = Path("secrets.vault.toml")


def vault(key: VaultKey, values: dict[str, str], header: VaultHeader | None = None) -> VaultFile:
    file = VaultFile(PATH, header or VaultHeader.new(key.key_id))
    cipher = file.cipher(key)
    file.tokens = {name: cipher.seal(name, value) for name, value in values.items()}
    return file


def changed(file: VaultFile, key: VaultKey, values: dict[str, str | None]) -> VaultFile:
    """A copy of ``file`` with some values set (None: removed), others untouched."""
    copy = VaultFile(PATH, file.header, dict(file.tokens))
    cipher = copy.cipher(key)
    for name, value in values.items():
        if value is None:
            del copy.tokens[name]
        else:
            copy.tokens[name] = cipher.seal(name, value)
    return copy


def rotated(file: VaultFile, old: VaultKey, new: VaultKey) -> VaultFile:
    values = file.decrypt_all(old)
    result = VaultFile(PATH, file.header.rekeyed(new.key_id))
    cipher = result.cipher(new)
    result.tokens = {n: cipher.seal(n, v) for n, v in values.items()}
    return result


def finder(*keys: VaultKey) -> object:
    def find(vault_id: str, key_ids: Iterable[str]) -> KeySet:
        found = KeySet()
        for key in keys:
            if key.key_id in set(key_ids):
                found.keys[key.key_id] = key
        return found

    return find


def merge(
    base: VaultFile | None,
    ours: VaultFile,
    theirs: VaultFile,
    *keys: VaultKey,
    favor: str | None = None,
) -> MergeOutcome:
    return merge_vaults(base, ours, theirs, finder(*keys), favor=favor)  # type: ignore[arg-type]


def opened(outcome: MergeOutcome, key: VaultKey) -> dict[str, str]:
    assert outcome.clean, outcome.notes
    return VaultFile.parse(PATH, outcome.text.encode()).decrypt_all(key)


@pytest.fixture
def base(key: VaultKey) -> VaultFile:
    return vault(key, {"A": "value-a-1", "B": "value-b-1", "C": "value-c-1"})


def test_sealed_merge_needs_no_key(base: VaultFile, key: VaultKey) -> None:
    ours = changed(base, key, {"A": None, "D": "value-d-ours"})
    theirs = changed(base, key, {"B": "value-b-theirs", "E": "value-e-theirs"})
    outcome = merge(base, ours, theirs)  # no key found anywhere
    assert opened(outcome, key) == {
        "B": "value-b-theirs",
        "C": "value-c-1",
        "D": "value-d-ours",
        "E": "value-e-theirs",
    }
    # Unchanged and one-sided lines keep their exact ciphertext.
    result = VaultFile.parse(PATH, outcome.text.encode())
    assert result.tokens["C"] == base.tokens["C"]
    assert result.tokens["D"] == ours.tokens["D"]


def test_both_sides_removing_a_secret_remove_it(base: VaultFile, key: VaultKey) -> None:
    outcome = merge(base, changed(base, key, {"A": None}), changed(base, key, {"A": None}))
    assert "A" not in opened(outcome, key)


def test_a_change_against_a_removal_is_a_conflict(base: VaultFile, key: VaultKey) -> None:
    ours = changed(base, key, {"A": "value-a-ours"})
    theirs = changed(base, key, {"A": None})
    outcome = merge(base, ours, theirs)
    assert outcome.conflicts == ["A"]
    block = outcome.text.split("<<<<<<< ours\n")[1].split(">>>>>>> theirs\n")[0]
    assert block.startswith("A = ")
    assert block.endswith("=======\n")  # theirs: no line
    settled = merge(base, ours, theirs, favor="theirs")
    assert "A" not in opened(settled, key)
    assert opened(merge(base, ours, theirs, favor="ours"), key)["A"] == "value-a-ours"


def test_equal_values_on_both_sides_need_the_key_to_be_seen(base: VaultFile, key: VaultKey) -> None:
    ours = changed(base, key, {"A": "same-new-value"})
    theirs = changed(base, key, {"A": "same-new-value"})
    assert merge(base, ours, theirs).conflicts == ["A"]
    assert opened(merge(base, ours, theirs, key), key)["A"] == "same-new-value"


def test_no_common_ancestor_merges_as_if_the_vault_had_been_empty(key: VaultKey) -> None:
    ours = vault(key, {"A": "value-a"})
    theirs = VaultFile(PATH, ours.header, {})
    theirs.tokens = dict(changed(ours, key, {"A": None, "B": "value-b"}).tokens)
    assert opened(merge(None, ours, theirs), key) == {"A": "value-a", "B": "value-b"}


def test_two_different_vaults_are_one_whole_file_conflict(key: VaultKey) -> None:
    ours, theirs = vault(key, {"A": "value-a"}), vault(key, {"B": "value-b"})
    outcome = merge(None, ours, theirs, key)
    assert not outcome.clean
    assert "two different vaults" in " ".join(outcome.notes)
    assert outcome.text.startswith("<<<<<<< ours\n")


def test_a_rotation_with_both_keys_seals_everything_under_the_new_key(
    base: VaultFile, key: VaultKey
) -> None:
    new = VaultKey.generate()
    ours = rotated(base, key, new)
    theirs = changed(base, key, {"B": "value-b-theirs", "D": "value-d-theirs", "C": None})
    outcome = merge(base, ours, theirs, key, new)
    assert opened(outcome, new) == {"A": "value-a-1", "B": "value-b-theirs", "D": "value-d-theirs"}
    header = VaultFile.parse(PATH, outcome.text.encode()).header
    assert header.key_id == new.key_id
    assert key.key_id in header.retired_key_ids


def test_a_rotation_conflict_has_both_lines_under_the_new_key(
    base: VaultFile, key: VaultKey
) -> None:
    new = VaultKey.generate()
    ours = changed(rotated(base, key, new), new, {"A": "value-a-ours"})
    theirs = changed(base, key, {"A": "value-a-theirs"})
    outcome = merge(base, ours, theirs, key, new)
    assert outcome.conflicts == ["A"]
    for side, value in (("ours", "value-a-ours"), ("theirs", "value-a-theirs")):
        assert opened(merge(base, ours, theirs, key, new, favor=side), new)["A"] == value


def test_a_rotation_without_the_old_key_never_takes_an_old_line(
    base: VaultFile, key: VaultKey
) -> None:
    new = VaultKey.generate()
    ours = rotated(base, key, new)
    theirs = changed(base, key, {"D": "value-d-theirs"})
    outcome = merge(base, ours, theirs, new)
    assert outcome.conflicts == ["D"]
    assert key.key_id in " ".join(outcome.notes)
    assert merge(base, ours, theirs, new, favor="theirs").conflicts == ["D"]
    assert "D" not in opened(merge(base, ours, theirs, new, favor="ours"), new)


def test_the_lenient_reader_finds_diff3_conflicts_and_duplicates() -> None:
    text = (
        '[vault]\nformat = 1\n\n[secrets]\nA = "x"\n<<<<<<< ours\nB = "y"\n'
        '||||||| base\nB = "z"\n=======\nC = "w"\n>>>>>>> theirs\nA = "v"\n'
        '<<<<<<< ours\nD = "u"\n'
    )
    reading = read_leniently(text)
    assert [(c.start, c.middle, c.end) for c in reading.conflicts] == [
        (6, 10, 12),
        (14, None, None),
    ]
    assert reading.conflicts[0].names == ["B", "B", "C"]
    assert reading.duplicates == {"A": [5, 13]}
    problems = " ".join(reading.problems())
    assert "around the secret(s) B, C" in problems
    assert "closing >>>>>>> line is missing" in problems


def test_safe_lines_never_show_a_value_typed_in_clear() -> None:
    sealed = "QUJD" * 10
    text = f'[secrets]\n# my password is hunter2secret\nA = "hunter2secret"\nB = "{sealed}"\n'
    shown = "\n".join(safe_lines(text))
    assert "hunter2" not in shown
    assert "B = sealed:" in shown
    assert sealed not in shown
