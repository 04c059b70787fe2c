"""Finding the vault file and settings the way pytest finds its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_vault.errors import VaultUsageError
from pytest_vault.keychain import DEFAULT_KEY_ENV
from pytest_vault.settings import DEFAULT_VAULT_FILE, Settings, find_settings

VAULT_LINES = (
    "vault_file = vaults/test.vault.toml\nvault_key_env = MY_KEY\nvault_keyring = always\n"
)
VAULT_TOML = (
    'vault_file = "vaults/test.vault.toml"\nvault_key_env = "MY_KEY"\nvault_keyring = "always"\n'
)

CONFIGS = {
    "pytest.ini": "[pytest]\n" + VAULT_LINES,
    ".pytest.ini": "[pytest]\n" + VAULT_LINES,
    "pyproject.toml": "[project]\nname = 'x'\n\n[tool.pytest.ini_options]\n" + VAULT_TOML,
    "tox.ini": "[tox]\nenvlist = py\n\n[pytest]\n" + VAULT_LINES,
    "setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\n" + VAULT_LINES,
    "pytest.toml": "[pytest]\n" + VAULT_TOML,
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_settings_from_each_configuration_file(root: Path, name: str) -> None:
    (root / name).write_text(CONFIGS[name], encoding="utf-8")
    settings = find_settings(root)
    assert settings == Settings(
        vault_file=root / "vaults" / "test.vault.toml",
        key_env="MY_KEY",
        keyring="always",
        config_file=root / name,
        rootdir=root,
    )


def test_pyproject_native_tool_pytest_table(root: Path) -> None:
    (root / "pyproject.toml").write_text("[tool.pytest]\n" + VAULT_TOML, encoding="utf-8")
    settings = find_settings(root)
    assert settings.vault_file == root / "vaults" / "test.vault.toml"
    assert settings.key_env == "MY_KEY"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_searched_upwards_from_a_subfolder_relative_to_the_config(root: Path, name: str) -> None:
    (root / name).write_text(CONFIGS[name], encoding="utf-8")
    sub = root / "tests" / "unit" / "deep"
    sub.mkdir(parents=True)
    settings = find_settings(sub)
    assert settings.config_file == root / name
    assert settings.vault_file == root / "vaults" / "test.vault.toml"
    assert settings.key_env == "MY_KEY"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_without_vault_file_the_vault_sits_beside_the_config(root: Path, name: str) -> None:
    text = CONFIGS[name].replace("vaults/test.vault.toml", "").replace("vault_file = ", "# ")
    (root / name).write_text(text, encoding="utf-8")
    (root / "sub").mkdir()
    settings = find_settings(root / "sub")
    assert settings.vault_file == root / DEFAULT_VAULT_FILE
    assert settings.config_file == root / name


def test_nearest_configuration_wins(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\nvault_file = outer.toml\n", encoding="utf-8")
    inner = root / "packages" / "inner"
    inner.mkdir(parents=True)
    (inner / "tox.ini").write_text("[pytest]\nvault_file = inner.toml\n", encoding="utf-8")
    (inner / "src").mkdir()
    assert find_settings(inner / "src").vault_file == inner / "inner.toml"
    assert find_settings(root / "packages").vault_file == root / "outer.toml"


def test_pytest_ini_beats_other_files_in_the_same_folder(root: Path) -> None:
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nvault_file = "from-pyproject.toml"\n', encoding="utf-8"
    )
    (root / "tox.ini").write_text("[pytest]\nvault_file = from-tox.toml\n", encoding="utf-8")
    (root / "pytest.ini").write_text("[pytest]\nvault_file = from-ini.toml\n", encoding="utf-8")
    assert find_settings(root).vault_file == root / "from-ini.toml"
    (root / "pytest.ini").unlink()
    assert find_settings(root).vault_file == root / "from-pyproject.toml"
    (root / "pyproject.toml").unlink()
    assert find_settings(root).vault_file == root / "from-tox.toml"


def test_pytest_ini_without_a_section_still_is_the_config(root: Path) -> None:
    (root / "pytest.ini").write_text("# empty\n", encoding="utf-8")
    sub = root / "sub"
    sub.mkdir()
    (sub / "tox.ini").write_text("[tox]\nenvlist = py\n", encoding="utf-8")
    settings = find_settings(sub)
    assert settings.config_file == root / "pytest.ini"
    assert settings.vault_file == root / DEFAULT_VAULT_FILE


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("tox.ini", "[tox]\nenvlist = py\n"),
        ("setup.cfg", "[metadata]\nname = x\n"),
        ("pyproject.toml", "[tool.black]\nline-length = 100\n"),
    ],
)
def test_files_without_a_pytest_section_are_skipped(root: Path, name: str, text: str) -> None:
    (root / "pytest.ini").write_text("[pytest]\nvault_file = outer.toml\n", encoding="utf-8")
    sub = root / "sub"
    sub.mkdir()
    (sub / name).write_text(text, encoding="utf-8")
    assert find_settings(sub).vault_file == root / "outer.toml"


def test_vault_file_may_be_absolute(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "v.toml"
    (root / "pytest.ini").write_text(f"[pytest]\nvault_file = {target}\n", encoding="utf-8")
    assert find_settings(root).vault_file == target


def test_defaults(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\naddopts = -q\n", encoding="utf-8")
    settings = find_settings(root)
    assert settings.key_env == DEFAULT_KEY_ENV == "PYTEST_VAULT_KEY"
    assert settings.keyring == "auto"
    assert settings.vault_file == root / DEFAULT_VAULT_FILE == root / "secrets.vault.toml"


@pytest.mark.parametrize(("written", "policy"), [("never", "never"), (" Always ", "always")])
def test_vault_keyring_values(root: Path, written: str, policy: str) -> None:
    (root / "pytest.ini").write_text(f"[pytest]\nvault_keyring = {written}\n", encoding="utf-8")
    assert find_settings(root).keyring == policy


@pytest.mark.parametrize("bad", ["sometimes", "yes", "true"])
def test_invalid_vault_keyring_is_a_usage_error(root: Path, bad: str) -> None:
    (root / "pytest.ini").write_text(f"[pytest]\nvault_keyring = {bad}\n", encoding="utf-8")
    with pytest.raises(VaultUsageError) as info:
        find_settings(root)
    message = str(info.value)
    assert f"vault_keyring = '{bad}'" in message
    assert str(root / "pytest.ini") in message
    assert "auto, always, never" in message
    assert info.value.exit_status == 2


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", "[tool.pytest.ini_options\nbroken"),
        ("pytest.ini", "no section header at all\n"),
    ],
)
def test_unreadable_configuration_is_a_usage_error(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text, encoding="utf-8")
    with pytest.raises(VaultUsageError, match="Cannot read the pytest configuration"):
        find_settings(root)


def test_no_configuration_means_the_current_folder(root: Path) -> None:
    settings = find_settings(root)
    assert settings == Settings(vault_file=root / DEFAULT_VAULT_FILE)
    assert settings.config_file is None


def test_no_configuration_but_a_pyproject_toml_roots_there_like_pytest(root: Path) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    sub = root / "src" / "pkg"
    sub.mkdir(parents=True)
    settings = find_settings(sub)
    assert settings.vault_file == root / DEFAULT_VAULT_FILE
    assert settings.key_env == DEFAULT_KEY_ENV


def test_no_configuration_but_a_setup_py_roots_there_like_pytest(root: Path) -> None:
    (root / "setup.py").write_text("", encoding="utf-8")
    sub = root / "tests"
    sub.mkdir()
    assert find_settings(sub).vault_file == root / DEFAULT_VAULT_FILE


LAYOUTS = {
    "ini-above": {"pytest.ini": "[pytest]\n", "a/b/x": ""},
    "tox-without-section": {"tox.ini": "[tox]\n", "a/b/x": ""},
    "pyproject-table-above": {"pyproject.toml": "[tool.pytest.ini_options]\n", "a/b/x": ""},
    "bare-pyproject": {"pyproject.toml": "[project]\nname='x'\n", "a/b/x": ""},
    "setup-py": {"setup.py": "", "a/b/x": ""},
    "setup-cfg-and-inner-ini": {"setup.cfg": "[tool:pytest]\n", "a/pytest.ini": "", "a/b/x": ""},
    "nothing": {"a/b/x": ""},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_same_rootdir_as_pytest_itself(root: Path, layout: str) -> None:
    from _pytest.config.findpaths import determine_setup

    for relative, text in LAYOUTS[layout].items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    start = root / "a" / "b"
    rootdir, *_ = determine_setup(
        inifile=None, override_ini=None, args=[], rootdir_cmd_arg=None, invocation_dir=start
    )
    assert find_settings(start).vault_file == rootdir / DEFAULT_VAULT_FILE
