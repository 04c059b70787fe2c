"""The console script on a real terminal (a pty through pexpect): hidden prompts, questions."""

from __future__ import annotations

import sys

import pytest
from projects import Project, ThrowawayKeyring
from pty_session import console_on_terminal

from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a pty")


@pytest.fixture
def key(project: Project) -> VaultKey:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(project.vault_file, key, {"EXISTING": "existing-secret-value"})
    return key


def values(project: Project, key: VaultKey) -> dict[str, str]:
    return VaultFile.load(project.vault_file).decrypt_all(key)


# -- set ----------------------------------------------------------------------------------------


def test_set_asks_twice_without_echo(project: Project, key: VaultKey) -> None:
    secret = "typed-secret-Xq7-value"
    term = console_on_terminal(
        project.root, "set", "API_TOKEN", env={"PYTEST_VAULT_KEY": key.text()}
    )
    term.expect("Value for API_TOKEN: ")
    term.type_hidden(secret)
    term.expect(r"Value for API_TOKEN \(again\): ")
    term.type_hidden(secret)
    assert term.finish() == 0
    assert "Set API_TOKEN in" in term.text
    assert secret not in term.text
    assert "Traceback" not in term.text
    assert values(project, key)["API_TOKEN"] == secret


def test_set_asks_again_when_the_two_values_differ(project: Project, key: VaultKey) -> None:
    term = console_on_terminal(
        project.root, "set", "API_TOKEN", env={"PYTEST_VAULT_KEY": key.text()}
    )
    term.expect("Value for API_TOKEN: ")
    term.type_hidden("first-typing-aaa")
    term.expect(r"\(again\): ")
    term.type_hidden("first-typing-bbb")
    term.expect("The two values differ; try again.")
    term.expect("Value for API_TOKEN: ")
    term.type_hidden("second-typing-ccc")
    term.expect(r"\(again\): ")
    term.type_hidden("second-typing-ccc")
    assert term.finish() == 0
    assert values(project, key)["API_TOKEN"] == "second-typing-ccc"
    for typed in ("first-typing", "second-typing"):
        assert typed not in term.text


def test_set_gives_up_after_three_mismatches(project: Project, key: VaultKey) -> None:
    before = project.vault_file.read_bytes()
    term = console_on_terminal(
        project.root, "set", "API_TOKEN", env={"PYTEST_VAULT_KEY": key.text()}
    )
    for attempt in range(3):
        term.expect("Value for API_TOKEN: ")
        term.type_hidden(f"left-{attempt}-value")
        term.expect(r"\(again\): ")
        term.type_hidden(f"right-{attempt}-value")
    assert term.finish() == 2
    assert "did not match; nothing was set" in term.text
    assert project.vault_file.read_bytes() == before
    for attempt in range(3):
        assert f"left-{attempt}-value" not in term.text
        assert f"right-{attempt}-value" not in term.text


# -- reset ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["n", "", "no"], ids=["n", "enter", "no"])
def test_reset_declined_on_the_terminal_changes_nothing(
    project: Project, key: VaultKey, answer: str
) -> None:
    before = project.vault_file.read_bytes()
    term = console_on_terminal(project.root, "reset")
    term.expect(r"permanently deletes all 1 secret\(s\)\. \[y/N\] ")
    term.child.sendline(answer)
    assert term.finish() == 1
    assert "Reset declined; nothing was changed." in term.text
    assert project.vault_file.read_bytes() == before
    assert "PYTEST-VAULT-KEY-1" not in term.text


def test_reset_confirmed_on_the_terminal(
    project: Project, key: VaultKey, test_keyring: ThrowawayKeyring
) -> None:
    term = console_on_terminal(project.root, "reset")
    term.expect(r"\[y/N\] ")
    term.child.sendline("what")
    term.expect("Please answer y or n.")
    term.expect(r"\[y/N\] ")
    term.child.sendline("y")
    term.expect(r"(PYTEST-VAULT-KEY-1[A-Z2-7]{58})")
    new = VaultKey.parse(term.child.match.group(1))
    assert term.finish() == 0
    vault_file = VaultFile.load(project.vault_file)
    assert vault_file.names == []
    assert vault_file.header.key_id == new.key_id
    assert vault_file.header.retired_key_ids == (key.key_id,)
    assert test_keyring.entries() == {new.key_id: new.text()}


# -- unlock ---------------------------------------------------------------------------------------


def test_unlock_on_the_terminal_after_a_typo(
    project: Project, key: VaultKey, test_keyring: ThrowawayKeyring
) -> None:
    text = key.text()
    typo = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    term = console_on_terminal(project.root, "unlock")
    term.expect("Vault key: ")
    term.type_hidden(typo)
    term.expect("so it was mistyped")
    term.expect("Try again.")
    term.expect("Vault key: ")
    term.type_hidden(VaultKey.generate().text())
    term.expect("or another vault's key")
    term.expect("Vault key: ")
    term.type_hidden(text)
    assert term.finish() == 0
    assert "saved it in the system keyring" in term.text
    assert text[20:] not in term.text
    assert typo[20:] not in term.text
    assert test_keyring.entries() == {key.key_id: text}


def test_unlock_gives_up_after_three_wrong_keys(
    project: Project, key: VaultKey, test_keyring: ThrowawayKeyring
) -> None:
    term = console_on_terminal(project.root, "unlock")
    for _ in range(3):
        term.expect("Vault key: ")
        term.type_hidden("not-a-key-at-all")
    assert term.finish() == 1
    assert term.text.count("not a pytest-vault key") == 3
    assert "not-a-key-at-all" not in term.text
    assert test_keyring.entries() == {}


def test_unlock_interrupted_with_end_of_input(project: Project, key: VaultKey) -> None:
    term = console_on_terminal(project.root, "unlock")
    term.expect("Vault key: ")
    assert term.child.waitnoecho(timeout=term.child.timeout)
    term.child.sendeof()
    status = term.finish()
    assert status == 1
    # The same words as `pytest --vault-unlock` (one implementation: keyflows).
    assert "was entered at the prompt" in term.text
    assert "Traceback" not in term.text
