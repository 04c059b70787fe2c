"""The key's environment variable: read once at start-up, then out of the tests' reach.

pytest-vault reads ``PYTEST_VAULT_KEY`` (or the ``vault_key_env`` name) before any
``conftest.py`` is imported, keeps its text in ``config.stash`` for the lazy key lookup,
and removes the variable from ``os.environ``: tests, the processes they start and xdist's
workers (started later, from this environment) never see it. ``vault_keep_key_env = true``
keeps the variable. An in-process ``pytest.main()`` gets it back when the run ends.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_KEY_ENV = "PYTEST_VAULT_KEY"

#: The variable's text as it was when the run started (absent: the variable was not set).
taken_key_text = pytest.StashKey[str]()


def key_env_name(config: pytest.Config) -> str:
    return str(config.getini("vault_key_env") or DEFAULT_KEY_ENV).strip() or DEFAULT_KEY_ENV


def keep_key_env(config: pytest.Config) -> bool:
    """The ``vault_keep_key_env`` ini value; a value that is not a boolean is a usage error."""
    try:
        return bool(config.getini("vault_keep_key_env"))
    except (ValueError, pytest.UsageError) as exc:
        raise pytest.UsageError(
            f"vault_keep_key_env in the pytest configuration is not true or false ({exc})."
        ) from None


def take_key_env(config: pytest.Config) -> None:
    """Remember the key variable's text and remove the variable (unless it is to be kept)."""
    name = key_env_name(config)
    value = os.environ.get(name)
    if value is None:
        return
    config.stash[taken_key_text] = value
    try:
        keep = keep_key_env(config)
    except pytest.UsageError:
        keep = False  # reported by the vault state at configure; the key stays safe meanwhile
    if keep:
        return
    del os.environ[name]

    # For callers of pytest.main() in their own process: the run is over, give it back.
    def give_back() -> None:
        os.environ.setdefault(name, value)

    config.add_cleanup(give_back)


def environ_with_key(config: pytest.Config) -> dict[str, str]:
    """``os.environ`` as it was for the key lookup: with the key variable taken at start."""
    environ = dict(os.environ)
    taken = config.stash.get(taken_key_text, None)
    if taken is not None:
        environ.setdefault(key_env_name(config), taken)
    return environ
