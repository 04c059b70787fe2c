"""``pytest --vault-unlock`` and ``pytest --vault-reset``: the pytest side of `keyflows`.

Questions go to the terminal (``/dev/tty``), never to pytest's captured standard input.
Without a terminal nothing waits: the flows end in a usage error instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from . import keyflows, terminal
from .errors import NoKeyError, ResetDeclinedError, VaultError, VaultFileMissingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .key import VaultKey
    from .keychain import FoundKey, KeyLookup
    from .keyflows import Prompter
    from .state import VaultState


def unlock_for_run(config: pytest.Config, state: VaultState) -> None:
    """Open the vault before any test runs, prompting or creating it as needed."""
    prompter = terminal.open_prompter()
    try:
        if not state.exists():
            _create(state, prompter)
        try:
            found = state.found_key()
        except NoKeyError as exc:
            lookup = state.lookup()
            found = keyflows.ask_for_key(prompter, state.vault_file().header, lookup, not_found=exc)
            state.set_key(found)
            keyflows.offer_to_save(prompter, lookup, found)
        state.vault()
    except VaultError as exc:
        raise pytest.UsageError(str(exc)) from None


def _create(state: VaultState, prompter: Prompter) -> None:
    from .errors import shown_path
    from .key import VaultKey
    from .keychain import FoundKey
    from .repository import other_vault_files
    from .vault import create_vault

    if not prompter.interactive:
        raise VaultFileMissingError(
            f"There is no vault file at {shown_path(state.path)}. Create it on a terminal with "
            "`pytest --vault-unlock` or `pytest-vault init`."
        )
    others = other_vault_files(state.path)
    if others:
        listed = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        prompter.say(f"There is no vault file at {state.path}, but this repository has {listed}.")
        if not prompter.ask_yes_no(f"Create a second vault at {state.path}?", default=False):
            raise VaultFileMissingError(
                f"No vault was created at {state.path}. To use an existing vault, run pytest "
                "from its project, or name it with --vault-file PATH or the ini vault_file."
            )
    key = VaultKey.generate()
    create_vault(state.path, key)
    state.forget_file()
    prompter.say(f"Created the vault {state.path}.")
    keyflows.store_new_key(prompter, state.lookup(), key, show_key=_show_key(prompter))
    state.set_key(FoundKey(key, "the new key"))


def _show_key(prompter: Prompter) -> Callable[[str], None]:
    def show(text: str) -> None:
        prompter.say(f"\n    {text}\n")

    return show


def reset_vault(config: pytest.Config) -> int:
    """``--vault-reset``: new key, every secret deleted. Returns pytest's exit code."""
    from .state import get_state
    from .vault import rekey

    try:
        state = get_state(config)
        path = state.path
        vault_file = state.vault_file()
        names = vault_file.names
        try:
            current: FoundKey | None = state.found_key()
        except VaultError:
            current = None
        # Messages to the terminal when there is one; the new key to standard output.
        prompter = terminal.open_prompter(sys.stdout)
        keyflows.confirm_reset(
            prompter,
            path,
            names,
            confirmed=bool(config.option.vault_yes),
            yes_option="--vault-yes",
            current=current,
        )
        lookup = state.lookup()
        rekey(path, None, lambda key: _show_reset_key(prompter, lookup, key))
    except ResetDeclinedError as exc:
        if exc.at_prompt:
            print(str(exc), flush=True)
            return pytest.ExitCode.INTERRUPTED
        return _usage_error(str(exc))
    except (VaultError, pytest.UsageError) as exc:
        return _usage_error(str(exc))
    print(keyflows.reset_report(path, names), flush=True)
    return pytest.ExitCode.OK


def _show_reset_key(prompter: Prompter, lookup: KeyLookup, key: VaultKey) -> None:
    def show(text: str) -> None:
        print(f"New vault key:\n\n    {text}\n", flush=True)

    keyflows.store_new_key(prompter, lookup, key, show_key=show)


def _usage_error(message: str) -> int:
    print(f"ERROR: {message}", flush=True)
    return pytest.ExitCode.USAGE_ERROR
