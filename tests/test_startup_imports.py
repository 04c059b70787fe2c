"""What a fresh process imports: the console script's commands and a dormant pytest run.

Imports are nearly the whole cost of a fast command (the interpreter starting, argparse,
``cryptography`` for a value), so each command imports only what it uses. Every run here
is a real process (the installed console script, ``python -m pytest``) with
``PYTHONPROFILEIMPORTTIME=1``: the interpreter then names on standard error every module
it imports, in that very run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable

import pytest
from vault_commands import make_vault

from conftest import Project

# Loaded by no fast command: each costs ~1-4 ms of a ~40 ms command.
STDLIB_NEVER = ("dataclasses", "inspect", "tempfile", "glob", "shutil")
# The parts of the package a command that reads a value has no use for.
PACKAGE_NOT_FOR_GET = (
    "pytest_vault.keyflows",
    "pytest_vault.terminal",
    "pytest_vault.masking",
    "pytest_vault.interactive",
    "pytest_vault.plugin",
    "pytest_vault.state",
)


def imported(stderr: str) -> set[str]:
    """The modules named by ``-X importtime`` lines ("import time: self | total | name")."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    } - {"imported package"}


def package_modules(modules: Iterable[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] == "pytest_vault"}


def cli_imports(project: Project, *args: str, env: dict[str, str] | None = None) -> set[str]:
    result = project.cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1", **(env or {})})
    assert result.returncode == 0, result.stderr[-2000:]
    modules = imported(result.stderr)
    assert "pytest_vault.cli" in modules, "the run reported no imports"
    return modules


def test_version_imports_only_the_cli_module(project: Project) -> None:
    modules = cli_imports(project, "--version")
    assert package_modules(modules) == {"pytest_vault", "pytest_vault.cli"}
    # Not even `typing` or `pathlib`: `--version` is the interpreter plus argparse.
    assert modules.isdisjoint({"typing", "pathlib", "hashlib", "cryptography", *STDLIB_NEVER})


def test_get_imports_what_opening_a_vault_takes_and_nothing_else(project: Project) -> None:
    key = make_vault(project, {"API_TOKEN": "tok-0123456789abcdef"})
    result = project.cli(
        "get", "API_TOKEN", env={"PYTHONPROFILEIMPORTTIME": "1", "PYTEST_VAULT_KEY": key}
    )
    assert result.stdout == "tok-0123456789abcdef\n"
    modules = imported(result.stderr)
    assert "cryptography" in modules
    assert "pytest_vault.vault" in modules
    assert modules.isdisjoint(PACKAGE_NOT_FOR_GET)
    assert modules.isdisjoint({"keyring", "tomllib", "hashlib", *STDLIB_NEVER})


def test_list_opens_no_key_and_no_cipher(project: Project) -> None:
    key = make_vault(project, {"API_TOKEN": "tok-0123456789abcdef"})
    modules = cli_imports(project, "list", env={"PYTEST_VAULT_KEY": key})
    assert "pytest_vault.vaultfile" in modules
    never = {"cryptography", "keyring", "hashlib", "pytest_vault.key", "pytest_vault.keychain"}
    assert modules.isdisjoint({*never, *PACKAGE_NOT_FOR_GET, *STDLIB_NEVER})


@pytest.mark.parametrize("args", [["--file", "other.toml"], ["--fi=other.toml", "--no-k"]])
def test_global_options_before_the_command_still_run_it_lean(
    project: Project, args: list[str]
) -> None:
    make_vault(project, {"API_TOKEN": "tok-0123456789abcdef"})
    (project.root / "other.toml").write_bytes(project.vault_file.read_bytes())
    project.vault_file.unlink()
    result = project.cli(*args, "list", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "API_TOKEN\n"
    assert "pytest_vault.keychain" not in imported(result.stderr)


RECORDER = """
import json
import os
import sys


def pytest_unconfigure(config):
    with open(os.environ["MODULES_OUT"], "w", encoding="utf-8") as out:
        json.dump(sorted(sys.modules), out)
    loaders = {
        name: type(getattr(module, "__loader__", None)).__name__
        for name, module in sys.modules.items()
        if name.split(".")[0] == "pytest_vault"
    }
    with open(os.environ["MODULES_OUT"] + ".loaders", "w", encoding="utf-8") as out:
        json.dump(loaders, out)
"""


def pytest_imports(
    project: Project, *, key: str | None = None, test: str = "def test_plain():\n    pass\n"
) -> set[str]:
    """Every module in ``sys.modules`` at the end of a real pytest run (a conftest records
    them: pytest captures the standard error `-X importtime` would write to)."""
    (project.root / "test_plain.py").write_text(test, encoding="utf-8")
    (project.root / "conftest.py").write_text(RECORDER, encoding="utf-8")
    out = project.root.parent / "modules.json"
    env = {**os.environ, "MODULES_OUT": str(out)}
    if key:
        env["PYTEST_VAULT_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    modules = set(json.loads(out.read_text(encoding="utf-8")))
    assert "pytest_vault.plugin" in modules
    return modules


def test_the_method_sees_what_a_run_using_the_vault_imports(project: Project) -> None:
    """The control: the modules the dormant runs must not load are seen when they load."""
    key = make_vault(project, {"API_TOKEN": "tok-0123456789abcdef"})
    test = 'def test_plain(vault):\n    assert vault["API_TOKEN"].startswith("tok-")\n'
    modules = pytest_imports(project, key=key, test=test)
    assert {"pytest_vault.vault", "pytest_vault.masking", "cryptography"} <= modules


def test_a_dormant_run_without_a_vault_loads_no_vault_machinery(project: Project) -> None:
    modules = pytest_imports(project)
    vault_parts = {
        "pytest_vault.key",
        "pytest_vault.keychain",
        "pytest_vault.vaultfile",
        "pytest_vault.vault",
        "pytest_vault.masking",
        "pytest_vault.reportmask",
        "pytest_vault.cli",
    }
    assert modules.isdisjoint({*vault_parts, "cryptography", "keyring"})


def test_a_dormant_run_showing_the_vault_in_its_header_decrypts_nothing(
    project: Project,
) -> None:
    key = make_vault(project, {f"TOKEN_{n}": f"tok-{n:04d}-0123456789abcdef" for n in range(50)})
    modules = pytest_imports(project, key=key)
    # The header checks the key by its id, from the file's header: no cipher, no masker.
    assert "pytest_vault.vaultfile" in modules
    never = {"pytest_vault.vault", "pytest_vault.masking", "pytest_vault.reportmask"}
    assert modules.isdisjoint({*never, "pytest_vault.cli", "cryptography", "keyring"})


PARSED = [
    ["get", "API_TOKEN"],
    ["--file", "a.toml", "get", "API_TOKEN"],
    ["--file=get", "list"],
    ["--fi", "list", "get", "API_TOKEN"],
    ["--no-keyring", "set", "NAME", "--from-file", "value.txt"],
    ["--key-file", "k.txt", "rotate", "--key-out", "new.txt"],
    ["--k=k.txt", "--no-k", "status"],
    ["export", "A", "B", "--format", "json"],
    ["run", "--only", "A,B", "--", "env", "-i"],
    ["merge", "base", "ours", "theirs", "--ours", "--marker-size", "9"],
    ["get", "API_TOKEN", "stray"],
]
REFUSED = [
    ["--file", "get", "bogus"],
    ["bogus"],
    [],
    ["--file"],
    ["get"],
    ["--no-keyring=1", "list"],
    ["--file", "-x", "list"],
    ["-h"],
    ["--help"],
    ["get", "-h"],
    ["--version"],
    ["export", "--format", "yaml"],
]


@pytest.mark.parametrize("argv", PARSED, ids=" ".join)
def test_the_parser_built_for_one_command_reads_as_the_whole_one(argv: list[str]) -> None:
    from pytest_vault.cli import build_parser

    whole, whole_extra = build_parser().parse_known_args(argv)
    lean, lean_extra = build_parser(argv).parse_known_args(argv)
    assert (vars(lean), lean_extra) == (vars(whole), whole_extra)


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv) or "nothing")
def test_help_and_errors_are_the_whole_parsers(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_vault.cli import build_parser

    monkeypatch.setenv("COLUMNS", "100")
    outcomes = []
    for parser in (build_parser(), build_parser(argv)):
        with pytest.raises(SystemExit) as exited:
            parser.parse_known_args(argv)
        outcomes.append((exited.value.code, capsys.readouterr()))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1].out or "usage: pytest-vault" in outcomes[0][1].err


@pytest.mark.parametrize("columns", ["100", "", "0", "wide"])
def test_help_is_as_wide_as_argparse_would_make_it(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from pytest_vault.cli import _terminal_width

    monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_width() == shutil.get_terminal_size().columns


def test_the_key_hashes_without_hashlib_as_hashlib_does() -> None:
    """The key id (HMAC-SHA256) and checksum (SHA-256) use the interpreter's own SHA-256,
    not `hashlib` (which loads OpenSSL): the same bytes, so every existing vault opens."""
    import base64
    import hashlib
    import hmac

    from pytest_vault.key import KEY_PREFIX, VaultKey

    for raw in (bytes(32), bytes(range(32)), b"\xff" * 32, hashlib.sha256(b"x").digest()):
        key = VaultKey(raw)
        expected_id = hmac.new(raw, b"pytest-vault key id", "sha256").hexdigest()[:16]
        assert key.key_id == "k_" + expected_id
        checksum = hashlib.sha256(b"pytest-vault key checksum\0" + raw).digest()[:4]
        body = base64.b32encode(raw + checksum).decode("ascii").rstrip("=")
        assert key.text() == KEY_PREFIX + body
        assert VaultKey.parse(KEY_PREFIX + body) == key


def test_no_module_of_the_plugin_is_rewritten_by_pytest(project: Project) -> None:
    """pytest marks a plugin's modules for assertion rewriting, which parses each again;
    the package unmarks itself when imported, so even the plugin module and what it
    imports at start-up load through Python's own loader."""
    key = make_vault(project, {f"TOKEN_{n}": f"tok-{n:04d}-0123456789abcdef" for n in range(5)})
    pytest_imports(project, key=key)
    loaders = json.loads((project.root.parent / "modules.json.loaders").read_text("utf-8"))
    assert {"pytest_vault", "pytest_vault.plugin", "pytest_vault.state"} <= set(loaders)
    rewritten = {name for name, loader in loaders.items() if loader != "SourceFileLoader"}
    # The package itself is imported by pytest before it can unmark anything.
    assert rewritten <= {"pytest_vault"}, loaders
