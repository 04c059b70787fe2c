"""Machines without a keyring (issue 13): the key file by setting, honest "not saved"
messages, prompts in every console command, and an explicit key without a vault file.

Console-script runs are subprocesses (`Project.cli`); pytest runs use pytester. The
no-keyring machine is ``PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_runs import FAST, inline, make_vault, run
from projects import CliResult, Project, ThrowawayKeyring

from pytest_vault.key import VaultKey
from pytest_vault.settings import find_settings

ENV = "PYTEST_VAULT_KEY"
USES_VAULT = """
def test_plain():
    pass

def test_uses_vault(vault):
    assert vault["API_TOKEN"] == "tok-3f9a-value-0001"
"""
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def vault_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder that is its own rootdir (a pytest.ini, no vault yet)."""
    pytester.makeini("[pytest]\n")
    return pytester


def write_key(path: Path, key: VaultKey, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key.text() + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def clean(result: CliResult | pytest.RunResult, *forbidden: str) -> str:
    text = (
        result.output if isinstance(result, CliResult) else str(result.stdout) + str(result.stderr)
    )
    assert "Traceback" not in text
    for value in forbidden:
        assert value not in text
    return text


# -- the settings: one rule for both front ends -----------------------------------------------


def test_key_file_precedence_option_then_variable_then_ini(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nvault_key_file = keys/ini.key\n")
    from_ini = find_settings(tmp_path, environ={})
    assert from_ini.key_file == tmp_path / "keys" / "ini.key"
    assert from_ini.key_file_origin == f"vault_key_file in {tmp_path / 'pytest.ini'}"
    from_env = find_settings(tmp_path, environ={"PYTEST_VAULT_KEY_FILE": "/run/secrets/k"})
    assert (from_env.key_file, from_env.key_file_origin) == (
        Path("/run/secrets/k"),
        "PYTEST_VAULT_KEY_FILE",
    )
    from_option = find_settings(
        tmp_path, key_file_option="/opt/k", environ={"PYTEST_VAULT_KEY_FILE": "/run/secrets/k"}
    )
    assert (from_option.key_file, from_option.key_file_origin) == (Path("/opt/k"), "--key-file")


def test_tilde_is_expanded_in_every_key_file_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.environ["HOME"])
    (tmp_path / "pytest.ini").write_text("[pytest]\nvault_key_file = ~/ini.key\n")
    assert find_settings(tmp_path, environ={}).key_file == home / "ini.key"
    environ = {"PYTEST_VAULT_KEY_FILE": "~/env.key"}
    assert find_settings(tmp_path, environ=environ).key_file == home / "env.key"
    assert find_settings(tmp_path, key_file_option="~/opt.key").key_file == home / "opt.key"


def test_an_empty_key_file_variable_is_unset(tmp_path: Path) -> None:
    assert find_settings(tmp_path, environ={"PYTEST_VAULT_KEY_FILE": " "}).key_file is None


# -- the console script ------------------------------------------------------------------------


def test_console_reads_the_key_file_named_by_the_variable(project: Project) -> None:
    key = VaultKey.parse(project.init())
    write_key(Path(os.environ["HOME"]) / ".config" / "vault.key", key)
    result = project.cli(
        "set",
        "API_TOKEN",
        input="api-token-value",
        env={"PYTEST_VAULT_KEY_FILE": "~/.config/vault.key"},
    )
    assert result.returncode == 0, result.stderr
    got = project.cli("get", "API_TOKEN", env={"PYTEST_VAULT_KEY_FILE": "~/.config/vault.key"})
    assert got.stdout == "api-token-value\n"
    status = project.cli("status", env={"PYTEST_VAULT_KEY_FILE": "~/.config/vault.key"})
    assert "(PYTEST_VAULT_KEY_FILE)" in status.stderr
    clean(status, key.text())


def test_console_reads_the_key_file_of_the_ini_and_the_variable_wins_over_the_key_env(
    project: Project,
) -> None:
    key = VaultKey.parse(project.init())
    write_key(project.root / "private" / "vault.key", key)
    (project.root / "pytest.ini").write_text("[pytest]\nvault_key_file = private/vault.key\n")
    sub = project.root / "tests"
    sub.mkdir()
    result = project.cli("key", env={ENV: VaultKey.generate().text()})
    assert result.stdout.strip() == key.text(), result.stderr


def test_console_expands_tilde_in_the_key_file_option(project: Project) -> None:
    key = VaultKey.parse(project.init())
    write_key(Path(os.environ["HOME"]) / "vault.key", key)
    result = project.cli("--key-file=~/vault.key", "key")
    assert result.stdout.strip() == key.text(), result.stderr


def test_a_key_file_others_can_read_is_used_but_warned_about(project: Project) -> None:
    key = VaultKey.parse(project.init())
    path = write_key(Path(os.environ["HOME"]) / "vault.key", key, mode=0o644)
    result = project.cli("--key-file", str(path), "key")
    assert result.stdout.strip() == key.text()
    assert f"Warning: the key file {path} is readable by other users" in result.stderr
    assert f"chmod 600 {path}" in result.stderr
    private = project.cli("--key-file", str(write_key(path, key, 0o600)), "key")
    assert "Warning" not in private.stderr


@needs_git
def test_a_key_file_git_would_commit_is_warned_about(project: Project) -> None:
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    key = VaultKey.parse(project.init())
    write_key(project.root / "vault.key", key)
    result = project.cli("--key-file", "vault.key", "key")
    assert result.stdout.strip() == key.text()
    assert "is inside the git work tree" in result.stderr
    assert "add it to .gitignore" in result.stderr
    (project.root / ".gitignore").write_text("*.key\n")
    ignored = project.cli("--key-file", "vault.key", "key")
    assert "git work tree" not in ignored.stderr


def test_without_a_terminal_the_error_names_every_source_tried(project: Project) -> None:
    project.init()
    result = project.cli("get", "API_TOKEN")
    assert result.returncode == 1
    for tried in (
        "no key file was given",
        "PYTEST_VAULT_KEY is not set",
        "has no entry for",
        "There is no terminal to ask for the key on",
        "PYTEST_VAULT_KEY_FILE",
    ):
        assert tried in result.stderr, result.stderr


def test_keyring_errors_are_never_cut_inside_a_word(project: Project) -> None:
    project.init()
    result = project.cli(
        "get",
        "API_TOKEN",
        env={
            "PYTEST_VAULT_TEST_KEYRING_FAIL": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        },
    )
    assert "keyring" in result.stderr
    assert "No recommended backend was available" in result.stderr or (
        "no system keyring" in result.stderr
    )
    words = result.stderr.replace("(", " ").replace(")", " ").split()
    assert "backen" not in words
    assert "availab" not in words


@pytest.mark.parametrize("command", ["init", "rotate", "reset"])
def test_new_keys_on_a_machine_without_a_keyring_say_they_were_not_saved(
    project: Project, command: str
) -> None:
    old = "" if command == "init" else project.init()
    args = [command] + (["--yes"] if command == "reset" else [])
    result = project.cli(*args, env={**NO_KEYRING, ENV: old} if old else NO_KEYRING)
    assert result.returncode == 0, result.stderr
    assert (
        "The key was NOT saved in a keyring: no system keyring is available on this machine."
        in result.stderr
    )
    assert "PYTEST_VAULT_KEY_FILE=PATH" in result.stderr
    assert VaultKey.parse(result.stdout).key_id


def test_init_with_key_out_and_no_keyring_points_at_the_key_file(project: Project) -> None:
    result = project.cli("init", "--key-out", "vault.key", env=NO_KEYRING)
    assert result.returncode == 0, result.stderr
    assert "--key-file=vault.key or PYTEST_VAULT_KEY_FILE=vault.key" in result.stderr
    key = project.cli("key", env={**NO_KEYRING, "PYTEST_VAULT_KEY_FILE": "vault.key"})
    assert key.stdout == result.stdout


# -- the plugin ---------------------------------------------------------------------------------


def test_plugin_reads_the_key_file_named_by_the_variable(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    path = write_key(Path(os.environ["HOME"]) / "vault.key", key)
    monkeypatch.setenv("PYTEST_VAULT_KEY_FILE", "~/vault.key")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "vault: secrets.vault.toml (2 secrets), unlocked by the key file "
            f"{path} (PYTEST_VAULT_KEY_FILE)"
        ]
    )
    clean(result, key.text())


def test_plugin_reads_the_key_file_of_the_ini(vault_dir: pytest.Pytester) -> None:
    key = make_vault(vault_dir.path)
    write_key(vault_dir.path / "private" / "vault.key", key)
    vault_dir.makeini("[pytest]\nvault_key_file = private/vault.key\n")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*unlocked by the key file *private/vault.key (vault_key_file in*"]
    )


def test_plugin_expands_tilde_in_the_key_file_option(vault_dir: pytest.Pytester) -> None:
    key = make_vault(vault_dir.path)
    write_key(Path(os.environ["HOME"]) / "vault.key", key)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "--vault-key-file=~/vault.key")
    result.assert_outcomes(passed=2)


def test_plugin_warns_about_a_key_file_others_can_read(vault_dir: pytest.Pytester) -> None:
    key = make_vault(vault_dir.path)
    path = write_key(Path(os.environ["HOME"]) / "vault.key", key, mode=0o640)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, f"--vault-key-file={path}", "-q")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [f"vault: warning: the key file {path} is readable by other users*"]
    )


@pytest.mark.parametrize("given", ["variable", "key file variable", "ini key file"])
def test_an_explicit_key_without_a_vault_file_is_a_usage_error(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    key = VaultKey.generate()
    if given == "variable":
        monkeypatch.setenv(ENV, key.text())
    elif given == "key file variable":
        monkeypatch.setenv("PYTEST_VAULT_KEY_FILE", str(write_key(vault_dir.path / "k", key)))
    else:
        write_key(vault_dir.path / "k", key)
        vault_dir.makeini("[pytest]\nvault_key_file = k\n")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = run(vault_dir)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: A vault key is given (*), but there is no vault file at "
            f"{vault_dir.path / 'secrets.vault.toml'}.*"
        ]
    )
    assert "passed" not in str(result.stdout)
    clean(result, key.text())


def test_an_empty_key_variable_without_a_vault_still_runs(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "")  # a fork's CI: the secret is empty
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, skipped=1)


def test_vault_key_file_given_apart_from_its_path_never_passes_with_skips(
    tmp_path: Path,
) -> None:
    """``pytest --vault-key-file PATH`` (a space): pytest takes PATH for a test path too and
    picks its rootdir from it (research.md); the run either works or is a usage error."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    key = make_vault(project)
    (project / "test_it.py").write_text(USES_VAULT, encoding="utf-8")
    key_file = write_key(tmp_path / "secrets" / "vault.key", key)
    environ = {name: value for name, value in os.environ.items() if name != ENV}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *FAST, "--vault-key-file", str(key_file)],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert f"there is no vault file at {tmp_path / 'secrets.vault.toml'}" in output
    assert "Write --vault-key-file=PATH" in output
    assert "skipped" not in output
    assert key.text() not in output
    joined = subprocess.run(
        [sys.executable, "-m", "pytest", *FAST, f"--vault-key-file={key_file}"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert "2 passed" in joined.stdout


# -- a key or a secret typed where a path belongs is never echoed --------------------------------


def test_a_key_typed_as_a_path_is_never_echoed(project: Project) -> None:
    key = project.init()
    secret_like = "s3cr3t-T0ken-Value-9f8e7d6c5b4a"
    for args in (
        ("--key-file", key, "get", "API_TOKEN"),
        (f"--key-file={key}", "key"),
        ("set", "API_TOKEN", "--from-file", key),
        ("set", "API_TOKEN", "--from-file", secret_like),
        ("import", key),
        ("import", secret_like),
        ("--file", key, "list"),
        (f"--file={key.lower()}", "init"),
        ("--file", secret_like, "list"),
    ):
        result = project.cli(*args, env={ENV: key} if args[0] in ("set", "import") else None)
        assert result.returncode != 0, args
        assert "not repeated here: it looks like a key or a secret" in result.stderr, args
        assert key not in result.output
        assert key[20:40] not in result.output
        assert secret_like not in result.output


@pytest.mark.parametrize("typed", ["key", "secret"])
def test_a_key_or_secret_typed_as_the_vault_file_stays_out_of_the_pytest_output(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv(ENV, key.text())
    vault_dir.makepyfile(test_it=USES_VAULT)
    text = key.text() if typed == "key" else "s3cr3t-T0ken-Value-9f8e7d6c5b4a"
    result = inline(vault_dir, f"--vault-file={text}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = str(result.stdout) + str(result.stderr)
    assert "not repeated here" in shown
    assert text not in shown
    assert text[10:30] not in shown


def test_a_key_typed_as_the_key_file_path_stays_out_of_the_pytest_output(
    vault_dir: pytest.Pytester,
) -> None:
    key = make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, f"--vault-key-file={key.text()}")
    text = str(result.stdout) + str(result.stderr)
    assert "not repeated here: it looks like a key or a secret" in text
    assert key.text() not in text
    assert key.text()[20:40] not in text


# -- after a rotation ---------------------------------------------------------------------------


def test_a_retired_key_in_the_keyring_is_named_as_such(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    from pytest_vault.vault import rekey

    old = make_vault(vault_dir.path)
    test_keyring.put(old.key_id, old.text())
    new = rekey(vault_dir.path / "secrets.vault.toml", old, lambda key: None)  # a teammate's
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED*vault locked: the system keyring (throwaway_keyring) has no entry for "
            f"{new.key_id}, only {old.key_id}, a key this vault has retired (rotated; get the "
            "new key from whoever rotated it)"
        ]
    )
    clean(result, old.text(), new.text())


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("{key}", True),
        ("{key_start}", True),  # most of a key
        ("{key_lower}", True),
        ("s3cr3t-T0ken-Value-9f8e7d6c5b4a", True),  # a value, and no such file
        ("correct horse battery staple", True),
        ("/run/secrets/pytest_vault_key", False),  # docs/ci.md's path
        ("~/.config/pytest-vault/project.key", False),
        ("vault.key", False),
    ],
)
def test_shown_path_hides_keys_and_values(text: str, hidden: bool) -> None:
    from pytest_vault.errors import HIDDEN_PATH, shown_path

    key = VaultKey.generate().text()
    text = text.format(key=key, key_start=key[:40], key_lower=key.lower())
    assert (shown_path(text) == HIDDEN_PATH) is hidden
