"""The human flows (`keyflows`) through a scripted prompter: fast, in-process, no terminal.

The same flows serve ``pytest --vault-*`` and the console script; their terminal side is
pinned by test_cli_terminal.py and test_plugin_terminal.py through a real pty.
"""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from projects import ThrowawayKeyring
from scripted_prompter import ScriptedPrompter
from throwaway_keyring import PlaintextKeyring

from pytest_vault import keyflows
from pytest_vault.errors import KeyFormatError, NoKeyError, ResetDeclinedError, WrongKeyError
from pytest_vault.key import VaultKey
from pytest_vault.keychain import FoundKey, KeyLookup, find_key
from pytest_vault.vault import create_vault
from pytest_vault.vaultfile import VaultFile, VaultHeader


@pytest.fixture
def vault(tmp_path: Path) -> tuple[Path, VaultKey]:
    path = tmp_path / "secrets.vault.toml"
    key = VaultKey.generate()
    create_vault(path, key)
    return path, key


def header_of(path: Path) -> VaultHeader:
    return VaultFile.load(path).header


def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())


def not_found(path: Path) -> NoKeyError:
    with pytest.raises(NoKeyError) as info:
        find_key(header_of(path), KeyLookup(path=path, environ={}, no_keyring=True))
    return info.value


# -- asking for the key -------------------------------------------------------------------------


def test_ask_for_key_says_why_and_accepts_the_third_try(vault: tuple[Path, VaultKey]) -> None:
    path, key = vault
    typo = key.text()[:30] + ("A" if key.text()[30] != "A" else "B") + key.text()[31:]
    prompter = ScriptedPrompter(["garbage", typo, key.text()])
    lookup = KeyLookup(path=path, environ={}, no_keyring=True)
    found = keyflows.ask_for_key(prompter, header_of(path), lookup, not_found=not_found(path))
    assert found == FoundKey(key, "the prompt")
    assert prompter.said[0].startswith(f"No key for {path} was found: no key file was given")
    assert "not a pytest-vault key" in prompter.said[1]
    assert "mistyped" in prompter.said[2]
    assert all(said.endswith("Try again.") for said in prompter.said[1:])
    assert key.text() not in prompter.text
    assert typo not in prompter.text


def test_ask_for_key_gives_up_after_three_tries(vault: tuple[Path, VaultKey]) -> None:
    path, _ = vault
    prompter = ScriptedPrompter([VaultKey.generate().text()] * 2 + ["x"])
    with pytest.raises(KeyFormatError):
        keyflows.ask_for_key(prompter, header_of(path), KeyLookup(path=path, environ={}))
    assert len(prompter.asked) == 3


def test_end_of_input_at_the_prompt_is_no_key(vault: tuple[Path, VaultKey]) -> None:
    path, _ = vault
    prompter = ScriptedPrompter([None])
    with pytest.raises(NoKeyError, match=r"was entered at the prompt\. Set PYTEST_VAULT_KEY"):
        keyflows.ask_for_key(prompter, header_of(path), KeyLookup(path=path, environ={}))


def test_without_a_terminal_nothing_is_asked_and_the_sources_are_named(
    vault: tuple[Path, VaultKey],
) -> None:
    path, _ = vault
    prompter = ScriptedPrompter(interactive=False)
    lookup = KeyLookup(path=path, environ={}, no_keyring=True)
    with pytest.raises(NoKeyError) as info:
        keyflows.ask_for_key(prompter, header_of(path), lookup, not_found=not_found(path))
    message = str(info.value)
    assert "no key file was given" in message
    assert "PYTEST_VAULT_KEY is not set" in message
    assert "the keyring was not read (--no-keyring)" in message
    assert "There is no terminal to ask for the key on." in message
    assert prompter.asked == []


# -- saving a key typed at the prompt ------------------------------------------------------------


def test_offer_to_save_defaults_to_yes_and_saves(
    vault: tuple[Path, VaultKey], test_keyring: ThrowawayKeyring
) -> None:
    path, key = vault
    prompter = ScriptedPrompter([None])  # Enter: the default
    keyflows.offer_to_save(prompter, KeyLookup(path=path, environ={}), FoundKey(key, "x"))
    assert prompter.asked == ["Save the key in the system keyring? [Y/n]"]
    assert test_keyring.entries() == {key.key_id: key.text()}
    assert prompter.said == ["Saved the key in the system keyring (throwaway_keyring)."]


def test_offer_to_save_answered_no_saves_nothing(
    vault: tuple[Path, VaultKey], test_keyring: ThrowawayKeyring
) -> None:
    path, key = vault
    prompter = ScriptedPrompter([False])
    keyflows.offer_to_save(prompter, KeyLookup(path=path, environ={}), FoundKey(key, "x"))
    assert test_keyring.entries() == {}


def test_no_offer_to_save_without_a_usable_keyring(
    vault: tuple[Path, VaultKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, key = vault
    no_keyring(monkeypatch)
    prompter = ScriptedPrompter([])  # asking anything would fail
    keyflows.offer_to_save(prompter, KeyLookup(path=path, environ={}), FoundKey(key, "x"))
    assert prompter.asked == []
    prompter = ScriptedPrompter([])
    lookup = KeyLookup(path=path, environ={"CI": "true"})  # policy: not on CI
    keyflows.offer_to_save(prompter, lookup, FoundKey(key, "x"))
    assert prompter.asked == []


# -- storing a new key ---------------------------------------------------------------------------


def test_store_new_key_in_the_keyring(
    vault: tuple[Path, VaultKey], test_keyring: ThrowawayKeyring
) -> None:
    path, _ = vault
    new = VaultKey.generate()
    shown: list[str] = []
    prompter = ScriptedPrompter(interactive=False)
    saved = keyflows.store_new_key(
        prompter, KeyLookup(path=path, environ={}), new, show_key=shown.append
    )
    assert saved
    assert shown == [new.text()]
    assert test_keyring.entries() == {new.key_id: new.text()}
    assert prompter.said == [
        "Saved the key in the system keyring (throwaway_keyring).",
        keyflows.KEY_ADVICE,
    ]
    assert "shown once" not in prompter.text  # `pytest-vault key` shows it again


def test_store_new_key_without_a_keyring_says_it_was_not_saved(
    vault: tuple[Path, VaultKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = vault
    no_keyring(monkeypatch)
    new = VaultKey.generate()
    prompter = ScriptedPrompter(interactive=False)
    saved = keyflows.store_new_key(
        prompter, KeyLookup(path=path, environ={}), new, show_key=lambda text: None
    )
    assert not saved
    assert prompter.said[0] == (
        "The key was NOT saved in a keyring: no system keyring is available on this machine. "
        "Keep it in a file only you can read and name that file with --key-file=PATH or "
        "PYTEST_VAULT_KEY_FILE=PATH, or type it when a command asks for it on a terminal."
    )


def test_store_new_key_with_a_key_file_and_no_keyring_points_at_the_file(
    vault: tuple[Path, VaultKey], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, _ = vault
    no_keyring(monkeypatch)
    new = VaultKey.generate()
    key_out = tmp_path / "vault.key"
    prompter = ScriptedPrompter(interactive=False)
    keyflows.store_new_key(
        prompter, KeyLookup(path=path, environ={}), new, show_key=lambda text: None, key_out=key_out
    )
    assert key_out.read_text(encoding="utf-8").strip() == new.text()
    assert prompter.said[0] == f"Wrote the key to {key_out} (readable only by you)."
    assert "NOT saved in a keyring" in prompter.said[1]
    assert f"PYTEST_VAULT_KEY_FILE={key_out}" in prompter.said[1]


def test_a_plain_text_keyring_is_named_and_warned_about(
    vault: tuple[Path, VaultKey], monkeypatch: pytest.MonkeyPatch, test_keyring: ThrowawayKeyring
) -> None:
    path, _ = vault
    monkeypatch.setattr(keyring.core, "_keyring_backend", PlaintextKeyring())
    new = VaultKey.generate()
    prompter = ScriptedPrompter(interactive=False)
    keyflows.store_new_key(
        prompter, KeyLookup(path=path, environ={}), new, show_key=lambda text: None
    )
    assert prompter.said[0].startswith(
        "Warning: the keyring backend throwaway_keyring.PlaintextKeyring stores keys in plain "
        "text (/home/me/.local/share/python_keyring/keyring_pass.cfg)"
    )
    assert prompter.said[1] == (
        "Saved the key in the system keyring (throwaway_keyring, which stores keys in plain text)."
    )


# -- resetting -----------------------------------------------------------------------------------


def test_reset_with_the_key_available_suggests_rotate_before_asking(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    prompter = ScriptedPrompter([False])
    current = FoundKey(VaultKey.generate(), "the system keyring (throwaway_keyring)")
    with pytest.raises(ResetDeclinedError, match=r"Reset declined; nothing was changed\.") as info:
        keyflows.confirm_reset(
            prompter, path, ["A", "B"], confirmed=False, yes_option="--yes", current=current
        )
    assert info.value.at_prompt
    assert prompter.said == [
        f"The current key of {path} is available (the system keyring (throwaway_keyring)): "
        "`pytest-vault rotate` makes a new key and keeps every secret. A reset is for a lost key."
    ]
    assert prompter.asked == [
        f"Reset {path}? This generates a new key and permanently deletes all 2 secret(s). [y/N]"
    ]


def test_reset_without_the_key_asks_without_the_rotate_hint(tmp_path: Path) -> None:
    prompter = ScriptedPrompter([True])
    keyflows.confirm_reset(
        prompter, tmp_path, ["A"], confirmed=False, yes_option="--yes", current=None
    )
    assert prompter.said == []
    assert len(prompter.asked) == 1


def test_reset_without_a_terminal_needs_the_yes_option(tmp_path: Path) -> None:
    prompter = ScriptedPrompter(interactive=False)
    with pytest.raises(ResetDeclinedError, match="pass --vault-yes") as info:
        keyflows.confirm_reset(
            prompter, tmp_path, ["A"], confirmed=False, yes_option="--vault-yes", current=None
        )
    assert not info.value.at_prompt
    keyflows.confirm_reset(
        prompter, tmp_path, ["A"], confirmed=True, yes_option="--vault-yes", current=None
    )


def test_reset_report_names_the_deleted_secrets(tmp_path: Path) -> None:
    assert keyflows.reset_report(tmp_path / "v.toml", ["API_TOKEN", "DB_PASSWORD"]) == (
        f"Reset {tmp_path / 'v.toml'}: 2 secret(s) deleted (API_TOKEN, DB_PASSWORD), "
        "new key generated."
    )
    assert keyflows.reset_report(tmp_path, []).endswith(": 0 secret(s) deleted, new key generated.")


def test_a_wrong_key_at_the_prompt_is_never_echoed(vault: tuple[Path, VaultKey]) -> None:
    path, _ = vault
    other = VaultKey.generate().text()
    prompter = ScriptedPrompter([other, other, other])
    with pytest.raises(WrongKeyError) as info:
        keyflows.ask_for_key(prompter, header_of(path), KeyLookup(path=path, environ={}))
    assert other not in prompter.text
    assert other not in str(info.value)


# -- the front ends use the same flows ------------------------------------------------------------


def test_the_console_script_asks_through_the_same_flow(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    test_keyring: ThrowawayKeyring,
) -> None:
    from pytest_vault import cli, terminal
    from pytest_vault.vault import set_secrets

    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    key = VaultKey.generate()
    create_vault(tmp_path / "secrets.vault.toml", key)
    set_secrets(tmp_path / "secrets.vault.toml", key, {"API_TOKEN": "api-token-value"})
    monkeypatch.chdir(tmp_path)
    prompter = ScriptedPrompter([key.text(), False])
    monkeypatch.setattr(terminal, "open_prompter", lambda say_to=None: prompter)
    assert cli.main(["get", "API_TOKEN"]) == 0
    assert capsys.readouterr().out == "api-token-value\n"
    assert prompter.asked == ["Vault key: ", "Save the key in the system keyring? [Y/n]"]
    assert test_keyring.entries() == {}


def test_keyring_messages_are_cut_between_words() -> None:
    from pytest_vault.keychain import _describe

    words = " ".join(f"word{n:03d}" for n in range(60))  # 479 characters
    described = _describe(RuntimeError(words))
    assert described.endswith(" …")
    last = described.removesuffix(" …").rsplit(" ", 1)[-1]
    assert last in words.split()
    assert len(described) < 240


# -- the console script's value prompt ----------------------------------------------------------


def test_set_asks_for_the_value_twice_through_the_prompter(
    vault: tuple[Path, VaultKey],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pytest_vault import cli, terminal

    path, key = vault
    prompter = ScriptedPrompter(["tok-first-try", "tok-typo", "tok-second-try", "tok-second-try"])
    monkeypatch.setattr(terminal, "open_prompter", lambda stream: prompter)
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    assert cli.main(["set", "API_TOKEN"]) == 0
    assert prompter.asked == ["Value for API_TOKEN: ", "Value for API_TOKEN (again): "] * 2
    assert "The two values differ; try again." in prompter.said
    assert VaultFile.load(path).decrypt_all(key) == {"API_TOKEN": "tok-second-try"}
    assert "tok-" not in capsys.readouterr().err
