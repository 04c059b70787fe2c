"""``pytest --vault-unlock`` and ``pytest --vault-reset`` on a terminal (pexpect).

Each test spawns ``python -m pytest`` on a pseudo-terminal in a temporary project. The
transcript is everything the terminal showed, echo included: a typed key that appears in
it was echoed.
"""

from __future__ import annotations

import sys

import pytest
from plugin_runs import SECRETS, make_vault, mistype
from projects import Project, ThrowawayKeyring

from pytest_vault.key import VaultKey
from pytest_vault.vaultfile import VaultFile

pexpect = pytest.importorskip("pexpect")

from pty_session import pytest_on_terminal  # noqa: E402 - needs pexpect

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")

TESTS = """
def test_plain():
    pass

def test_uses_vault(vault):
    assert len(vault) == {count}
"""


def vault_project(project: Project, values: dict[str, str] | None = None) -> VaultKey:
    values = SECRETS if values is None else values
    key = make_vault(project.root, values)
    (project.root / "test_it.py").write_text(TESTS.format(count=len(values)), encoding="utf-8")
    return key


def assert_never_shown(text: str, *values: str) -> None:
    assert "Traceback (most recent call last)" not in text
    assert "INTERNALERROR" not in text
    for value in values:
        assert value not in text


SAVE_QUESTION = "Save the key in the system keyring? [Y/n] "


# -- --vault-unlock -------------------------------------------------------------------------


def test_unlock_prompts_retries_a_typo_and_saves_the_key(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    key = vault_project(project)
    typo = mistype(key)
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    term.expect(
        r"No key for \S+secrets\.vault\.toml was found: .*PYTEST_VAULT_KEY is not set.*"
        r"the system keyring \(throwaway_keyring\) has no entry for k_"
    )
    term.expect_exact("Vault key: ")
    term.send(typo)
    term.expect("The key from the prompt cannot open .*checksum does not match, so it was mistyped")
    term.expect_exact("Try again.")
    term.expect_exact("Vault key: ")
    term.send(key.text())
    term.expect_exact(SAVE_QUESTION)
    term.send("")  # Enter: the default, yes
    term.expect(r"Saved the key in the system keyring \(throwaway_keyring\)")
    term.expect("2 passed")
    assert term.finish() == 0
    assert test_keyring.entries() == {key.key_id: key.text()}
    assert_never_shown(term.text, key.text(), typo, *SECRETS.values())


def test_unlock_answer_no_does_not_save_the_key(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    key = vault_project(project)
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    term.expect_exact("Vault key: ")
    term.send(f"  {key.text()}  ")  # whitespace around a key is ignored
    term.expect_exact(SAVE_QUESTION)
    term.send("n")
    term.expect("2 passed")
    assert term.finish() == 0
    assert test_keyring.entries() == {}
    assert "Saved" not in term.text
    assert_never_shown(term.text, key.text(), *SECRETS.values())


def test_unlock_with_a_key_in_the_keyring_does_not_prompt(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    key = vault_project(project)
    test_keyring.put(key.key_id, key.text())
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    term.expect("2 passed")
    assert term.finish() == 0
    assert "Vault key" not in term.text
    assert "[Y/n]" not in term.text
    assert len(test_keyring.reads()) == 1


def test_unlock_gives_up_after_three_wrong_keys(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    key = vault_project(project)
    wrong = [VaultKey.generate().text(), mistype(key), "not a key at all"]
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    for attempt, text in enumerate(wrong):
        term.expect_exact("Vault key: ")
        term.send(text)
        if attempt < 2:
            term.expect_exact("Try again.")
    term.expect("ERROR: The key from the prompt cannot open .*not a pytest-vault key")
    assert term.finish() == pytest.ExitCode.USAGE_ERROR
    assert "passed" not in term.text
    assert test_keyring.entries() == {}
    assert_never_shown(term.text, key.text(), wrong[0], wrong[1])


@pytest.mark.parametrize(
    ("keys", "status"),
    [("\x04", pytest.ExitCode.USAGE_ERROR), ("\x03", pytest.ExitCode.INTERRUPTED)],
    ids=["ctrl-d", "ctrl-c"],
)
def test_unlock_prompt_left_with_ctrl_d_or_ctrl_c(project: Project, keys: str, status: int) -> None:
    vault_project(project)
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    term.expect_exact("Vault key: ")
    term.child.send(keys)
    if status == pytest.ExitCode.USAGE_ERROR:
        term.expect("ERROR: No key for .* was entered at the prompt. Set PYTEST_VAULT_KEY")
    assert term.finish() == status
    assert "passed" not in term.text
    assert_never_shown(term.text)


def test_unlock_creates_the_vault_the_first_time(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    (project.root / "test_it.py").write_text(TESTS.format(count=0), encoding="utf-8")
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q")
    term.expect(r"Created the vault \S+secrets\.vault\.toml\.")
    term.expect(r"Saved the key in the system keyring \(throwaway_keyring\)")
    term.expect(r"(PYTEST-VAULT-KEY-1\w+)")
    shown = term.child.match.group(1)
    term.expect("This is the vault key. Keep a copy somewhere safe")
    term.expect("2 passed")
    assert term.finish() == 0
    key = VaultKey.parse(shown)
    assert VaultFile.load(project.vault_file).header.key_id == key.key_id
    assert test_keyring.entries() == {key.key_id: key.text()}
    assert term.text.count(key.text()) == 1  # shown once
    assert "[Y/n]" not in term.text


def test_unlock_creates_the_vault_without_the_keyring(
    project: Project, test_keyring: ThrowawayKeyring
) -> None:
    (project.root / "test_it.py").write_text(TESTS.format(count=0), encoding="utf-8")
    term = pytest_on_terminal(project.root, "--vault-unlock", "--vault-no-keyring", "-q")
    term.expect("The key was NOT saved in a keyring: the keyring was not used")
    term.expect(r"(PYTEST-VAULT-KEY-1\w+)")
    key = VaultKey.parse(term.child.match.group(1))
    term.expect("2 passed")
    assert term.finish() == 0
    assert VaultFile.load(project.vault_file).header.key_id == key.key_id
    assert test_keyring.entries() == {}
    assert test_keyring.reads() == []


# -- --vault-reset ----------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["n", ""])
def test_reset_declined_changes_nothing(
    project: Project, test_keyring: ThrowawayKeyring, answer: str
) -> None:
    vault_project(project)
    before = project.vault_file.read_bytes()
    term = pytest_on_terminal(project.root, "--vault-reset")
    term.expect(r"Reset \S+secrets\.vault\.toml\? .*permanently deletes all 2 secret\(s\)\.")
    term.expect_exact("[y/N] ")
    term.send(answer)
    term.expect("Reset declined; nothing was changed.")
    assert term.finish() == pytest.ExitCode.INTERRUPTED
    assert project.vault_file.read_bytes() == before
    assert test_keyring.entries() == {}
    assert "PYTEST-VAULT-KEY-1" not in term.text
    assert "passed" not in term.text


def test_reset_confirmed_makes_a_new_key(project: Project, test_keyring: ThrowawayKeyring) -> None:
    old = vault_project(project)
    term = pytest_on_terminal(project.root, "--vault-reset")
    term.expect_exact("[y/N] ")
    term.send("y")
    term.expect(r"New vault key:\s+(PYTEST-VAULT-KEY-1\w+)")
    new = VaultKey.parse(term.child.match.group(1))
    term.expect(r"Reset \S+: 2 secret\(s\) deleted \(API_TOKEN, DB_PASSWORD\)")
    assert term.finish() == 0
    vault_file = VaultFile.load(project.vault_file)
    assert vault_file.header.key_id == new.key_id
    assert vault_file.tokens == {}
    assert old.key_id in vault_file.header.retired_key_ids
    assert test_keyring.entries() == {new.key_id: new.text()}
    assert "passed" not in term.text
    assert_never_shown(term.text, old.text())
