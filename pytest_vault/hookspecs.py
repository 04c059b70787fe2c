"""The hooks pytest-vault adds to pytest (registered from ``pytest_addhooks``)."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_vault_key(config: pytest.Config, vault_id: str, key_id: str) -> str | None:
    """Return the vault key (its text form) for the vault ``vault_id``, or ``None``.

    Called once per session, only when neither ``--vault-key-file`` nor the
    ``PYTEST_VAULT_KEY`` variable provided a key, and before the system keyring is read.
    ``key_id`` names the key the vault file needs (``k_`` + 16 hex digits): use it to pick
    the right entry of a team's secret manager. The first non-``None`` result wins. A key
    returned here that does not open the vault is an error, not a reason to try the
    keyring. Implement it in a plugin or a root ``conftest.py``; like every pluggy hook, an
    implementation may take only the arguments it needs.

    Under pytest-xdist the hook runs in the controller only.

    .. versionadded:: 0.1
    """
