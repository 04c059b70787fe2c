"""The demo's key hook: it hands pytest-vault the PUBLIC demo key in PUBLIC-DEMO-KEY.txt.

A real project would fetch its key here from the team's secret manager, by ``key_id``
(or rely on the keyring locally and ``PYTEST_VAULT_KEY`` in CI, and write no hook at all).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_vault_key(config: pytest.Config, key_id: str) -> str | None:
    key_file = Path(__file__).with_name("PUBLIC-DEMO-KEY.txt")
    lines = key_file.read_text(encoding="utf-8").splitlines()
    keys = [line for line in lines if line.strip() and not line.startswith("#")]
    return keys[0] if keys else None
