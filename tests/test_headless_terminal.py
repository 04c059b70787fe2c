"""Prompts for the key in every console command, and ``--vault-unlock`` without a keyring
or beside another vault, on a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from projects import Project, ThrowawayKeyring
from pty_session import console_on_terminal, pytest_on_terminal

from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a pty")

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
TESTS = """
def test_uses_vault(vault):
    assert vault["API_TOKEN"] == "api-token-value"
"""


@pytest.fixture
def key(project: Project) -> VaultKey:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(project.vault_file, key, {"API_TOKEN": "api-token-value"})
    (project.root / "test_it.py").write_text(TESTS, encoding="utf-8")
    return key


@pytest.mark.parametrize(
    ("args", "shows"),
    [(("get", "API_TOKEN"), "api-token-value"), (("key",), None), (("rotate",), None)],
    ids=["get", "key", "rotate"],
)
def test_console_commands_ask_for_the_key_and_offer_to_save_it(
    project: Project,
    key: VaultKey,
    test_keyring: ThrowawayKeyring,
    args: tuple[str, ...],
    shows: str | None,
) -> None:
    term = console_on_terminal(project.root, *args)
    term.expect("No key for .* was found: no key file was given; PYTEST_VAULT_KEY is not set")
    term.expect_exact("Vault key: ")
    term.type_hidden(VaultKey.generate().text())
    term.expect("Try again.")
    term.expect_exact("Vault key: ")
    term.type_hidden(key.text())
    term.expect_exact("Save the key in the system keyring? [Y/n] ")
    term.send("")
    term.expect(r"Saved the key in the system keyring \(throwaway_keyring\)")
    assert term.finish() == 0
    assert key.key_id in test_keyring.entries()
    if shows is not None:
        assert shows in term.text
    if args == ("key",):
        assert term.text.count(key.text()) == 1  # printed by `key`, never echoed when typed


def test_console_prompt_without_a_keyring_offers_nothing(project: Project, key: VaultKey) -> None:
    term = console_on_terminal(project.root, "get", "API_TOKEN", env=NO_KEYRING)
    term.expect_exact("Vault key: ")
    term.type_hidden(key.text())
    assert term.finish() == 0
    assert "api-token-value" in term.text
    assert "[Y/n]" not in term.text
    assert term.text.count(key.text()) == 0


def test_unlock_without_a_keyring_does_not_offer_to_save(project: Project, key: VaultKey) -> None:
    term = pytest_on_terminal(project.root, "--vault-unlock", "-q", env=NO_KEYRING, width=250)
    term.expect_exact("Vault key: ")
    term.type_hidden(key.text())
    term.expect("1 passed")
    assert term.finish() == 0
    assert "[Y/n]" not in term.text
    assert key.text() not in term.text


def test_console_reset_with_the_key_available_suggests_rotate(
    project: Project, key: VaultKey, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(key.key_id, key.text())
    term = console_on_terminal(project.root, "reset")
    term.expect(r"The current key of \S+ is available \(the system keyring")
    term.expect_exact("`pytest-vault rotate` makes a new key and keeps every secret.")
    term.expect_exact("[y/N] ")
    term.send("y")
    term.expect(r"1 secret\(s\) deleted \(API_TOKEN\), new key generated\.")
    assert term.finish() == 0


def test_pytest_reset_with_the_key_available_suggests_rotate(
    project: Project, key: VaultKey, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(key.key_id, key.text())
    term = pytest_on_terminal(project.root, "--vault-reset", width=250)
    term.expect(r"The current key of \S+ is available")
    term.expect_exact("`pytest-vault rotate`")
    term.expect_exact("[y/N] ")
    term.send("")
    term.expect("Reset declined; nothing was changed.")
    assert term.finish() == pytest.ExitCode.INTERRUPTED


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("where", ["parent folder", "git history"])
def test_unlock_asks_before_creating_a_second_vault(project: Project, where: str) -> None:
    sub = project.root / "packages" / "app"
    sub.mkdir(parents=True)
    (sub / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (sub / "test_it.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    create_vault(project.root / "secrets.vault.toml", VaultKey.generate())
    if where == "git history":
        git = ["git", "-C", str(project.root), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "add", "secrets.vault.toml"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "vault"], check=True)
        subprocess.run([*git, "rm", "-q", "secrets.vault.toml"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "moved"], check=True)
    term = pytest_on_terminal(sub, "--vault-unlock", "-q", width=250)
    term.expect("There is no vault file at .*, but this repository has .*secrets.vault.toml")
    term.expect_exact("[y/N] ")
    term.send("")
    term.expect("No vault was created")
    assert term.finish() == pytest.ExitCode.USAGE_ERROR
    assert not (sub / "secrets.vault.toml").exists()
    if where == "git history":
        assert "(in git's history)" in term.text
