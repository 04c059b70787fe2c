"""The `pytest-vault` console script end to end: every command, exit status and stream."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from projects import CONSOLE_SCRIPT, CliResult, Project, ThrowawayKeyring

from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

ENV = "PYTEST_VAULT_KEY"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBdLUVFqJrW3tOW3oWm+fH4Uq5s3yQ2Kj0sZ8m3b0pXmQAAAJhVx0hKVcdI\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
AWKWARD = {
    "PEM_KEY": PEM,
    "QUOTES": "it's \"quoted\" and 'single'",
    "BACKSLASHES": "C:\\path\\to\\n\\t\\\\end",
    "NON_ASCII": "pässwörd-密码-🔑-Ωμέγα",
    "TRAILING_NEWLINES": "trailing-newlines\n\n",
    "LEADING_SPACE": "  padded  ",
}
KEY_ADVICE = "This is the vault key. Keep a copy somewhere safe"


def assert_clean(result: CliResult, *secrets: str) -> None:
    """No traceback anywhere; no key and no secret value on standard error."""
    assert "Traceback" not in result.output
    assert "Error:" not in result.stderr.replace("pytest-vault: error:", "")
    for secret in secrets:
        for part in [secret.strip(), *secret.strip().splitlines()]:
            if len(part) >= 4:
                assert part not in result.stderr, f"{part!r} leaked to stderr"


def assert_error(result: CliResult, status: int, phrase: str, *secrets: str) -> None:
    assert result.returncode == status, result.output
    assert phrase in result.stderr, result.stderr
    assert result.stdout == ""
    assert_clean(result, *secrets)


def values_in(project: Project, key: str) -> dict[str, str]:
    return VaultFile.load(project.vault_file).decrypt_all(VaultKey.parse(key))


def set_value(project: Project, key: str, name: str, value: str) -> CliResult:
    result = project.cli("set", name, input=value + "\n", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert_clean(result, key, value)
    return result


@pytest.fixture
def key(project: Project) -> str:
    """A vault with two secrets, made in-process to save time; its key (not in the keyring)."""
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(
        project.vault_file,
        key,
        {"API_TOKEN": "api-token-value-1", "DB_PASSWORD": "db-password-value-2"},
    )
    return key.text()


SECRETS = ("api-token-value-1", "db-password-value-2")


# -- init -------------------------------------------------------------------------------------


def test_init_prints_the_key_alone_and_saves_it_in_the_keyring(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("init")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1
    key = VaultKey.parse(result.stdout)
    text = result.stdout.strip()
    assert text == key.text()
    assert f"Created the vault {project.vault_file}." in result.stderr
    assert "Saved the key in the system keyring (throwaway_keyring)." in result.stderr
    assert KEY_ADVICE in result.stderr
    assert_clean(result, text)
    assert test_keyring.entries() == {key.key_id: text}
    vault_file = VaultFile.load(project.vault_file)
    assert vault_file.header.key_id == key.key_id
    assert vault_file.names == []


def test_init_no_keyring_leaves_the_keyring_alone(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("init", "--no-keyring")
    assert result.returncode == 0
    assert "The key was NOT saved in a keyring: the keyring was not used (--no-keyring)." in (
        result.stderr
    )
    assert "--key-file=PATH or PYTEST_VAULT_KEY_FILE=PATH" in result.stderr
    assert test_keyring.entries() == {}
    assert VaultKey.parse(result.stdout).key_id == VaultFile.load(project.vault_file).header.key_id
    assert_clean(result, result.stdout)


def test_init_on_ci_does_not_use_the_keyring(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("init", env={"CI": "true"})
    assert result.returncode == 0
    assert "not used because CI is set" in result.stderr
    assert test_keyring.entries() == {}


def test_init_refuses_an_existing_file(project: Project, key: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("init", "--no-keyring")
    assert_error(result, 1, "already exists; `init` never replaces a vault", key)
    assert project.vault_file.read_bytes() == before


def test_init_key_out_writes_a_private_file(project: Project) -> None:
    result = project.cli("init", "--no-keyring", "--key-out", "vault.key")
    assert result.returncode == 0, result.stderr
    key_file = project.root / "vault.key"
    assert key_file.read_text(encoding="utf-8") == result.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "Wrote the key to vault.key (readable only by you)." in result.stderr
    assert_clean(result, result.stdout)


def test_init_key_out_never_overwrites_and_creates_nothing(project: Project) -> None:
    key_file = project.root / "vault.key"
    key_file.write_text("precious\n", encoding="utf-8")
    result = project.cli("init", "--no-keyring", "--key-out", "vault.key")
    assert_error(result, 2, "vault.key already exists; a key file is never overwritten")
    assert key_file.read_text(encoding="utf-8") == "precious\n"
    assert not project.vault_file.exists()


def test_init_whose_key_cannot_be_kept_leaves_no_vault(project: Project) -> None:
    result = project.cli("init", "--no-keyring", "--key-out", "missing/vault.key")
    assert_error(result, 2, "Cannot create the key file missing/vault.key")
    assert "its key could not be handed over" in result.stderr
    assert not project.vault_file.exists()
    assert sorted(p.name for p in project.root.iterdir()) == ["pytest.ini"]


def test_init_in_a_missing_folder(project: Project) -> None:
    result = project.cli("--file", "nowhere/v.toml", "init", "--no-keyring")
    assert_error(result, 1, "does not exist")


# -- set ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("value", "value"),
        ("value\n", "value"),
        ("value\n\n", "value\n"),
        ("line1\nline2\n", "line1\nline2"),
    ],
    ids=["no-newline", "one", "two", "multi-line"],
)
def test_set_from_stdin_drops_exactly_one_trailing_newline(
    project: Project, typed: str, stored: str
) -> None:
    key = project.init()
    result = project.cli("set", "NAME", input=typed, env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert values_in(project, key) == {"NAME": stored}


@pytest.mark.parametrize("typed", ["", "\n"], ids=["dev-null", "only-newline"])
def test_set_refuses_an_empty_value_from_stdin(project: Project, typed: str) -> None:
    key = project.init()
    before = project.vault_file.read_bytes()
    result = project.cli("set", "NAME", input=typed, env={ENV: key})
    assert_error(result, 2, "No value for NAME was given (it was empty); nothing was set.", key)
    assert project.vault_file.read_bytes() == before


def test_set_over_an_existing_name_says_replaced(project: Project) -> None:
    key = project.init()
    first = project.cli("set", "NAME", input="first-value", env={ENV: key})
    assert first.stderr.startswith("Set NAME in "), first.stderr
    second = project.cli("set", "NAME", input="second-value", env={ENV: key})
    assert second.stderr.startswith("Replaced NAME in "), second.stderr
    assert values_in(project, key) == {"NAME": "second-value"}


def test_set_from_file_stores_the_exact_text(project: Project, key: str) -> None:
    source = project.root / "cert.pem"
    source.write_bytes((PEM + "\n\n").encode("utf-8"))
    result = project.cli("set", "PEM_KEY", "--from-file", "cert.pem", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert_clean(result, key, PEM)
    assert values_in(project, key)["PEM_KEY"] == PEM + "\n\n"
    got = project.cli("get", "PEM_KEY", env={ENV: key})
    assert got.stdout == PEM + "\n\n\n"


def test_set_from_a_missing_or_binary_file(project: Project, key: str) -> None:
    result = project.cli("set", "X", "--from-file", "nope.txt", env={ENV: key})
    assert_error(result, 2, "There is no file nope.txt.", key)
    (project.root / "blob.bin").write_bytes(b"\xff\xfe\x00\x01")
    result = project.cli("set", "X", "--from-file", "blob.bin", env={ENV: key})
    assert_error(result, 1, "blob.bin is not UTF-8 text", key)
    assert "X" not in VaultFile.load(project.vault_file).names


def test_set_never_takes_the_value_from_the_command_line(project: Project, key: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("set", "NEW_SECRET", "s3cr3t-on-argv", env={ENV: key})
    assert_error(
        result, 2, "not repeated here in case they hold a secret or a key", "s3cr3t-on-argv", key
    )
    assert "usage:" in result.stderr
    assert project.vault_file.read_bytes() == before


def test_set_replaces_a_value(project: Project, key: str) -> None:
    set_value(project, key, "API_TOKEN", "replaced-value")
    assert values_in(project, key) == {
        "API_TOKEN": "replaced-value",
        "DB_PASSWORD": "db-password-value-2",
    }


def test_set_warns_about_values_too_short_to_mask(project: Project, key: str) -> None:
    short = set_value(project, key, "PIN", "123")
    assert "Warning: PIN is shorter than 4 characters" in short.stderr
    assert "cannot mask it" in short.stderr
    assert "123" not in short.stderr
    long_enough = set_value(project, key, "PIN", "1234")
    assert "Warning" not in long_enough.stderr


@pytest.mark.parametrize("name", ["1ABC", "API-TOKEN", "ÄPFEL"])
def test_set_refuses_bad_names(project: Project, key: str, name: str) -> None:
    result = project.cli("set", name, input="value-not-stored", env={ENV: key})
    assert_error(result, 2, "is not a valid secret name", key, "value-not-stored")


def test_set_without_a_key(project: Project, key: str) -> None:
    result = project.cli("set", "X", input="value-x-1")
    assert_error(result, 1, "No key for", "value-x-1")
    assert "X" not in VaultFile.load(project.vault_file).names


def test_set_over_one_mebibyte_is_refused(project: Project, key: str) -> None:
    result = project.cli("set", "BIG", input="x" * (1024 * 1024 + 1) + "\n", env={ENV: key})
    assert_error(result, 1, "a secret holds at most 1,048,576 bytes (1 MiB)", key)
    assert "xxxxxxxx" not in result.stderr


@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_awkward_values_round_trip_through_set_and_get(
    project: Project, key: str, name: str
) -> None:
    value = AWKWARD[name]
    set_value(project, key, name, value)
    result = project.cli("get", name, env={ENV: key})
    assert result.returncode == 0
    assert result.stdout == value + "\n"
    assert_clean(result, key, value)
    assert value.strip() not in project.vault_file.read_text(encoding="utf-8")


# -- get, list, rm --------------------------------------------------------------------------------


def test_get_prints_the_value_and_a_newline(project: Project, key: str) -> None:
    result = project.cli("get", "API_TOKEN", env={ENV: key})
    assert result.returncode == 0
    assert result.stdout == "api-token-value-1\n"
    assert result.stderr == ""


def test_get_missing_secret_lists_the_names(project: Project, key: str) -> None:
    result = project.cli("get", "NOPE", env={ENV: key})
    assert_error(result, 1, "has no secret NOPE (it holds: API_TOKEN, DB_PASSWORD)", key, *SECRETS)
    assert "pytest-vault set NOPE" in result.stderr


def test_get_without_a_key_says_what_was_tried(project: Project, key: str) -> None:
    result = project.cli("get", "API_TOKEN")
    assert_error(result, 1, f"No key for {project.vault_file} was found", *SECRETS)
    assert f"{ENV} is not set" in result.stderr
    assert "has no entry for" in result.stderr


def test_get_with_the_key_in_the_keyring(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(VaultKey.parse(key).key_id, key)
    result = project.cli("get", "DB_PASSWORD")
    assert result.stdout == "db-password-value-2\n"
    assert result.returncode == 0
    # With CI set, the keyring is not read.
    on_ci = project.cli("get", "DB_PASSWORD", env={"CI": "true"})
    assert_error(on_ci, 1, "not read because CI is set", key)


def test_list_needs_no_key(project: Project, key: str, test_keyring: ThrowawayKeyring) -> None:
    result = project.cli("list", env={"PYTEST_VAULT_TEST_KEYRING_FAIL": "1"})
    assert result.returncode == 0
    assert result.stdout == "API_TOKEN\nDB_PASSWORD\n"
    assert result.stderr == ""
    assert test_keyring.reads() == []


def test_list_of_an_empty_vault_and_of_no_vault(project: Project) -> None:
    project.init()
    assert project.cli("list").stdout == ""
    project.vault_file.unlink()
    result = project.cli("list")
    assert_error(result, 1, "There is no vault file at")
    assert "pytest-vault init" in result.stderr


def test_rm_removes_a_secret_without_a_key(project: Project, key: str) -> None:
    before = set(project.vault_file.read_text(encoding="utf-8").splitlines())
    result = project.cli("rm", "API_TOKEN")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"Removed API_TOKEN from {project.vault_file}." in result.stderr
    after = set(project.vault_file.read_text(encoding="utf-8").splitlines())
    assert after < before
    assert len(before - after) == 1
    assert values_in(project, key) == {"DB_PASSWORD": "db-password-value-2"}


def test_rm_of_a_missing_secret(project: Project, key: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("rm", "NOPE")
    assert_error(result, 1, "has no secret NOPE; nothing was removed")
    assert project.vault_file.read_bytes() == before


# -- status -------------------------------------------------------------------------------------


def test_status_with_a_key(project: Project, key: str) -> None:
    result = project.cli("status", env={ENV: key})
    assert result.returncode == 0
    assert result.stdout == ""
    assert f"Vault file: {project.vault_file}" in result.stderr
    assert "Secrets: 2" in result.stderr
    assert f"Key id: {VaultKey.parse(key).key_id}" in result.stderr
    assert f"Key: found in {ENV}" in result.stderr
    assert "Opens: yes" in result.stderr
    assert_clean(result, key, *SECRETS)


def test_status_without_a_key_exits_0(project: Project, key: str) -> None:
    result = project.cli("status")
    assert result.returncode == 0
    assert "Key: not found." in result.stderr
    assert "Opens" not in result.stderr
    assert_clean(result, key)


@pytest.mark.parametrize("kind", ["other-vault", "malformed"])
def test_status_with_a_wrong_key_exits_0(project: Project, key: str, kind: str) -> None:
    wrong = VaultKey.generate().text() if kind == "other-vault" else key[:-4]
    result = project.cli("status", env={ENV: wrong})
    assert result.returncode == 0
    assert "Key: found, but it does not open the vault." in result.stderr
    assert result.stdout == ""
    assert_clean(result, key, wrong)


def test_status_of_a_garbage_file_fails(project: Project) -> None:
    project.vault_file.write_text("not = [a vault", encoding="utf-8")
    result = project.cli("status")
    assert_error(result, 1, "is not a valid vault file")


# -- unlock, lock, key -----------------------------------------------------------------------


def test_unlock_from_stdin_saves_the_key(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("unlock", input=f"  {key}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "saved it in the system keyring (throwaway_keyring)" in result.stderr
    assert_clean(result, key)
    assert test_keyring.entries() == {VaultKey.parse(key).key_id: key}
    # Now the keyring alone opens the vault.
    assert project.cli("get", "API_TOKEN").stdout == "api-token-value-1\n"


@pytest.mark.parametrize(
    ("typed", "phrase"),
    [
        ("other", "newer key from a rotation this branch does not have yet"),
        ("typo", "mistyped"),
        ("garbage", "not a pytest-vault key"),
    ],
)
def test_unlock_with_a_wrong_key(
    project: Project, key: str, test_keyring: ThrowawayKeyring, typed: str, phrase: str
) -> None:
    text = {
        "other": VaultKey.generate().text(),
        "typo": key[:30] + ("A" if key[30] != "A" else "B") + key[31:],
        "garbage": "hunter2-not-a-key",
    }[typed]
    result = project.cli("unlock", input=text + "\n")
    assert_error(result, 1, phrase, key, text)
    assert "The key from standard input" in result.stderr
    assert test_keyring.entries() == {}


def test_unlock_with_undecodable_stdin_is_not_a_traceback(project: Project, key: str) -> None:
    result = project.cli("unlock", input=b"\xff\xfe\x00", env={"PYTHONIOENCODING": "utf-8:strict"})
    assert_error(result, 1, "it is not a pytest-vault key", key)


def test_unlock_with_empty_stdin(project: Project, key: str) -> None:
    result = project.cli("unlock", input="\n")
    assert_error(result, 2, "No key on standard input")


def test_unlock_without_a_keyring_says_the_key_was_not_saved(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("unlock", "--no-keyring", input=key)
    assert_error(result, 1, "but it was NOT saved: the keyring was not used (--no-keyring)", key)
    assert "--key-file=PATH or PYTEST_VAULT_KEY_FILE=PATH" in result.stderr
    assert test_keyring.entries() == {}


def test_unlock_on_a_machine_without_a_keyring(project: Project, key: str) -> None:
    result = project.cli(
        "unlock", input=key, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )
    assert_error(result, 1, "NOT saved: no system keyring is available on this machine", key)
    assert "PYTEST_VAULT_KEY_FILE=PATH" in result.stderr


def test_unlock_with_a_locked_keyring(project: Project, key: str) -> None:
    result = project.cli("unlock", input=key, env={"PYTEST_VAULT_TEST_KEYRING_FAIL": "1"})
    assert_error(result, 1, "could not be saved in the system keyring (KeyringLocked", key)


def test_lock_removes_the_entry(project: Project, test_keyring: ThrowawayKeyring) -> None:
    key = VaultKey.parse(project.cli("init").stdout)
    assert key.key_id in test_keyring.entries()
    result = project.cli("lock")
    assert result.returncode == 0
    assert "Removed the key of" in result.stderr
    assert test_keyring.entries() == {}
    again = project.cli("lock")
    assert again.returncode == 0
    assert f"has no entry for {key.key_id}; nothing to remove" in again.stderr
    no_keyring = project.cli("lock", "--no-keyring")
    assert_error(no_keyring, 2, "drop --no-keyring")


def test_key_prints_the_current_key(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    result = project.cli("key", env={ENV: key})
    assert result.returncode == 0
    assert result.stdout == key + "\n"
    assert result.stderr == ""
    test_keyring.put(VaultKey.parse(key).key_id, key)
    assert project.cli("key").stdout == key + "\n"
    missing = project.cli("key", "--no-keyring")
    assert_error(missing, 1, "No key for", key)


# -- rotate and reset ----------------------------------------------------------------------------


def test_rotate_keeps_every_secret_under_a_new_key(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    lines_before = project.vault_file.read_text(encoding="utf-8")
    result = project.cli("rotate", "--key-out", "new.key", env={ENV: key})
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip()
    assert result.stdout == new + "\n"
    new_key = VaultKey.parse(new)
    assert new != key
    assert "2 secret(s) re-encrypted" in result.stderr
    assert_clean(result, key, new, *SECRETS)
    assert (project.root / "new.key").read_text(encoding="utf-8") == new + "\n"
    assert stat.S_IMODE((project.root / "new.key").stat().st_mode) == 0o600
    assert test_keyring.entries() == {new_key.key_id: new}
    header = VaultFile.load(project.vault_file).header
    assert header.key_id == new_key.key_id
    assert header.retired_key_ids == (VaultKey.parse(key).key_id,)
    assert values_in(project, new) == {
        "API_TOKEN": "api-token-value-1",
        "DB_PASSWORD": "db-password-value-2",
    }
    assert project.vault_file.read_text(encoding="utf-8") != lines_before
    # The old key is now reported as stale, not as a stranger.
    stale = project.cli("get", "API_TOKEN", "--no-keyring", env={ENV: key})
    assert_error(stale, 1, "from before a reset or rotation of this vault", key, new)
    # CI may hold both while the rotation is merged.
    both = project.cli("get", "API_TOKEN", "--no-keyring", env={ENV: f"{key},{new}"})
    assert both.stdout == "api-token-value-1\n"


def test_rotate_without_a_key_changes_nothing(project: Project, key: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("rotate")
    assert_error(result, 1, "No key for")
    assert project.vault_file.read_bytes() == before


def test_rotate_key_out_collision_changes_nothing(project: Project, key: str) -> None:
    (project.root / "taken.key").write_text("keep me", encoding="utf-8")
    before = project.vault_file.read_bytes()
    result = project.cli("rotate", "--key-out", "taken.key", env={ENV: key})
    assert_error(result, 2, "never overwritten", key)
    assert project.vault_file.read_bytes() == before
    assert (project.root / "taken.key").read_text(encoding="utf-8") == "keep me"


def test_reset_without_terminal_or_yes_is_refused(project: Project, key: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("reset", env={ENV: key})
    assert_error(result, 1, "deletes all 2 secret(s) for good", key)
    assert "pass --yes" in result.stderr
    assert project.vault_file.read_bytes() == before
    assert sorted(p.name for p in project.root.iterdir()) == ["pytest.ini", "secrets.vault.toml"]


def test_reset_with_yes_needs_no_key_and_deletes_every_secret(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    vault_id = VaultFile.load(project.vault_file).header.vault_id
    result = project.cli("reset", "--yes")
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip()
    assert result.stdout == new + "\n"
    assert "2 secret(s) deleted (API_TOKEN, DB_PASSWORD), new key generated" in result.stderr
    assert_clean(result, key, new)
    vault_file = VaultFile.load(project.vault_file)
    assert vault_file.names == []
    assert vault_file.header.key_id == VaultKey.parse(new).key_id
    assert vault_file.header.vault_id == vault_id
    assert test_keyring.entries() == {VaultKey.parse(new).key_id: new}
    for secret in SECRETS:
        assert secret not in project.vault_file.read_text(encoding="utf-8")
    stale = project.cli("status", "--no-keyring", env={ENV: key})
    assert "from before a reset or rotation" in stale.stderr
    assert set_value(project, new, "FRESH", "fresh-value").returncode == 0


# -- check ------------------------------------------------------------------------------------


def test_check_a_good_vault(project: Project, key: str) -> None:
    with_key = project.cli("check", env={ENV: key})
    assert with_key.returncode == 0
    assert "format, header and 2 value(s) well-formed" in with_key.stderr
    assert f"Every value decrypts with the key from {ENV}." in with_key.stderr
    without = project.cli("check")
    assert without.returncode == 0
    assert "No key found, so the values were not decrypted." in without.stderr


def _tamper(project: Project, name: str) -> None:
    text = project.vault_file.read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} = ")]
    token = line.split('"')[1]
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    project.vault_file.write_text(text.replace(token, flipped), encoding="utf-8")


def test_check_finds_a_tampered_value_with_the_key(project: Project, key: str) -> None:
    _tamper(project, "DB_PASSWORD")
    result = project.cli("check", env={ENV: key})
    assert_error(result, 1, "The value of DB_PASSWORD in", key, *SECRETS)
    assert "does not decrypt although the key is right" in result.stderr
    # Without the key the file still looks well-formed.
    assert project.cli("check").returncode == 0
    # get of the damaged secret fails the same way; status reports it but exits 0.
    assert project.cli("get", "API_TOKEN", env={ENV: key}).returncode == 1
    status = project.cli("status", env={ENV: key})
    assert status.returncode == 0
    assert "Opens: no." in status.stderr


def test_check_with_a_wrong_key_fails(project: Project, key: str) -> None:
    result = project.cli("check", env={ENV: VaultKey.generate().text()})
    assert_error(result, 1, "or another vault's key", key)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"\x00\xff\xfe binary", "not text"),
        (b"just some words", "not TOML"),
        (b"[vault]\nformat = 99\n", "Upgrade pytest-vault"),
        (b"<<<<<<< HEAD\nA = 1\n=======\nA = 2\n>>>>>>> b\n", "merge conflict markers"),
    ],
    ids=["binary", "prose", "future", "conflict"],
)
def test_check_a_broken_file_fails(project: Project, content: bytes, phrase: str) -> None:
    project.vault_file.write_bytes(content)
    result = project.cli("check")
    assert_error(result, 1, phrase)
    assert str(project.vault_file) in result.stderr


def test_check_without_a_vault_file(project: Project) -> None:
    assert_error(project.cli("check"), 1, "There is no vault file")


# -- import -----------------------------------------------------------------------------------


def test_import_a_dotenv_file(project: Project, key: str) -> None:
    (project.root / ".env").write_text(
        '# comment\nexport NEW_ONE=first-new-value\nNEW_PEM="' + PEM + '"\n',
        encoding="utf-8",
    )
    result = project.cli("import", ".env", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Imported 2 secret(s)" in result.stderr
    assert_clean(result, key, "first-new-value", PEM)
    values = values_in(project, key)
    assert values["NEW_ONE"] == "first-new-value"
    assert values["NEW_PEM"] == PEM
    assert values["API_TOKEN"] == "api-token-value-1"


def test_import_refuses_existing_names_without_force(project: Project, key: str) -> None:
    (project.root / ".env").write_text(
        "API_TOKEN=replacement-value\nOTHER=other-value\n", encoding="utf-8"
    )
    before = project.vault_file.read_bytes()
    result = project.cli("import", ".env", env={ENV: key})
    assert_error(result, 1, "already holds API_TOKEN; nothing was imported", key)
    assert "--force" in result.stderr
    assert "replacement-value" not in result.stderr
    assert project.vault_file.read_bytes() == before
    forced = project.cli("import", ".env", "--force", env={ENV: key})
    assert forced.returncode == 0, forced.stderr
    assert values_in(project, key) == {
        "API_TOKEN": "replacement-value",
        "DB_PASSWORD": "db-password-value-2",
        "OTHER": "other-value",
    }


def test_import_of_a_broken_dotenv_file(project: Project, key: str) -> None:
    (project.root / ".env").write_text("OK=1\nBAD='never-closed-value\n", encoding="utf-8")
    result = project.cli("import", ".env", env={ENV: key})
    assert_error(result, 1, "Line 2 of .env is not a NAME=value line", key)
    assert "never-closed-value" not in result.stderr
    missing = project.cli("import", "missing.env", env={ENV: key})
    assert_error(missing, 1, "There is no file missing.env to import")


# -- global options, settings, entry points -------------------------------------------------------


def test_global_options_may_follow_the_command(project: Project) -> None:
    result = project.cli("init", "--no-keyring", "--file", "other.vault.toml")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert (project.root / "other.vault.toml").exists()
    assert not project.vault_file.exists()
    set_result = project.cli(
        "set", "X", "--file", "other.vault.toml", input="x-value", env={ENV: key}
    )
    assert set_result.returncode == 0, set_result.stderr
    got = project.cli("get", "X", "--file", "other.vault.toml", env={ENV: key})
    assert got.stdout == "x-value\n"
    before = project.cli("--file", "other.vault.toml", "get", "X", env={ENV: key})
    assert before.stdout == "x-value\n"


def test_key_file_option(project: Project, key: str) -> None:
    (project.root / "k.txt").write_text(f"\n{key}\n", encoding="utf-8")
    for args in (
        ("--key-file", "k.txt", "get", "API_TOKEN"),
        ("get", "API_TOKEN", "--key-file", "k.txt"),
    ):
        result = project.cli(*args, env={ENV: VaultKey.generate().text()})
        assert result.stdout == "api-token-value-1\n", result.stderr
    missing = project.cli("get", "API_TOKEN", "--key-file", "nope.txt", env={ENV: key})
    assert_error(missing, 2, f"The key file {project.root / 'nope.txt'} does not exist.", key)


def test_settings_from_pytest_ini_are_honoured(project: Project) -> None:
    (project.root / "pytest.ini").write_text(
        "[pytest]\nvault_file = config/test.vault.toml\nvault_key_env = MY_VAULT_KEY\n",
        encoding="utf-8",
    )
    (project.root / "config").mkdir()
    sub = project.root / "tests" / "unit"
    sub.mkdir(parents=True)
    key = project.init()
    assert (project.root / "config" / "test.vault.toml").exists()
    assert not project.vault_file.exists()
    assert project.cli("set", "A", input="a-value", env={"MY_VAULT_KEY": key}).returncode == 0
    # From a subfolder, the same file and variable.
    done = subprocess.run(
        [CONSOLE_SCRIPT, "get", "A"],
        cwd=sub,
        env={**os.environ, "MY_VAULT_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == "a-value\n", done.stderr
    ignored = project.cli("get", "A", env={ENV: key})
    assert_error(ignored, 1, "MY_VAULT_KEY is not set", key)


def test_invalid_vault_keyring_setting_is_a_usage_error(project: Project) -> None:
    (project.root / "pytest.ini").write_text("[pytest]\nvault_keyring = maybe\n", encoding="utf-8")
    assert_error(project.cli("list"), 2, "vault_keyring = 'maybe'")


def test_vault_keyring_always_reads_it_on_ci(
    project: Project, key: str, test_keyring: ThrowawayKeyring
) -> None:
    (project.root / "pytest.ini").write_text("[pytest]\nvault_keyring = always\n", encoding="utf-8")
    test_keyring.put(VaultKey.parse(key).key_id, key)
    assert project.cli("get", "API_TOKEN", env={"CI": "1"}).stdout == "api-token-value-1\n"


def test_python_dash_m_works(project: Project, key: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_vault", "get", "API_TOKEN"],
        cwd=project.root,
        env={**os.environ, ENV: key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "api-token-value-1\n"
    version = subprocess.run(
        [sys.executable, "-m", "pytest_vault", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.stdout.startswith("pytest-vault ")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("bogus",),
        ("get",),
        ("set",),
        ("import",),
        ("list", "extra"),
        ("--bogus", "list"),
        ("reset", "--yes", "--force"),
    ],
    ids=[
        "nothing",
        "unknown-command",
        "get-no-name",
        "set-no-name",
        "import-no-file",
        "extra-arg",
        "unknown-option",
        "wrong-option",
    ],
)
def test_usage_errors_exit_2(project: Project, args: tuple[str, ...]) -> None:
    result = project.cli(*args)
    assert result.returncode == 2
    assert "usage: pytest-vault" in result.stderr
    assert result.stdout == ""
    assert_clean(result)


def test_a_key_typed_on_the_command_line_is_not_echoed(project: Project, key: str) -> None:
    result = project.cli("unlock", key)
    assert_error(result, 2, "not repeated here in case they hold a secret or a key", key)


def test_help_lists_every_command(project: Project) -> None:
    result = project.cli("--help")
    assert result.returncode == 0
    for command in (
        "init",
        "set",
        "get",
        "list",
        "rm",
        "status",
        "unlock",
        "lock",
        "key",
        "rotate",
        "reset",
        "check",
        "import",
    ):
        assert command in result.stdout


# -- streams: the key and the values go to stdout only where asked -------------------------------


# -- the real console script: every command in its own process at least once ----------------
#
# The other tests here run the commands in the test's process (tests/support/console.py);
# these two run the program pip installed, so its entry point, exit statuses and the split
# of standard output and standard error are those of a real process.

#: Commands run as the real program by other modules: `run` and `edit` always (they start
#: another program), `merge` and `textconv` by git itself.
REAL_ELSEWHERE = {
    "run": "test_export_run.py",
    "edit": "test_edit.py",
    "merge": "test_gitdrivers.py",
    "textconv": "test_gitdrivers.py",
}
STDOUT_COMMANDS = ("init", "set", "import", "status", "check", "unlock", "lock", "rm", "list")
STDOUT_COMMANDS += ("get", "key", "rotate", "reset")
OTHER_COMMANDS = ("git-setup", "repair", "export", "scan")


def test_every_command_runs_as_the_real_console_script() -> None:
    from pytest_vault.cli import COMMANDS

    covered = [*STDOUT_COMMANDS, *OTHER_COMMANDS, *REAL_ELSEWHERE]
    assert sorted(covered) == sorted(COMMANDS)


def test_only_get_key_init_rotate_reset_write_secrets_to_stdout(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    init = project.cli_process("init", "--no-keyring")
    assert init.returncode == 0, init.stderr
    key = init.stdout.strip()
    keys = [key]
    values = ["first-secret-value", "second-secret-value"]
    (project.root / ".env").write_text(f"SECOND={values[1]}\n", encoding="utf-8")
    quiet = [
        project.cli_process("set", "FIRST", input=values[0], env={ENV: key}),
        project.cli_process("import", ".env", env={ENV: key}),
        project.cli_process("status", env={ENV: key}),
        project.cli_process("check", env={ENV: key}),
        project.cli_process("unlock", input=key),
        project.cli_process("lock"),
        project.cli_process("rm", "SECOND"),
        project.cli_process("list"),
    ]
    for result in quiet:
        assert result.returncode == 0, result.stderr
        assert_clean(result, *keys, *values)
        for secret in (*keys, *values):
            assert secret not in result.stdout
    assert quiet[-1].stdout == "FIRST\n"
    loud = project.cli_process("get", "FIRST", env={ENV: key})
    assert loud.stdout == values[0] + "\n"
    assert project.cli_process("key", env={ENV: key}).stdout == key + "\n"
    rotated = project.cli_process("rotate", env={ENV: key})
    keys.append(rotated.stdout.strip())
    reset = project.cli_process("reset", "--yes")
    keys.append(reset.stdout.strip())
    for result in (loud, rotated, reset):
        assert result.returncode == 0
        assert_clean(result, *keys, *values)
    assert len({VaultKey.parse(k).key_id for k in keys}) == 3


def test_git_setup_repair_export_and_scan_as_the_real_console_script(project: Project) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True, capture_output=True)
    key = project.init()
    env = {ENV: key}
    set_value(project, key, "A_TOKEN", "value-of-a-token-1")
    setup = project.cli_process("git-setup", env=env)
    assert setup.returncode == 0, setup.output
    assert "merge=pytest-vault diff=pytest-vault" in (project.root / ".gitattributes").read_text()
    repair = project.cli_process("repair", env=env)
    assert repair.returncode == 0, repair.output
    assert "nothing to repair" in repair.stderr
    export = project.cli_process("export", env=env)
    assert (export.returncode, export.stdout) == (0, 'A_TOKEN="value-of-a-token-1"\n')
    (project.root / "notes.txt").write_text("token value-of-a-token-1\n", encoding="utf-8")
    scan = project.cli_process("scan", "notes.txt", env=env)
    assert (scan.returncode, scan.stdout) == (1, "notes.txt:1: <vault:A_TOKEN>\n")
    assert "Found 1 secret value(s)" in scan.stderr
    for result in (setup, repair, scan):
        assert_clean(result, key, "value-of-a-token-1")


def test_error_messages_never_show_the_key_or_values(project: Project, key: str) -> None:
    stale_env = {ENV: key}
    project.cli("rotate", "--no-keyring", env=stale_env)
    failures = [
        project.cli("get", "API_TOKEN", env=stale_env),
        project.cli("set", "X", input="value-of-x-9", env=stale_env),
        project.cli("check", env=stale_env),
        project.cli("rotate", env=stale_env),
        project.cli("unlock", input=key + "\n"),
        project.cli("key", env={ENV: key + "AA"}),
        project.cli("get", "API_TOKEN", env={ENV: key.lower()[:-1]}),
    ]
    for result in failures:
        assert result.returncode == 1, result.output
        assert result.stdout == ""
        assert_clean(result, key, key.lower(), "value-of-x-9", *SECRETS)


# -- concurrency --------------------------------------------------------------------------------


def test_concurrent_writers_lose_no_update(project: Project) -> None:
    key = project.init()
    script = (
        'for i in 1 2 3 4 5 6 7 8; do printf "value-$1-$i" | "$0" set "W$1_N$i" || exit 1; done'
    )
    env = {**os.environ, ENV: key}
    writers = [
        subprocess.Popen(
            ["sh", "-c", script, CONSOLE_SCRIPT, str(writer)],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for writer in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    expected = {f"W{w}_N{i}": f"value-{w}-{i}" for w in range(4) for i in range(1, 9)}
    assert values_in(project, key) == expected
    assert sorted(p.name for p in project.root.iterdir()) == ["pytest.ini", "secrets.vault.toml"]
