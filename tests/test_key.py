"""The vault key: its text form, checksum, key id, and that it never shows itself."""

from __future__ import annotations

import base64
import copy
import pickle
import re

import pytest

from pytest_vault.errors import KeyFormatError, VaultError
from pytest_vault.key import KEY_BYTES, KEY_PREFIX, VaultKey, split_keys

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Fixed keys keep the checksum tests deterministic; one is all zeros, one all ones.
FIXED_RAW = [bytes(range(32)), bytes(32), b"\xff" * 32, bytes(range(100, 132))]


@pytest.fixture(params=range(len(FIXED_RAW)), ids=["counting", "zeros", "ones", "offset"])
def key(request: pytest.FixtureRequest) -> VaultKey:
    return VaultKey(FIXED_RAW[request.param])


def raw_of(key: VaultKey) -> bytes:
    return next(raw for raw in FIXED_RAW if VaultKey(raw) == key)


def body_of(key: VaultKey) -> str:
    return key.text()[len(KEY_PREFIX) :]


def assert_rejected(text: str, phrase: str, key_text: str | None = None) -> KeyFormatError:
    with pytest.raises(KeyFormatError) as info:
        VaultKey.parse(text)
    message = str(info.value)
    assert phrase in message
    assert isinstance(info.value, VaultError)
    for secret in filter(None, (key_text, text.strip())):
        if secret in KEY_PREFIX:  # the message names the prefix a key starts with
            continue
        assert secret not in message
        assert secret.upper() not in message.upper()
    return info.value


# -- generate / format / parse -------------------------------------------------------------


def test_generated_keys_round_trip_through_their_text() -> None:
    for _ in range(20):
        key = VaultKey.generate()
        assert VaultKey.parse(key.text()) == key
        assert VaultKey.parse(key.text()).key_id == key.key_id


def test_generated_keys_are_random_and_distinct() -> None:
    texts = {VaultKey.generate().text() for _ in range(50)}
    assert len(texts) == 50


def test_text_is_prefix_and_58_base32_characters_on_one_line(key: VaultKey) -> None:
    text = key.text()
    assert text.startswith(KEY_PREFIX)
    assert KEY_PREFIX == "PYTEST-VAULT-KEY-1"
    assert re.fullmatch(r"PYTEST-VAULT-KEY-1[A-Z2-7]{58}", text)
    assert "\n" not in text


def test_text_encodes_the_raw_key_and_is_stable(key: VaultKey) -> None:
    decoded = base64.b32decode(body_of(key) + "======")
    assert decoded[:KEY_BYTES] == raw_of(key)
    assert key.text() == key.text()
    assert VaultKey(decoded[:KEY_BYTES]).text() == key.text()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: f"  {t}  ",
        lambda t: f"{t}\n",
        lambda t: f"\r\n\t{t}\r\n",
        lambda t: f"\n\n{t}\n\n",
    ],
    ids=["spaces", "newline", "crlf-tab", "blank-lines"],
)
def test_whitespace_around_a_key_is_ignored(key: VaultKey, wrap: object) -> None:
    assert callable(wrap)
    assert VaultKey.parse(wrap(key.text())) == key


def test_lower_case_key_is_accepted(key: VaultKey) -> None:
    assert VaultKey.parse(key.text().lower()) == key
    mixed = "".join(c.lower() if i % 2 else c for i, c in enumerate(key.text()))
    assert VaultKey.parse(mixed) == key


def test_raw_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        VaultKey(bytes(31))
    with pytest.raises(ValueError, match="32 bytes"):
        VaultKey(bytes(33))


def test_equality_and_hash_follow_the_key() -> None:
    a, b = VaultKey(FIXED_RAW[0]), VaultKey(FIXED_RAW[0])
    c = VaultKey(FIXED_RAW[1])
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert a != a.text()
    assert len({a, b, c}) == 2


# -- the checksum: every typo is a typo ------------------------------------------------------


def test_checksum_catches_every_single_character_substitution(key: VaultKey) -> None:
    text = key.text()
    accepted = []
    messages: set[str] = set()
    for position in range(len(KEY_PREFIX), len(text)):
        for char in B32:
            if char == text[position]:
                continue
            typo = text[:position] + char + text[position + 1 :]
            try:
                VaultKey.parse(typo)
            except KeyFormatError as exc:
                messages.add(str(exc))
            else:
                accepted.append((position, text[position], char))
    assert accepted == []
    assert messages == {"its checksum does not match, so it was mistyped"}


def test_checksum_catches_every_adjacent_transposition(key: VaultKey) -> None:
    text = key.text()
    tried = 0
    for position in range(len(KEY_PREFIX), len(text) - 1):
        if text[position] == text[position + 1]:
            continue
        swapped = text[:position] + text[position + 1] + text[position] + text[position + 2 :]
        tried += 1
        with pytest.raises(KeyFormatError, match="mistyped"):
            VaultKey.parse(swapped)
    assert tried > 0


def test_a_typo_reads_as_checksum_mismatch(key: VaultKey) -> None:
    text = key.text()
    position = len(KEY_PREFIX) + 5
    typo = text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]
    assert_rejected(typo, "checksum does not match", key.text())


def test_a_typo_in_the_prefix_is_not_a_key(key: VaultKey) -> None:
    text = key.text().replace("VAULT", "VALUT")
    assert_rejected(text, "not a pytest-vault key", key.text())


# -- malformed text -----------------------------------------------------------------------


@pytest.mark.parametrize(("cut", "missing"), [(1, "1 character is"), (6, "6 characters are")])
def test_a_truncated_key_says_how_many_characters_are_missing(
    key: VaultKey, cut: int, missing: str
) -> None:
    error = assert_rejected(key.text()[:-cut], "copied incompletely", key.text())
    assert f"{missing} missing (a whole key is 76 characters long)" in str(error)
    assert f"-{cut}" not in str(error)  # not "-6 characters off a key's length"


def test_extra_characters_are_counted_in_words(key: VaultKey) -> None:
    error = assert_rejected(key.text() + "AB", "2 characters too many", key.text())
    assert "+2" not in str(error)


def test_two_keys_glued_together_are_rejected(key: VaultKey) -> None:
    other = VaultKey(bytes(range(200, 232)))
    with pytest.raises(KeyFormatError) as info:
        VaultKey.parse(key.text() + other.text())
    assert key.text() not in str(info.value)


@pytest.mark.parametrize("bad", ["0", "1", "8", "9", "=", "-", "!", "é", " "])
def test_characters_outside_base32_are_rejected(key: VaultKey, bad: str) -> None:
    text = key.text()
    position = len(KEY_PREFIX) + 10
    mangled = text[:position] + bad + text[position + 1 :]
    assert_rejected(mangled, "characters a key never has", key.text())


# U+0131 (dotless i) and U+017F (long s) upper-case to "I" and "S", so `str.upper()` alone
# reads them as key characters. Neither is in a key.
LOOK_ALIKES = {"I": "\u0131", "S": "\u017f"}


@pytest.mark.parametrize("letter", sorted(LOOK_ALIKES))
def test_non_ascii_look_alikes_in_the_body_are_not_key_characters(letter: str) -> None:
    key = next(k for k in iter(VaultKey.generate, None) if letter in body_of(k))
    position = len(KEY_PREFIX) + body_of(key).index(letter)
    text = key.text()
    mangled = text[:position] + LOOK_ALIKES[letter] + text[position + 1 :]
    assert mangled.upper() == text  # what str.upper() alone would have accepted
    assert_rejected(mangled, "plain ASCII", key.text())


@pytest.mark.parametrize("prefix", ["PYTE\u017fT-VAULT-KEY-1", "pyte\u017ft-vault-key-1"])
def test_non_ascii_look_alikes_in_the_prefix_are_not_a_key(key: VaultKey, prefix: str) -> None:
    mangled = prefix + body_of(key)
    assert mangled.upper() == key.text()
    assert_rejected(mangled, "not a pytest-vault key", key.text())


@pytest.mark.parametrize("char", ["\uff21", "\u0391", "\u212a", "\u0130"])
def test_fullwidth_greek_and_other_non_ascii_letters_are_refused(key: VaultKey, char: str) -> None:
    text = key.text()
    position = len(KEY_PREFIX) + 3
    assert_rejected(text[:position] + char + text[position + 1 :], "plain ASCII", key.text())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hunter2",
        "ghp_" + "a" * 36,
        "-----BEGIN PRIVATE KEY-----",
        "PYTEST-VAULT-KEY-",
        "PYTEST-VAULT-KEY-2" + "A" * 58,
        "KEY-1" + "A" * 58,
    ],
)
def test_text_that_is_not_a_key_says_so_without_repeating_it(text: str) -> None:
    assert_rejected(text, "not a pytest-vault key")


def test_prefix_alone_is_too_short() -> None:
    assert_rejected(KEY_PREFIX, "copied incompletely")


def test_base32_padding_is_not_accepted(key: VaultKey) -> None:
    with pytest.raises(KeyFormatError):
        VaultKey.parse(key.text() + "======")


# -- the key id -----------------------------------------------------------------------------


def test_key_id_format(key: VaultKey) -> None:
    assert re.fullmatch(r"k_[0-9a-f]{16}", key.key_id)


def test_key_id_is_stable_for_a_key(key: VaultKey) -> None:
    again = VaultKey.parse(key.text())
    assert again.key_id == key.key_id
    assert VaultKey.parse(key.text().lower()).key_id == key.key_id


def test_key_ids_differ_between_keys() -> None:
    ids = {VaultKey(raw).key_id for raw in FIXED_RAW}
    ids |= {VaultKey.generate().key_id for _ in range(30)}
    assert len(ids) == len(FIXED_RAW) + 30


def test_key_id_reveals_nothing_of_the_key(key: VaultKey) -> None:
    fingerprint = key.key_id.removeprefix("k_")
    raw = raw_of(key)
    assert fingerprint not in raw.hex()
    assert raw.hex()[:16] != fingerprint
    assert fingerprint.upper() not in body_of(key).upper()
    # No run of 6 hex characters of the raw key shows up in the id either.
    assert not any(raw.hex()[i : i + 6] in fingerprint for i in range(0, 64 - 6))


# -- the key never shows itself --------------------------------------------------------------


def test_repr_and_str_show_the_key_id_never_the_key(key: VaultKey) -> None:
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), str({"k": key})):
        assert key.key_id in shown
        assert body_of(key) not in shown
        assert body_of(key).lower() not in shown
        assert raw_of(key).hex() not in shown
    assert repr(key) == f"VaultKey({key.key_id})"


def test_key_has_no_instance_dict_to_leak_through() -> None:
    key = VaultKey.generate()
    assert not hasattr(key, "__dict__")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_a_key_is_refused(key: VaultKey, protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key, protocol=protocol)


def test_copying_a_key_is_refused_too(key: VaultKey) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.deepcopy(key)


# -- several keys in one variable -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        (",,", []),
        ("A", ["A"]),
        ("A,B", ["A", "B"]),
        ("A, B", ["A", "B"]),
        ("A B", ["A", "B"]),
        ("A\nB\n", ["A", "B"]),
        ("\tA ,\n, B\t,C", ["A", "B", "C"]),
        (" A,,B ", ["A", "B"]),
    ],
)
def test_split_keys_on_commas_and_whitespace(text: str, expected: list[str]) -> None:
    assert split_keys(text) == expected


def test_split_keys_then_parse_gives_back_both_keys() -> None:
    old, new = VaultKey(FIXED_RAW[0]), VaultKey(FIXED_RAW[1])
    for joined in (f"{old.text()},{new.text()}", f"{old.text()}\n{new.text()}\n"):
        parsed = [VaultKey.parse(part) for part in split_keys(joined)]
        assert parsed == [old, new]
