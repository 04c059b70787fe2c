"""Helpers for the tests of the commands that show, run with, import or edit secrets."""

from __future__ import annotations

from collections.abc import Mapping

from projects import CliResult, Project

from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

ENV = "PYTEST_VAULT_KEY"


def make_vault(project: Project, values: Mapping[str, str]) -> str:
    """A vault with ``values`` in ``project``, made in-process; its key's text."""
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    if values:
        set_secrets(project.vault_file, key, values)
    return key.text()


def values_in(project: Project, key: str) -> dict[str, str]:
    return VaultFile.load(project.vault_file).decrypt_all(VaultKey.parse(key))


def assert_no_leak(text: str, *secrets: str) -> None:
    """No secret, nor any line of 4 characters or more of a multi-line one, in ``text``."""
    assert "Traceback" not in text
    for secret in secrets:
        for part in [secret.strip(), *secret.strip().splitlines()]:
            if len(part.strip()) >= 4:
                assert part not in text, f"{part!r} leaked"


def assert_quiet_failure(result: CliResult, status: int, phrase: str, *secrets: str) -> None:
    """Exit ``status``, ``phrase`` on standard error, nothing on standard output, no leak."""
    assert result.returncode == status, result.output
    assert phrase in result.stderr, result.stderr
    assert result.stdout == ""
    assert_no_leak(result.output, *secrets)
