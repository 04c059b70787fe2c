"""The vault file: format, per-value encryption, validation, names and values, and atomic,
locked writes (`vaultfile`, `cipher`, `names`, `fileio`)."""

from __future__ import annotations

import base64
import os
import re
import threading
import time
import tomllib
from pathlib import Path

import pytest
from vaultfile_reference import assert_file_error, rendered, rewrite, token_line, token_of

from pytest_vault.cipher import CIPHER, NONCE_BYTES, TAG_BYTES
from pytest_vault.errors import (
    SecretNameError,
    SecretValueError,
    TamperedError,
    VaultError,
    VaultFileError,
    VaultFileExistsError,
    VaultFileMissingError,
    VaultUsageError,
)
from pytest_vault.fileio import write_atomic, write_lock
from pytest_vault.key import VaultKey
from pytest_vault.names import MAX_NAME_LENGTH, MAX_VALUE_BYTES, check_name, check_value
from pytest_vault.vault import set_secrets
from pytest_vault.vaultfile import FORMAT_VERSION, VaultFile, VaultHeader

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)
AWKWARD_VALUES = {
    "PEM_KEY": PEM,
    "QUOTES": "she said \"hello\" and 'bye'",
    "BACKSLASHES": "C:\\Users\\me\\n\\t\\\\ and \\u0041",
    "NON_ASCII": "pässwörd-ñandú-Ωμέγα-密码-パスワード",
    "EMOJI": "🔑🗝️ secret 👩‍💻 value",
    "EMPTY": "",
    "TRIPLE_QUOTES": "before \"\"\" middle ''' after",
    "TOML_LOOKING": '[vault]\nformat = 2\nid = "x"\n[secrets]\nA = "B"\n',
    "CONTROL": "tab\tcr\rnul\x00bell\x07",
    "SPACES": "  leading and trailing  ",
}


def make_vault(path: Path, key: VaultKey, values: dict[str, str]) -> VaultFile:
    vault_file = VaultFile(path, VaultHeader.new(key.key_id))
    cipher = vault_file.cipher(key)
    vault_file.tokens = {name: cipher.seal(name, value) for name, value in values.items()}
    vault_file.save(create=True)
    return vault_file


# -- format and round trip ------------------------------------------------------------------


def test_render_then_parse_gives_back_header_and_tokens(path: Path, key: VaultKey) -> None:
    written = make_vault(path, key, {"B_TOKEN": "two", "A_TOKEN": "one"})
    read = VaultFile.load(path)
    assert read.header == written.header
    assert read.tokens == written.tokens
    assert read.names == ["A_TOKEN", "B_TOKEN"]
    assert read.decrypt_all(key) == {"A_TOKEN": "one", "B_TOKEN": "two"}
    assert read.render() == path.read_text(encoding="utf-8")


def test_file_layout_is_the_documented_toml(path: Path, key: VaultKey) -> None:
    vault_file = make_vault(path, key, {"API_TOKEN": "value-1"})
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"vault", "secrets"}
    assert document["vault"]["format"] == FORMAT_VERSION == 1
    assert re.fullmatch(r"v_[0-9a-f]{32}", document["vault"]["id"])
    assert document["vault"]["id"] == vault_file.header.vault_id
    assert document["vault"]["key_id"] == key.key_id
    assert document["vault"]["cipher"] == CIPHER == "AES-256-GCM"
    assert document["vault"]["retired_key_ids"] == []
    assert list(document["secrets"]) == ["API_TOKEN"]
    raw = base64.b64decode(document["secrets"]["API_TOKEN"], validate=True)
    assert len(raw) == NONCE_BYTES + len(b"value-1") + TAG_BYTES


def test_each_vault_gets_its_own_random_id(key: VaultKey) -> None:
    ids = {VaultHeader.new(key.key_id).vault_id for _ in range(20)}
    assert len(ids) == 20


def test_names_are_readable_without_the_key(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"DB_PASSWORD": "x" * 10, "API_TOKEN": "y" * 10})
    text = path.read_text(encoding="utf-8")
    assert "DB_PASSWORD = " in text
    assert "API_TOKEN = " in text
    assert VaultFile.load(path).names == ["API_TOKEN", "DB_PASSWORD"]


def test_sealing_the_same_value_twice_gives_different_tokens(key: VaultKey) -> None:
    cipher = VaultFile(Path("x"), VaultHeader.new(key.key_id)).cipher(key)
    assert cipher.seal("A", "same value") != cipher.seal("A", "same value")


@pytest.mark.parametrize("name", sorted(AWKWARD_VALUES))
def test_awkward_values_round_trip_and_never_appear_in_the_file(
    path: Path, key: VaultKey, name: str
) -> None:
    value = AWKWARD_VALUES[name]
    make_vault(path, key, {name: value})
    data = path.read_bytes()
    text = data.decode("utf-8")
    assert VaultFile.load(path).decrypt_all(key) == {name: value}
    if value:
        assert value.encode("utf-8") not in data
        assert base64.b64encode(value.encode("utf-8")).decode() not in text
        values_part = text.split("[secrets]\n", 1)[1]
        for part in re.split(r"\s+", value):
            if len(part) >= 4:
                assert part not in values_part, part
    # The value's line is exactly one line, whatever the value holds.
    assert token_line(text, name).endswith('"')
    assert len([line for line in text.splitlines() if line.startswith(name)]) == 1


def test_all_awkward_values_in_one_file(path: Path, key: VaultKey) -> None:
    make_vault(path, key, AWKWARD_VALUES)
    text = path.read_text(encoding="utf-8")
    assert VaultFile.load(path).decrypt_all(key) == AWKWARD_VALUES
    secrets_section = text.split("[secrets]\n", 1)[1]
    assert len(secrets_section.strip().splitlines()) == len(AWKWARD_VALUES)
    for line in PEM.splitlines():
        assert line[5:40] not in text


def test_a_multi_line_value_is_one_line_of_the_file(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"PEM_KEY": PEM, "OTHER": "x"})
    before = path.read_text(encoding="utf-8").splitlines()
    assert len(before) == len(_header_lines(path)) + 2


def _header_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [*text.split("[secrets]\n", 1)[0].splitlines(), "[secrets]"]


# -- tampering ------------------------------------------------------------------------------


def test_a_flipped_character_in_a_ciphertext_is_tampering(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"API_TOKEN": "a" * 40, "OTHER": "b" * 40})
    token = token_of(path.read_text(encoding="utf-8"), "API_TOKEN")
    position = len(token) // 2
    flipped = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    rewrite(path, lambda t: t.replace(token, flipped))
    vault_file = VaultFile.load(path)  # still well-formed: only the key can tell
    with pytest.raises(TamperedError) as info:
        vault_file.decrypt_all(key)
    message = str(info.value)
    assert "API_TOKEN" in message
    assert str(path) in message
    assert "a" * 10 not in message
    assert vault_file.cipher(key).open("OTHER", vault_file.tokens["OTHER"], path) == "b" * 40


def test_every_flipped_byte_of_a_ciphertext_is_detected(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"API_TOKEN": "value-of-the-token"})
    vault_file = VaultFile.load(path)
    cipher = vault_file.cipher(key)
    raw = base64.b64decode(vault_file.tokens["API_TOKEN"])
    for position in range(len(raw)):
        damaged = bytearray(raw)
        damaged[position] ^= 0x01
        token = base64.b64encode(bytes(damaged)).decode()
        with pytest.raises(TamperedError, match="API_TOKEN"):
            cipher.open("API_TOKEN", token, path)


def test_ciphertexts_swapped_between_names_are_tampering(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"API_TOKEN": "token-value", "DB_PASSWORD": "password-value"})
    text = path.read_text(encoding="utf-8")
    first, second = token_of(text, "API_TOKEN"), token_of(text, "DB_PASSWORD")
    rewrite(
        path,
        lambda t: t.replace(first, "@@").replace(second, first).replace("@@", second),
    )
    vault_file = VaultFile.load(path)
    assert vault_file.tokens["API_TOKEN"] == second
    with pytest.raises(TamperedError, match="API_TOKEN"):
        vault_file.decrypt_all(key)
    cipher = vault_file.cipher(key)
    for name in ("API_TOKEN", "DB_PASSWORD"):
        with pytest.raises(TamperedError) as info:
            cipher.open(name, vault_file.tokens[name], path)
        assert f"value of {name} " in str(info.value)
        assert "value" + "-" not in str(info.value)


def test_a_value_moved_to_another_vault_is_tampering(tmp_path: Path, key: VaultKey) -> None:
    first = make_vault(tmp_path / "one.vault.toml", key, {"API_TOKEN": "from-vault-one"})
    second_path = tmp_path / "two.vault.toml"
    make_vault(second_path, key, {"API_TOKEN": "from-vault-two"})
    moved = first.tokens["API_TOKEN"]
    rewrite(
        second_path,
        lambda t: t.replace(token_of(t, "API_TOKEN"), moved),
    )
    second = VaultFile.load(second_path)
    assert second.tokens["API_TOKEN"] == moved
    with pytest.raises(TamperedError) as info:
        second.decrypt_all(key)
    assert "API_TOKEN" in str(info.value)
    assert str(second_path) in str(info.value)


def test_a_value_under_a_changed_vault_id_is_tampering(path: Path, key: VaultKey) -> None:
    vault_file = make_vault(path, key, {"API_TOKEN": "bound-to-this-vault"})
    other_id = "v_" + "0" * 32
    rewrite(path, lambda t: t.replace(vault_file.header.vault_id, other_id))
    with pytest.raises(TamperedError, match="API_TOKEN"):
        VaultFile.load(path).decrypt_all(key)


def test_decrypt_all_refuses_a_key_of_another_vault(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"A": "value"})
    with pytest.raises(VaultError, match="does not open"):
        VaultFile.load(path).decrypt_all(VaultKey.generate())


# -- unreadable and malformed files ------------------------------------------------------------


def test_missing_file(path: Path) -> None:
    with pytest.raises(VaultFileMissingError) as info:
        VaultFile.load(path)
    assert str(path) in str(info.value)
    assert "no vault file" in str(info.value)


def test_a_folder_is_not_a_vault_file(path: Path) -> None:
    path.mkdir()
    with pytest.raises(VaultFileError, match="is a folder"):
        VaultFile.load(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {})
    path.chmod(0)
    with pytest.raises(VaultFileError, match="Cannot read the vault file"):
        VaultFile.load(path)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"", "no [vault] table"),
        (b"hello world, this is not toml", "not TOML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not text"),
        (b"\xff\xfe\x00\x00garbage", "not text"),
        (b"\x00\x01\x02\x03", "not TOML"),
        (b"[vault]\nformat = 1\nid = 'v_", "not TOML"),
        (b"secrets = 3\n", "no [vault] table"),
        (b"vault = 'string'\n", "no [vault] table"),
    ],
    ids=["empty", "prose", "png", "utf16ish", "control", "cut-string", "no-vault", "vault-str"],
)
def test_garbage_is_a_vault_file_error_naming_the_file(
    path: Path, data: bytes, phrase: str
) -> None:
    assert_file_error(path, data, phrase)


def test_a_truncated_file_is_refused(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"API_TOKEN": "x" * 200, "DB_PASSWORD": "y" * 200})
    data = path.read_bytes()
    secrets_at = data.index(b"[secrets]")
    cuts = [len(data) // 4, secrets_at - 30, secrets_at + 30, len(data) - 40, len(data) - 2]
    for cut in cuts:
        with pytest.raises(VaultFileError) as info:
            VaultFile.parse(path, data[:cut])
        assert str(path) in str(info.value)


def test_merge_conflict_markers_are_named(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"API_TOKEN": "one", "ZED": "two"})
    text = path.read_text(encoding="utf-8")
    line = token_line(text, "API_TOKEN")
    other_token = VaultFile.load(path).cipher(key).seal("API_TOKEN", "changed")
    conflicted = text.replace(
        line,
        f'<<<<<<< HEAD\n{line}\n=======\nAPI_TOKEN = "{other_token}"\n>>>>>>> feature',
    )
    error = assert_file_error(path, conflicted.encode(), "merge conflict markers")
    assert "pytest-vault check" in str(error)


def test_unknown_future_format_asks_for_an_upgrade(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"A": "value"})
    data = path.read_bytes().replace(b"format = 1", b"format = 7")
    error = assert_file_error(path, data, "format 7")
    assert "Upgrade pytest-vault" in str(error)
    assert "newer than this pytest-vault understands" in str(error)


def _header_variants() -> list[tuple[str, str, str]]:
    # (text to replace, replacement, phrase of the message)
    return [
        ("format = 1", "format = 0", "format version 0 does not exist"),
        ("format = 1", 'format = "1"', "format version is missing"),
        ("format = 1", "format = true", "format version is missing"),
        ("format = 1\n", "", "format version is missing"),
        ('id = "v_', 'id = "x_', "vault id is missing or malformed"),
        ('id = "v_', 'id = "v_zz', "vault id is missing or malformed"),
        ('key_id = "k_', 'key_id = "k_00', "key id is missing or malformed"),
        ('key_id = "k_', 'key_id = "K_', "key id is missing or malformed"),
        ('cipher = "AES-256-GCM"', 'cipher = "ROT13"', "cipher is not AES-256-GCM"),
        ("retired_key_ids = []", 'retired_key_ids = ["nope"]', "retired key ids is malformed"),
        ("retired_key_ids = []", "retired_key_ids = 3", "retired key ids is malformed"),
        ("retired_key_ids = []", "retired_key_ids = []\nextra = 1", "unexpected entries (extra)"),
        ("[secrets]", "[other]\nx = 1\n\n[secrets]", "unexpected tables (other)"),
        ("[secrets]", "secrets = 5\n[ignored]", "unexpected tables"),
    ]


@pytest.mark.parametrize(("old", "new", "phrase"), _header_variants())
def test_malformed_header_entries(
    path: Path, key: VaultKey, old: str, new: str, phrase: str
) -> None:
    make_vault(path, key, {"A": "value"})
    text = path.read_text(encoding="utf-8")
    assert old in text
    error = assert_file_error(path, text.replace(old, new, 1).encode(), phrase)
    assert "is not a valid vault file" in str(error)


def test_secrets_entry_that_is_not_a_table(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {})
    text = path.read_text(encoding="utf-8").replace("[secrets]", "")
    data = ('secrets = "x"\n' + text).encode()
    assert_file_error(path, data, "[secrets] entry is not a table")


@pytest.mark.parametrize(
    "line",
    [
        '1ABC = "{token}"',
        '"WITH SPACE" = "{token}"',
        '"ÄPFEL" = "{token}"',
        '"DASH-NAME" = "{token}"',
        '"" = "{token}"',
        '"' + "A" * (MAX_NAME_LENGTH + 1) + '" = "{token}"',
    ],
    ids=["digit-first", "space", "umlaut", "dash", "empty", "too-long"],
)
def test_bad_names_in_the_file(path: Path, key: VaultKey, line: str) -> None:
    vault_file = make_vault(path, key, {"GOOD": "value"})
    token = vault_file.tokens["GOOD"]
    data = (path.read_text(encoding="utf-8") + line.format(token=token) + "\n").encode()
    assert_file_error(path, data, "invalid name")


@pytest.mark.parametrize(
    "token",
    ["", "not base64!", "QUJD", "QUJDRA=", "=" * 8, "A" * 36, "12"],
    ids=["empty", "punctuation", "too-short", "bad-padding", "only-padding", "short", "odd"],
)
def test_malformed_tokens(path: Path, key: VaultKey, token: str) -> None:
    make_vault(path, key, {})
    data = (path.read_text(encoding="utf-8") + f'API_TOKEN = "{token}"\n').encode()
    assert_file_error(path, data, "value of API_TOKEN is not a well-formed encrypted value")


@pytest.mark.parametrize("value", ["3", "true", "[1, 2]", "{ a = 1 }", "2024-01-01"])
def test_token_that_is_not_a_string(path: Path, key: VaultKey, value: str) -> None:
    make_vault(path, key, {})
    data = (path.read_text(encoding="utf-8") + f"API_TOKEN = {value}\n").encode()
    assert_file_error(path, data, "value of API_TOKEN is not a well-formed encrypted value")


def test_a_dotted_name_is_a_nested_table_not_a_value(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {})
    data = (path.read_text(encoding="utf-8") + "API_TOKEN.B = 1\n").encode()
    assert_file_error(path, data, "value of API_TOKEN is not a well-formed encrypted value")


# -- names and values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["A", "_", "_PRIVATE", "api_token", "Mixed_Case_9", "X1", "a" * MAX_NAME_LENGTH],
)
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1ABC",
        "9",
        "API-TOKEN",
        "API TOKEN",
        "API.TOKEN",
        "ÄPFEL",
        "naïve",
        "ПАРОЛЬ",
        "A\n",
        "A\x00",
        "$HOME",
        "a" * (MAX_NAME_LENGTH + 1),
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(SecretNameError) as info:
        check_name(name)
    assert isinstance(info.value, VaultUsageError)
    assert info.value.exit_status == 2
    assert "not a valid secret name" in str(info.value)
    assert "not starting with a digit" in str(info.value)
    assert name not in str(info.value) or len(name) <= 40


def test_value_of_exactly_one_mebibyte_is_accepted(path: Path, key: VaultKey) -> None:
    value = "x" * MAX_VALUE_BYTES
    assert check_value("BIG", value) is value
    make_vault(path, key, {"BIG": value})
    assert VaultFile.load(path).decrypt_all(key)["BIG"] == value


def test_one_mebibyte_counts_bytes_not_characters() -> None:
    two_byte = "é" * (MAX_VALUE_BYTES // 2)
    assert check_value("BIG", two_byte) == two_byte
    with pytest.raises(SecretValueError, match="1 MiB"):
        check_value("BIG", two_byte + "é")


def test_value_over_one_mebibyte_is_refused() -> None:
    with pytest.raises(SecretValueError) as info:
        check_value("BIG", "x" * (MAX_VALUE_BYTES + 1))
    message = str(info.value)
    assert "BIG" in message
    assert "1,048,577 bytes" in message
    assert "at most 1,048,576 bytes (1 MiB)" in message
    assert "xxxxxxxx" not in message


def test_a_token_longer_than_any_1mib_value_is_refused(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {})
    token = base64.b64encode(bytes(NONCE_BYTES + MAX_VALUE_BYTES + TAG_BYTES + 3)).decode()
    data = (path.read_text(encoding="utf-8") + f'BIG = "{token}"\n').encode()
    assert_file_error(path, data, "value of BIG is not a well-formed")


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(SecretValueError, match="not valid Unicode"):
        check_value("A", "bad \ud800 value")


# -- writing --------------------------------------------------------------------------------


def test_atomic_write_leaves_no_temporary_file(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"A": "one"})
    for round_ in range(3):
        set_secrets(path, key, {f"N{round_}": "value"})
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert VaultFile.load(path).names == ["A", "N0", "N1", "N2"]


def test_write_atomic_replaces_the_content_and_keeps_the_mode(path: Path) -> None:
    path.write_bytes(b"old")
    path.chmod(0o640)
    write_atomic(path, b"new content")
    assert path.read_bytes() == b"new content"
    assert path.stat().st_mode & 0o777 == 0o640
    assert list(path.parent.iterdir()) == [path]


def test_write_atomic_into_a_missing_folder_names_it(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "v.toml"
    with pytest.raises(VaultFileError, match="does not exist"):
        write_atomic(target, b"x")


def test_create_refuses_an_existing_file_and_leaves_it_untouched(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"A": "one"})
    before = path.read_bytes()
    stat_before = path.stat()
    other = VaultFile(path, VaultHeader.new(VaultKey.generate().key_id))
    with pytest.raises(VaultFileExistsError) as info:
        other.save(create=True)
    assert str(path) in str(info.value)
    assert "not changed" in str(info.value)
    assert path.read_bytes() == before
    assert path.stat().st_ino == stat_before.st_ino
    assert list(path.parent.iterdir()) == [path]


def test_create_writes_a_new_file(path: Path) -> None:
    write_atomic(path, b"fresh", create=True)
    assert path.read_bytes() == b"fresh"
    assert list(path.parent.iterdir()) == [path]


def test_write_lock_removes_its_lock_file(path: Path) -> None:
    lock = path.with_name(path.name + ".lock")
    with write_lock(path):
        assert lock.exists()
    assert not lock.exists()
    with pytest.raises(RuntimeError), write_lock(path):
        raise RuntimeError("boom")
    assert not lock.exists()
    assert list(path.parent.iterdir()) == []


def test_write_lock_excludes_a_second_writer(path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with write_lock(path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with (
            pytest.raises(VaultError, match="Another pytest-vault command"),
            write_lock(path, timeout=0.3),
        ):
            pass
        assert time.monotonic() - started >= 0.3
    finally:
        release.set()
        thread.join()
    with write_lock(path, timeout=1):
        pass


def test_write_lock_removes_temporaries_of_dead_writers(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {})
    stale = path.parent / f".{path.name}.abc123.tmp"
    stale.write_text("half written")
    unrelated = path.parent / ".other.toml.abc.tmp"
    unrelated.write_text("not ours")
    with write_lock(path):
        pass
    assert not stale.exists()
    assert unrelated.exists()


def test_changing_one_secret_changes_only_its_line(path: Path, key: VaultKey) -> None:
    values = {f"SECRET_{i}": f"value-number-{i}" for i in range(8)}
    values["PEM_KEY"] = PEM
    make_vault(path, key, values)
    before = path.read_text(encoding="utf-8").splitlines()
    set_secrets(path, key, {"SECRET_3": "a brand new value"})
    after = path.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    assert set(before) - set(after) == {token_line("\n".join(before), "SECRET_3")}
    assert set(after) - set(before) == {token_line("\n".join(after), "SECRET_3")}
    # Order is kept too: only the one line differs, at the same place.
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    assert before[changed[0]].startswith("SECRET_3 = ")


def test_adding_a_secret_adds_one_line(path: Path, key: VaultKey) -> None:
    make_vault(path, key, {"B": "one", "D": "two"})
    before = path.read_text(encoding="utf-8").splitlines()
    set_secrets(path, key, {"C": "three"})
    after = path.read_text(encoding="utf-8").splitlines()
    assert set(before) <= set(after)
    assert [line for line in after if line not in before] == [token_line("\n".join(after), "C")]


def test_rekeyed_header_retires_the_old_key_once(key: VaultKey) -> None:
    header = VaultHeader.new(key.key_id)
    second, third = VaultKey.generate(), VaultKey.generate()
    once = header.rekeyed(second.key_id)
    assert once.vault_id == header.vault_id
    assert once.key_id == second.key_id
    assert once.retired_key_ids == (key.key_id,)
    twice = once.rekeyed(third.key_id)
    assert twice.retired_key_ids == (key.key_id, second.key_id)
    # Coming back to a retired key takes it off the retired list.
    back = twice.rekeyed(key.key_id)
    assert back.key_id == key.key_id
    assert back.retired_key_ids == (second.key_id, third.key_id)
    assert header.rekeyed(key.key_id).retired_key_ids == ()


def test_retired_key_ids_survive_a_round_trip(path: Path, key: VaultKey) -> None:
    retired = VaultKey.generate().key_id
    header = VaultHeader.new(key.key_id)
    vault_file = VaultFile(path, VaultHeader(header.vault_id, key.key_id, (retired,)))
    vault_file.save(create=True)
    assert VaultFile.load(path).header.retired_key_ids == (retired,)


def test_a_format_number_too_long_for_int_is_a_vault_file_error(path: Path, key: VaultKey) -> None:
    text = rendered(path, key, 1, 0).replace("format = 1", "format = 1" + "0" * 5000)
    assert_file_error(path, text.encode(), "not TOML")
    text = rendered(path, key, 1, 0).replace("format = 1", "format = 1" + "0" * 30)
    assert_file_error(path, text.encode(), "newer than this pytest-vault understands")
