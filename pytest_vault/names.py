"""What a secret name and a secret value may be: the one place these rules live.

Names: letters, digits and ``_``, not starting with a digit, at most `MAX_NAME_LENGTH`
characters (they double as environment variable names). Values: any Unicode text, at
most `MAX_VALUE_BYTES` once encoded as UTF-8. The console script, ``.env`` import, the
vault operations and the file format all check through here.
"""

from __future__ import annotations

from typing import Final

from .errors import SecretNameError, SecretValueError

MAX_NAME_LENGTH: Final = 200
MAX_VALUE_BYTES: Final = 1024 * 1024


def is_valid_name(name: object) -> bool:
    """Whether ``name`` is a valid secret name (and so safe to show in a message)."""
    # ``[A-Za-z_][A-Za-z0-9_]*`` without a regular expression: the report header reads the
    # vault file in every run, and compiling a pattern costs more than the check.
    return (
        isinstance(name, str)
        and name.isascii()
        and name.isidentifier()
        and len(name) <= MAX_NAME_LENGTH
    )


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise `SecretNameError`.

    The message does not repeat an invalid name: what was typed where a name belongs is
    often a value or a key (``pytest-vault get PYTEST-VAULT-KEY-1...``).
    """
    if not is_valid_name(name):
        raise SecretNameError(
            f"That is not a valid secret name ({_name_problem(name)}; not repeated here in "
            "case it is a value or a key): use letters, digits and _, "
            f"not starting with a digit, at most {MAX_NAME_LENGTH} characters."
        )
    return name


def _name_problem(name: str) -> str:
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name)} characters long"
    if name[0] in "0123456789":
        return "it starts with a digit"
    position, char = next((i, c) for i, c in enumerate(name, 1) if not is_valid_name("_" + c))
    return f"character {position} is {char!r}"


def check_value(name: str, value: str) -> str:
    """Return ``value`` if it can be stored under ``name``, else raise `SecretValueError`."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise SecretValueError(
            f"The value for {name} is not valid Unicode text (it holds lone surrogates)."
        ) from None
    if size > MAX_VALUE_BYTES:
        raise SecretValueError(
            f"The value for {name} is {size:,} bytes; a secret holds at most "
            f"{MAX_VALUE_BYTES:,} bytes (1 MiB)."
        )
    return value
