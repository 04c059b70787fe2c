"""The vault settings of one run or command, and every rule and default behind them.

Both front ends build the same `Settings`: the plugin from pytest's ``config``
(`settings_from_config`), the console script from the configuration file pytest would
read from the same folder (`find_settings`). Each rule lives here once:

- the vault file: ``--vault-file`` / ``--file`` (relative to the current folder), else the
  ini ``vault_file`` (relative to the rootdir), else ``secrets.vault.toml`` in the rootdir;
- the key file: ``--vault-key-file`` / ``--key-file``, else ``PYTEST_VAULT_KEY_FILE``
  (relative to the current folder), else the ini ``vault_key_file`` (relative to the
  rootdir); ``~`` is expanded in each;
- the key variable (``vault_key_env``, default ``PYTEST_VAULT_KEY``), the keyring policy
  (``vault_keyring``: auto, always, never), the missing policy (``vault_missing``: skip,
  fail) and the marker name (``vault_marker``, default ``vault``).

For the console script, the nearest pytest configuration file, searched upwards from the
current folder, is "the ini" and its folder the rootdir; without any configuration file
the rootdir is the folder of the nearest ``pyproject.toml``, else of the nearest
``setup.py``, else the current folder, as pytest decides it.

Importing this module is cheap (the plugin does it in every run): the configuration file
readers are imported only by `find_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from .errors import VaultUsageError, looks_like_key

if TYPE_CHECKING:
    import pytest

DEFAULT_VAULT_FILE: Final = "secrets.vault.toml"
DEFAULT_KEY_ENV: Final = "PYTEST_VAULT_KEY"
KEY_FILE_ENV: Final = "PYTEST_VAULT_KEY_FILE"
DEFAULT_MARKER: Final = "vault"

KeyringPolicy = Literal["auto", "always", "never"]
KEYRING_POLICIES: Final = ("auto", "always", "never")
MissingPolicy = Literal["skip", "fail"]
MISSING_POLICIES: Final = ("skip", "fail")

#: The ini names the settings read (the plugin declares them all).
INI_NAMES: Final = (
    "vault_file",
    "vault_key_file",
    "vault_key_env",
    "vault_keyring",
    "vault_missing",
    "vault_marker",
)

_INI_FILES: Final = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"))
_CFG_FILES: Final = (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest"))


class FrontEnd:
    """How one front end spells its options, for messages."""

    __slots__ = ("file_option", "key_file_option", "name", "no_keyring_option", "unlock")

    def __init__(
        self,
        name: str,
        file_option: str,
        key_file_option: str,
        no_keyring_option: str,
        unlock: str,
    ) -> None:
        self.name = name
        self.file_option = file_option
        self.key_file_option = key_file_option
        self.no_keyring_option = no_keyring_option
        #: The command that asks for the key on a terminal and saves it.
        self.unlock = unlock


PYTEST: Final = FrontEnd(
    "pytest", "--vault-file", "--vault-key-file", "--vault-no-keyring", "`pytest --vault-unlock`"
)
CONSOLE: Final = FrontEnd(
    "pytest-vault", "--file", "--key-file", "--no-keyring", "`pytest-vault unlock`"
)


# A plain class, not a dataclass: the plugin builds one in every run, and defining a
# dataclass at import costs about a millisecond (docs/performance.md).
class Settings:
    """The vault settings of one project, run or command."""

    __slots__ = (
        "config_file",
        "front_end",
        "key_env",
        "key_file",
        "key_file_origin",
        "keyring",
        "marker",
        "missing",
        "no_keyring",
        "rootdir",
        "vault_file",
    )

    def __init__(
        self,
        vault_file: Path,
        key_env: str = DEFAULT_KEY_ENV,
        keyring: KeyringPolicy = "auto",
        config_file: Path | None = None,
        *,
        key_file: Path | None = None,
        key_file_origin: str = "",
        no_keyring: bool = False,
        missing: MissingPolicy = "skip",
        marker: str = DEFAULT_MARKER,
        rootdir: Path | None = None,
        front_end: FrontEnd = CONSOLE,
    ) -> None:
        self.vault_file = vault_file
        self.key_env = key_env
        self.keyring: KeyringPolicy = keyring
        self.config_file = config_file
        self.key_file = key_file
        #: Where the key file was named: an option, the variable or the ini setting.
        self.key_file_origin = key_file_origin
        self.no_keyring = no_keyring
        self.missing: MissingPolicy = missing
        self.marker = marker
        self.rootdir = rootdir if rootdir is not None else vault_file.parent
        self.front_end = front_end

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name != "front_end"
        )
        return f"Settings({fields})"

    def explicit_key(self, environ: Mapping[str, str]) -> str | None:
        """What names a key explicitly (a key file, or a non-empty key variable), or None.

        With an explicit key, a missing vault file is an error rather than a skip.
        """
        if self.key_file is not None:
            return self.key_file_origin
        if environ.get(self.key_env, "").strip():
            return self.key_env
        return None


def build_settings(
    ini: Callable[[str], str],
    *,
    rootdir: Path,
    vault_file_option: str | None,
    key_file_option: str | None,
    no_keyring: bool,
    environ: Mapping[str, str],
    where: str,
    front_end: FrontEnd,
    config_file: Path | None = None,
) -> Settings:
    """Apply the rules of the module docstring; ``ini(name)`` gives a raw ini value or ''."""
    cwd = Path.cwd()
    configured = ini("vault_file").strip()
    for text, what in (
        (vault_file_option, front_end.file_option),
        (configured, f"vault_file in {where}"),
    ):
        if text and looks_like_key(text):  # never repeated, not even as a missing file
            raise VaultUsageError(
                f"The vault file given by {what} is not repeated here: it looks like a key or "
                "a secret, not a file name. Name the vault file there; the key goes in "
                f"{DEFAULT_KEY_ENV}, a key file or the keyring."
            )
    if vault_file_option:
        vault_file = _absolute(vault_file_option, cwd)
    else:
        vault_file = _absolute(configured or DEFAULT_VAULT_FILE, rootdir)
    key_file, origin = _key_file(
        ini, rootdir, cwd, option=key_file_option, environ=environ, where=where, front_end=front_end
    )
    return Settings(
        vault_file,
        ini("vault_key_env").strip() or DEFAULT_KEY_ENV,
        parse_keyring_policy(ini("vault_keyring") or "auto", where),
        config_file,
        key_file=key_file,
        key_file_origin=origin,
        no_keyring=no_keyring,
        missing=parse_missing_policy(ini("vault_missing") or "skip", where),
        marker=marker_name(ini("vault_marker"), where),
        rootdir=rootdir,
        front_end=front_end,
    )


def _absolute(text: str, base: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else base / path


def _key_file(
    ini: Callable[[str], str],
    rootdir: Path,
    cwd: Path,
    *,
    option: str | None,
    environ: Mapping[str, str],
    where: str,
    front_end: FrontEnd,
) -> tuple[Path | None, str]:
    if option:
        return _absolute(option, cwd), front_end.key_file_option
    from_env = environ.get(KEY_FILE_ENV, "").strip()
    if from_env:
        return _absolute(from_env, cwd), KEY_FILE_ENV
    from_ini = ini("vault_key_file").strip()
    if from_ini:
        return _absolute(from_ini, rootdir), f"vault_key_file in {where}"
    return None, ""


def parse_keyring_policy(value: str, where: str) -> KeyringPolicy:
    policy = value.strip().lower()
    if policy not in KEYRING_POLICIES:
        raise VaultUsageError(
            f"vault_keyring = {value!r} in {where} is not one of auto, always, never."
        )
    return cast(KeyringPolicy, policy)


def parse_missing_policy(value: str, where: str) -> MissingPolicy:
    policy = value.strip().lower()
    if policy not in MISSING_POLICIES:
        raise VaultUsageError(f"vault_missing = {value!r} in {where} is not one of skip, fail.")
    return cast(MissingPolicy, policy)


def marker_name(value: str, where: str = "the pytest configuration") -> str:
    """The ``vault_marker`` setting: the name of the plugin's marker (default ``vault``)."""
    name = value.strip() or DEFAULT_MARKER
    if not name.isidentifier():
        raise VaultUsageError(f"vault_marker = {value!r} in {where} is not a valid marker name.")
    return name


# -- the plugin: from pytest's config -----------------------------------------------------


def settings_from_config(config: pytest.Config) -> Settings:
    """The settings of a pytest run (raises `VaultUsageError` for a bad ini value)."""
    option = config.option

    def ini(name: str) -> str:
        return str(config.getini(name) or "")

    return build_settings(
        ini,
        rootdir=config.rootpath,
        vault_file_option=option.vault_file,
        key_file_option=option.vault_key_file,
        no_keyring=bool(option.vault_no_keyring),
        environ=os.environ,
        where="the pytest configuration",
        front_end=PYTEST,
        config_file=config.inipath,
    )


# -- the console script: from the configuration file pytest would read -------------------


def find_settings(
    start: Path,
    *,
    vault_file_option: str | None = None,
    key_file_option: str | None = None,
    no_keyring: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The settings that apply in folder ``start`` (see the module docstring)."""
    start = start.resolve()
    config_file, values = _find_config(start)
    rootdir = config_file.parent if config_file is not None else _rootdir_without_config(start)

    def ini(name: str) -> str:
        return str(values.get(name) or "")

    return build_settings(
        ini,
        rootdir=rootdir,
        vault_file_option=vault_file_option,
        key_file_option=key_file_option,
        no_keyring=no_keyring,
        environ=os.environ if environ is None else environ,
        where=str(config_file) if config_file is not None else "the defaults",
        front_end=CONSOLE,
        config_file=config_file,
    )


def _find_config(start: Path) -> tuple[Path | None, dict[str, Any]]:
    for folder in (start, *start.parents):
        found = _read_config(folder)
        if found is not None:
            return found
    return None, {}


def _rootdir_without_config(start: Path) -> Path:
    # No configuration file: pytest's rootdir is then the folder of the nearest
    # pyproject.toml (even without a pytest table), else of the nearest setup.py.
    for marker in ("pyproject.toml", "setup.py"):
        for folder in (start, *start.parents):
            if (folder / marker).is_file():
                return folder
    return start


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
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise VaultUsageError(f"Cannot read the pytest configuration {path}.") from None


def _ini_section(path: Path, section: str) -> dict[str, Any] | None:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        raise VaultUsageError(f"Cannot read the pytest configuration {path}.") from None
    if not parser.has_section(section):
        return None
    return dict(parser.items(section))
