"""The flows that talk to a person about the key, shared by both front ends.

The console script and ``pytest --vault-*`` ask for a key, store a new key and confirm a
reset through these functions only, so they say the same things and treat the end of
input the same way. They talk through a `Prompter`: `terminal.TerminalPrompter` for real
use (``/dev/tty``), a scripted one in the tests. A prompter that is not ``interactive``
(no terminal) is never asked anything: the flows end in an error instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import NoKeyError, ResetDeclinedError, VaultError, sentence, shown_path
from .settings import KEY_FILE_ENV

if TYPE_CHECKING:
    from .key import VaultKey
    from .keychain import FoundKey, KeyLookup
    from .vaultfile import VaultHeader

MAX_PROMPT_TRIES = 3
KEY_ADVICE = (
    "This is the vault key. Keep a copy somewhere safe, such as your password manager: "
    "without it the secrets cannot be recovered."
)


class Prompter(Protocol):
    """How a flow talks to the person at the terminal."""

    @property
    def interactive(self) -> bool:
        """Whether there is a terminal to ask on (False: never call the ``ask_`` methods)."""
        ...

    def say(self, text: str) -> None:
        """Tell the person something (never a key or a secret, except a new key shown)."""
        ...

    def ask_hidden(self, prompt: str) -> str:
        """Read a line without echo; raises EOFError at the end of input."""
        ...

    def ask_yes_no(self, question: str, *, default: bool) -> bool:
        """A yes/no question; the default shows in capitals; the end of input answers no."""
        ...


# -- asking for the key ----------------------------------------------------------------------


def ask_for_key(
    prompter: Prompter,
    header: VaultHeader,
    lookup: KeyLookup,
    *,
    not_found: NoKeyError | None = None,
) -> FoundKey:
    """A key typed at a hidden prompt (three tries), checked against the vault's header.

    With ``not_found`` (what the key chain answered), says first why it asks. Without a
    terminal, raises a `NoKeyError` that lists the sources that were tried.
    """
    from .keychain import check_key, no_key_advice

    path = lookup.path
    if not prompter.interactive:
        if not_found is None:
            raise NoKeyError(f"No key for {path} was given, and there is no terminal to ask on.")
        raise NoKeyError(
            f"{not_found} (There is no terminal to ask for the key on.)", tried=not_found.tried
        )
    if not_found is not None:
        prompter.say(sentence(f"No key for {path} was found: " + "; ".join(not_found.tried)))
    for attempt in range(1, MAX_PROMPT_TRIES + 1):
        try:
            typed = prompter.ask_hidden("Vault key: ")
        except EOFError:  # Ctrl-D: nothing was typed
            raise NoKeyError(
                f"No key for {path} was entered at the prompt. {no_key_advice(lookup)}"
            ) from None
        try:
            return check_key(header, typed, "the prompt", path)
        except VaultError as exc:
            if attempt == MAX_PROMPT_TRIES:
                raise
            prompter.say(f"{exc} Try again.")
    raise AssertionError("unreachable")  # pragma: no cover


# -- the keyring -----------------------------------------------------------------------------


def keyring_usable(lookup: KeyLookup) -> tuple[bool, str]:
    """Whether a key may and can be saved in the keyring, and if not, why not."""
    writable, why = lookup.keyring_writable()
    if not writable:
        return False, why
    from .keychain import keyring_unusable

    unusable = keyring_unusable()
    return (False, unusable) if unusable is not None else (True, "")


def _save(prompter: Prompter, lookup: KeyLookup, key: VaultKey) -> str | None:
    """Save in the keyring, warning about a plain-text backend; None or why it failed."""
    from .keychain import keyring_label, plaintext_warning, save_in_keyring

    warning = plaintext_warning()
    if warning:
        prompter.say(warning)
    return save_in_keyring(key, keyring_label(lookup.path, lookup.project))


def offer_to_save(prompter: Prompter, lookup: KeyLookup, found: FoundKey) -> None:
    """After a key was typed at the prompt: offer to save it (default yes) when a keyring
    is usable; say nothing otherwise (the key still works for this command)."""
    from .keychain import keyring_name

    usable, _ = keyring_usable(lookup)
    if not usable or not prompter.interactive:
        return
    if prompter.ask_yes_no("Save the key in the system keyring?", default=True):
        problem = _save(prompter, lookup, found.key)
        prompter.say(sentence(problem or f"saved the key in the system keyring ({keyring_name()})"))


def keep_key_advice(lookup: KeyLookup, key_file: Path | None = None) -> str:
    """What to do with a key no keyring keeps: a key file, the variable, the prompt."""
    option = lookup.front_end.key_file_option
    if key_file is not None:
        shown = shown_path(key_file)
        return (
            f"Commands find it through {option}={shown} or {KEY_FILE_ENV}={shown}; "
            "without either they ask for it on a terminal."
        )
    return (
        "Keep it in a file only you can read and name that file with "
        f"{option}=PATH or {KEY_FILE_ENV}=PATH, or type it when a command asks for it "
        "on a terminal."
    )


def store_new_key(
    prompter: Prompter,
    lookup: KeyLookup,
    key: VaultKey,
    *,
    show_key: Callable[[str], None],
    key_out: Path | None = None,
) -> bool:
    """A new key (init, rotate, reset, a first ``--vault-unlock``): write it to ``key_out``,
    save it in the keyring when one is usable, show it, and say plainly what happened.

    Returns whether the keyring kept it.
    """
    from .keychain import keyring_name, write_key_file

    if key_out is not None:
        write_key_file(key_out, key)
        prompter.say(f"Wrote the key to {shown_path(key_out)} (readable only by you).")
    usable, why = keyring_usable(lookup)
    saved = False
    if usable:
        problem = _save(prompter, lookup, key)
        if problem is None:
            saved = True
            prompter.say(f"Saved the key in the system keyring ({keyring_name()}).")
        else:  # "the key could not be saved in the system keyring (...)"
            prompter.say(sentence(problem) + " " + keep_key_advice(lookup, key_out))
    else:
        prompter.say(
            sentence(f"the key was NOT saved in a keyring: {why}")
            + " "
            + keep_key_advice(lookup, key_out)
        )
    show_key(key.text())
    prompter.say(KEY_ADVICE)
    return saved


def save_checked_key(prompter: Prompter, lookup: KeyLookup, found: FoundKey) -> bool:
    """``unlock``: save a key that was checked; say plainly when it cannot be saved."""
    from .keychain import keyring_name

    usable, why = keyring_usable(lookup)
    if usable:
        problem = _save(prompter, lookup, found.key)
        if problem is None:
            prompter.say(
                f"The key opens {lookup.path}; saved it in the system keyring ({keyring_name()})."
            )
            return True
        why = problem
    prompter.say(
        sentence(f"the key opens {lookup.path}, but it was NOT saved: {why}")
        + " "
        + keep_key_advice(lookup)
    )
    return False


# -- resetting -------------------------------------------------------------------------------


def confirm_reset(
    prompter: Prompter,
    path: Path,
    names: Sequence[str],
    *,
    confirmed: bool,
    yes_option: str,
    current: FoundKey | None,
) -> None:
    """Make sure a reset is wanted: it deletes every secret for good.

    When the current key is available, says so and suggests ``rotate`` first. Raises
    `ResetDeclinedError` without a terminal (unless ``confirmed``) or when declined.
    """
    count = len(names)
    if current is not None:
        prompter.say(
            f"The current key of {path} is available ({current.source}): "
            "`pytest-vault rotate` makes a new key and keeps every secret. A reset is for a "
            "lost key."
        )
    if confirmed:
        return
    if not prompter.interactive:
        raise ResetDeclinedError(
            f"Resetting {path} deletes all {count} secret(s) for good; without a terminal "
            f"to confirm on, pass {yes_option}."
        )
    question = (
        f"Reset {path}? This generates a new key and permanently deletes all {count} secret(s)."
    )
    if not prompter.ask_yes_no(question, default=False):
        raise ResetDeclinedError("Reset declined; nothing was changed.", at_prompt=True)


def reset_report(path: Path, names: Sequence[str]) -> str:
    """What a reset did, naming the deleted secrets."""
    deleted = f" ({', '.join(names)})" if names else ""
    return f"Reset {path}: {len(names)} secret(s) deleted{deleted}, new key generated."
