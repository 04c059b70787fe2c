"""Keeping secret values out of everything pytest prints or writes (placeholder)."""

from __future__ import annotations

import pytest

from .state import VaultState


def register_masking(config: pytest.Config, state: VaultState) -> None:
    """Register the masking layers; they stay idle until the vault is opened."""
