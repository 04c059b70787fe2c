"""``pytest --vault-unlock`` and ``pytest --vault-reset``: the flows that talk to a person.

Questions go to the terminal (``/dev/tty``), never to pytest's captured standard input.
Without a terminal nothing waits: the flows end in a usage error instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from . import terminal
from .errors import NoKeyError, VaultError, VaultFileMissingError, sentence

if TYPE_CHECKING:
    from .key import VaultKey
    from .keychain import KeyLookup
    from .state import VaultState

MAX_PROMPT_TRIES = 3
KEY_ADVICE = (
    "This is the vault key; it is shown once. Keep a copy somewhere safe, such as your "
    "password manager: without it the secrets cannot be recovered."
)


def unlock_for_run(config: pytest.Config, state: VaultState) -> None:
    """Open the vault before any test runs, prompting or creating it as needed."""
    try:
        if not state.exists():
            _create(state)
        try:
            state.found_key()
        except NoKeyError as exc:
            _prompt_for_key(state, exc)
        state.vault()
    except VaultError as exc:
        raise pytest.UsageError(str(exc)) from None


def _create(state: VaultState) -> None:
    from .key import VaultKey
    from .keychain import FoundKey
    from .vault import create_vault

    if not terminal.terminal_available():
        raise VaultFileMissingError(
            f"There is no vault file at {state.path}. Create it on a terminal with "
            "`pytest --vault-unlock` or `pytest-vault init`."
        )
    key = VaultKey.generate()
    create_vault(state.path, key)
    state.forget_file()
    terminal.tell(f"Created the vault {state.path}.")
    _keep_new_key(state.lookup(), key)
    state.set_key(FoundKey(key, "the new key"))


def _save_new_key(lookup: KeyLookup, key: VaultKey) -> str:
    """Save a new key in the keyring when the settings allow; a sentence saying what happened."""
    from .keychain import keyring_name, save_in_keyring

    writable, why = lookup.keyring_writable()
    if not writable:
        return sentence(why)
    problem = save_in_keyring(key)
    return sentence(problem or f"saved it in the system keyring ({keyring_name()})")


def _keep_new_key(lookup: KeyLookup, key: VaultKey) -> None:
    saved = _save_new_key(lookup, key)
    terminal.tell(f"\n    {key.text()}\n\n{KEY_ADVICE}\n{saved}\n")


def _prompt_for_key(state: VaultState, not_found: NoKeyError) -> None:
    from .keychain import check_key, keyring_name, save_in_keyring

    if not terminal.terminal_available():
        raise NoKeyError(f"{not_found} (--vault-unlock has no terminal to ask on.)")
    header = state.vault_file().header
    terminal.tell(sentence(f"No key for {state.path} was found: " + "; ".join(not_found.tried)))
    for attempt in range(1, MAX_PROMPT_TRIES + 1):
        try:
            typed = terminal.ask_hidden("Vault key: ")
        except EOFError:  # Ctrl-D: nothing was typed
            raise NoKeyError(
                f"No key for {state.path} was entered at the prompt. Set "
                f"{state.lookup().key_env} or run `pytest --vault-unlock` again."
            ) from None
        try:
            found = check_key(header, typed, "the prompt", state.path)
            break
        except VaultError as exc:
            if attempt == MAX_PROMPT_TRIES:
                raise
            terminal.tell(f"{exc} Try again.")
    state.set_key(found)
    writable, _ = state.lookup().keyring_writable()
    # Asked even when reading the keyring just failed: saving may make the system unlock it.
    if writable and terminal.ask_yes_no("Save the key in the system keyring?", default=True):
        problem = save_in_keyring(found.key)
        terminal.tell(
            sentence(problem or f"saved the key in the system keyring ({keyring_name()})")
        )


def reset_vault(config: pytest.Config) -> int:
    """``--vault-reset``: new key, every secret deleted. Returns pytest's exit code."""
    from .state import vault_path
    from .vault import rekey
    from .vaultfile import VaultFile

    path = vault_path(config)
    try:
        count = len(VaultFile.load(path).tokens)
    except VaultError as exc:
        return _usage_error(config, str(exc))
    if not config.option.vault_yes:
        if not terminal.terminal_available():
            return _usage_error(
                config,
                f"--vault-reset deletes all {count} secret(s) of {path} for good; without a "
                "terminal to confirm on, add --vault-yes.",
            )
        question = (
            f"Reset {path}? This generates a new key and permanently deletes all {count} secret(s)."
        )
        if not terminal.ask_yes_no(question, default=False):
            terminal.tell("Reset declined; nothing was changed.")
            return pytest.ExitCode.INTERRUPTED
    from .state import VaultState

    lookup = VaultState(config).lookup()
    try:
        rekey(path, None, lambda key: _show_reset_key(lookup, key))
    except VaultError as exc:
        return _usage_error(config, str(exc))
    print(f"Reset {path}: {count} secret(s) deleted.", flush=True)
    return pytest.ExitCode.OK


def _show_reset_key(lookup: KeyLookup, key: VaultKey) -> None:
    saved = _save_new_key(lookup, key)
    print(f"New vault key:\n\n    {key.text()}\n\n{KEY_ADVICE}\n{saved}", flush=True)


def _usage_error(config: pytest.Config, message: str) -> int:
    print(f"ERROR: {message}", flush=True)
    return pytest.ExitCode.USAGE_ERROR
