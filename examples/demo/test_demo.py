"""What tests that use pytest-vault look like. Run: pytest (in this folder)."""

from __future__ import annotations

import logging
import os

import pytest


def test_api_token_from_the_vault_fixture(vault):
    token = vault["DEMO_API_TOKEN"]
    print(f"calling the API with token {token}")  # -rA shows it masked: <vault:DEMO_API_TOKEN>
    assert token.startswith("demo-token-")


def test_the_vault_repr_shows_names_only(vault):
    assert "DEMO_API_TOKEN" in repr(vault)
    assert vault["DEMO_API_TOKEN"] not in repr(vault)


@pytest.mark.vault("DEMO_DB_PASSWORD", env=True)
def test_marker_sets_environment_variables():
    password = os.environ["DEMO_DB_PASSWORD"]
    logging.getLogger("demo").warning("connecting with password %s", password)
    assert len(password) > 10


def test_multi_line_private_key(vault):
    pem = vault["DEMO_PRIVATE_KEY"]
    print(pem)  # every line of it is masked in the report
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.vault("DEMO_NOT_IN_THE_VAULT")
def test_skipped_when_the_vault_lacks_a_secret():
    raise AssertionError("not reached: the marker skips this test")
