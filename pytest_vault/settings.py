"""Finding the vault file and its settings the way pytest would, for the console script.

The nearest pytest configuration file, searched upwards from the current folder, decides:
its ``vault_file`` (relative to that file's folder), ``vault_key_env`` and
``vault_keyring``; without a ``vault_file`` the vault is ``secrets.vault.toml`` beside that
configuration file; without any configuration file, in pytest's rootdir (the folder of
the nearest ``pyproject.toml``, else of the nearest ``setup.py``, else the current folder).
"""

from __future__ import annotations

import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from .errors import VaultUsageError
from .keychain import DEFAULT_KEY_ENV, KEYRING_POLICIES, KeyringPolicy

DEFAULT_VAULT_FILE: Final = "secrets.vault.toml"
_INI_FILES: Final = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"))
_CFG_FILES: Final = (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest"))


@dataclass(frozen=True)
class Settings:
    """The vault settings of one project."""

    vault_file: Path
    key_env: str = DEFAULT_KEY_ENV
    keyring: KeyringPolicy = "auto"
    config_file: Path | None = None


def parse_keyring_policy(value: str, where: str) -> KeyringPolicy:
    policy = value.strip().lower()
    if policy not in KEYRING_POLICIES:
        raise VaultUsageError(
            f"vault_keyring = {value!r} in {where} is not one of auto, always, never."
        )
    return cast(KeyringPolicy, policy)


def find_settings(start: Path) -> Settings:
    """The settings that apply in folder ``start`` (see the module docstring)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        found = _read_config(folder)
        if found is not None:
            config_file, values = found
            return _settings_from(config_file, values)
    # No configuration file: pytest's rootdir is then the folder of the nearest
    # pyproject.toml (even without a pytest table), else of the nearest setup.py.
    for marker in ("pyproject.toml", "setup.py"):
        for folder in (start, *start.parents):
            if (folder / marker).is_file():
                return Settings(vault_file=folder / DEFAULT_VAULT_FILE)
    return Settings(vault_file=start / DEFAULT_VAULT_FILE)


def _settings_from(config_file: Path, values: dict[str, Any]) -> Settings:
    folder = config_file.parent
    vault_file = str(values.get("vault_file") or DEFAULT_VAULT_FILE).strip()
    key_env = str(values.get("vault_key_env") or DEFAULT_KEY_ENV).strip()
    policy = parse_keyring_policy(str(values.get("vault_keyring") or "auto"), str(config_file))
    return Settings(folder / vault_file, key_env, policy, config_file)


def _read_config(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    # The same files and order as pytest's own search (pytest.toml is pytest 9's).
    for name in ("pytest.toml", ".pytest.toml"):
        path = folder / name
        if path.is_file():
            table = _toml(path).get("pytest", {})
            return path, table if isinstance(table, dict) else {}
    for name, section in _INI_FILES:
        path = folder / name
        if path.is_file():
            return path, _ini_section(path, section) or {}
    path = folder / "pyproject.toml"
    if path.is_file():
        tool = _toml(path).get("tool", {})
        pytest_table = tool.get("pytest") if isinstance(tool, dict) else None
        if isinstance(pytest_table, dict):
            ini_options = pytest_table.get("ini_options")
            if isinstance(ini_options, dict):
                return path, ini_options
            return path, pytest_table
    for name, section in _CFG_FILES:
        path = folder / name
        if path.is_file():
            values = _ini_section(path, section)
            if values is not None:
                return path, values
    return None


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise VaultUsageError(f"Cannot read the pytest configuration {path}.") from None


def _ini_section(path: Path, section: str) -> dict[str, Any] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        raise VaultUsageError(f"Cannot read the pytest configuration {path}.") from None
    if not parser.has_section(section):
        return None
    return dict(parser.items(section))
