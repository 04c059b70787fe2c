"""pytest runs of a project using the plugin: shared by the plugin, terminal and xdist tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# Imported by every module that runs pytest in-process, before any pytester snapshot of
# sys.modules: in-process runs drop the modules they imported, and cryptography's
# bindings break when re-imported ("Expected instance of hashes.HashAlgorithm").
import pytest_vault.interactive
import pytest_vault.keychain
import pytest_vault.keyflows
import pytest_vault.plugin
import pytest_vault.skipsummary  # noqa: F401
from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets

VaultKey.generate().cipher_for("v_" + "0" * 32)  # loads every cryptography module used

FAST = ("-p", "no:hypothesispytest")
SECRETS = {
    "API_TOKEN": "tok-3f9a-value-0001",
    "DB_PASSWORD": "correct horse battery staple",
}
VAULT_FILE = "secrets.vault.toml"


def make_vault(
    folder: Path, values: dict[str, str] | None = None, name: str = VAULT_FILE
) -> VaultKey:
    """Create a vault ``folder/name`` holding ``values`` (default `SECRETS`); its key."""
    key = VaultKey.generate()
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    create_vault(path, key)
    set_secrets(path, key, SECRETS if values is None else values)
    return key


def mistype(key: VaultKey) -> str:
    """The key's text with one character changed (the checksum catches it)."""
    text = key.text()
    changed = "B" if text[-6] == "A" else "A"
    return text[:-6] + changed + text[-5:]


def output(result: pytest.RunResult) -> str:
    return str(result.stdout) + "\n" + str(result.stderr)


def assert_clean(result: pytest.RunResult, *forbidden: str) -> None:
    """No INTERNALERROR, no traceback, and none of ``forbidden`` anywhere in the output."""
    text = output(result)
    assert "INTERNALERROR" not in text
    assert "Traceback (most recent call last)" not in text
    assert "During handling of the above exception" not in text
    for value in forbidden:
        assert value not in text


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pytest run in a new process."""
    return pytester.runpytest_subprocess(*FAST, *args, timeout=120)


def inline(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pytest run in this process (the plugin's state lives in ``config.stash``)."""
    return pytester.runpytest(*FAST, *args)
