"""`pytest-vault scan`: the vault's secrets, in every form, and vault keys, in git's files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from projects import CONSOLE_SCRIPT, CliResult, Project
from vault_commands import ENV, assert_no_leak, make_vault

from pytest_vault import scanner
from pytest_vault.key import VaultKey
from pytest_vault.scanner import Scanner, base64_cores

TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
PASSWORD = "s3cr3t-p4ss w0rd/é+XyZ"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBdLUVFqJrW3tOW3oWm+fH4Uq5s3yQ2Kj0sZ8m3b0pXmQAAAJhVx0hKVcdI\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SECRETS = {"API_TOKEN": TOKEN, "DB_PASSWORD": PASSWORD, "PEM_KEY": PEM}
VALUES = tuple(SECRETS.values())


def git(project: Project, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=project.root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def key(project: Project) -> str:
    key = make_vault(project, SECRETS)
    git(project, "init", "-q", ".")
    git(project, "add", ".")
    return key


def add(project: Project, name: str, text: str | bytes, *, stage: bool = True) -> None:
    path = project.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    if stage:
        git(project, "add", name)


def scan(project: Project, key: str | None, *args: str) -> CliResult:
    result = project.cli("scan", *args, env={ENV: key} if key else {})
    assert_no_leak(result.output, *VALUES)
    return result


def findings(result: CliResult) -> list[str]:
    return result.stdout.splitlines()


def test_a_secret_in_a_tracked_file(project: Project, key: str) -> None:
    add(project, "app/settings.py", f'DEBUG = True\n\nTOKEN = "{TOKEN}"\n')
    result = scan(project, key)
    assert result.returncode == 1
    assert findings(result) == ["app/settings.py:3: <vault:API_TOKEN>"]
    assert "Found 1 secret value(s) or vault key(s)" in result.stderr


def test_a_clean_repository(project: Project, key: str) -> None:
    add(project, "README.md", "Nothing secret here: <vault:API_TOKEN> is already masked.\n")
    result = scan(project, key)
    assert result.returncode == 0, result.output
    assert findings(result) == []
    assert "No secret value or vault key" in result.stderr


@pytest.mark.parametrize(
    "form",
    [
        json.dumps({"password": PASSWORD}),
        repr(PASSWORD.encode()),
        ascii(PASSWORD),
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD),
        "truncated: " + PASSWORD[:12] + "...",
    ],
    ids=["json", "bytes-repr", "ascii", "url-quoted", "url-plus", "fragment"],
)
def test_every_form_the_masking_knows(project: Project, key: str, form: str) -> None:
    add(project, "log.txt", f"start\n{form}\nend\n")
    result = scan(project, key)
    assert findings(result) == ["log.txt:2: <vault:DB_PASSWORD>"]


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "deploy-user"])
def test_base64_of_user_and_value(project: Project, key: str, user: str) -> None:
    # Basic credentials: base64("user:password"), for every alignment of the value.
    credentials = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    add(project, "cassette.yaml", f"headers:\n  Authorization:\n  - Basic {credentials}\n")
    assert findings(scan(project, key)) == ["cassette.yaml:3: <vault:DB_PASSWORD>"]


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_of_the_value(project: Project, key: str, encode: object) -> None:
    encoded = encode(TOKEN.encode()).decode()  # type: ignore[operator]
    add(project, "data.json", json.dumps({"blob": encoded}) + "\n")
    assert findings(scan(project, key)) == ["data.json:1: <vault:API_TOKEN>"]


def test_a_line_of_a_multi_line_secret(project: Project, key: str) -> None:
    line = PEM.splitlines()[2]
    add(project, "notes.md", f"# notes\n\nkey material: {line}\n")
    assert findings(scan(project, key)) == ["notes.md:3: <vault:PEM_KEY>"]


def test_vault_keys_this_one_another_one_and_in_lower_case(project: Project, key: str) -> None:
    other = VaultKey.generate().text()
    add(project, "ci.env", f"PYTEST_VAULT_KEY={key}\n# old: {other.lower()}\nOTHER={other}\n")
    result = scan(project, key)
    assert findings(result) == [
        "ci.env:1: <vault:key>",
        "ci.env:2: <vault:key>",
        "ci.env:3: <vault:key>",
    ]
    assert key not in result.output
    assert other not in result.output


def test_without_a_key_vault_keys_are_still_found(project: Project, key: str) -> None:
    add(project, "ci.env", f"TOKEN={TOKEN}\nPYTEST_VAULT_KEY={key}\n")
    result = scan(project, None, "--no-keyring")
    assert result.returncode == 1
    assert findings(result) == ["ci.env:2: <vault:key>"]
    assert "the secrets' values were not checked" in result.stderr


def test_without_a_key_and_nothing_found(project: Project, key: str) -> None:
    add(project, "ok.txt", f"TOKEN={TOKEN}\n")
    result = scan(project, None, "--no-keyring")
    assert result.returncode == 0
    assert "the secrets' values were not checked" in result.stderr


def test_without_a_vault_file_vault_keys_are_still_found(project: Project) -> None:
    git(project, "init", "-q", ".")
    add(project, "ci.env", f"PYTEST_VAULT_KEY={VaultKey.generate().text()}\n")
    result = scan(project, None, "--no-keyring")
    assert result.returncode == 1, result.stderr
    assert findings(result) == ["ci.env:1: <vault:key>"]
    assert "There is no vault file at" in result.stderr


def test_staged_files_count_and_untracked_ones_do_not(project: Project, key: str) -> None:
    git(project, "commit", "-q", "-m", "vault")
    add(project, "staged.txt", f"{TOKEN}\n")
    add(project, "untracked.txt", f"{TOKEN}\n", stage=False)
    assert findings(scan(project, key)) == ["staged.txt:1: <vault:API_TOKEN>"]


def test_from_a_subfolder_paths_are_shown_from_there(project: Project, key: str) -> None:
    add(project, "a/b/leak.txt", f"x\n{TOKEN}\n")
    done = subprocess.run(
        [CONSOLE_SCRIPT, "--file", str(project.vault_file), "scan"],
        cwd=project.root / "a",
        env={**os.environ, ENV: key},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.splitlines() == ["b/leak.txt:2: <vault:API_TOKEN>"]


def test_named_files_and_folders(project: Project, key: str) -> None:
    add(project, "one.txt", f"{TOKEN}\n", stage=False)
    add(project, "dir/two.txt", f"\n{PASSWORD}\n", stage=False)
    add(project, "dir/.git/three.txt", f"{TOKEN}\n", stage=False)
    add(project, "three.txt", f"{TOKEN}\n", stage=False)
    result = scan(project, key, "one.txt", "dir")
    assert findings(result) == [
        "one.txt:1: <vault:API_TOKEN>",
        "dir/two.txt:2: <vault:DB_PASSWORD>",
    ]


def test_a_path_that_does_not_exist_is_a_usage_error(project: Project, key: str) -> None:
    result = scan(project, key, "missing.txt")
    assert result.returncode == 2
    assert "There is no file or folder missing.txt to scan." in result.stderr


def test_outside_git_without_paths_is_a_usage_error(project: Project) -> None:
    key = make_vault(project, SECRETS)
    result = scan(project, key)
    assert result.returncode == 2
    assert "not a git repository" in result.stderr


def test_binary_files_and_the_vault_file_are_skipped(project: Project, key: str) -> None:
    add(project, "image.png", b"\x89PNG\0\0" + TOKEN.encode() + b"\n")
    result = scan(project, key, ".")
    assert result.returncode == 0, result.stdout
    # The vault file holds ciphertext only, but its name must never be flagged either.
    assert "secrets.vault.toml" not in result.stdout


def test_the_pre_commit_hook_runs_scan_on_the_staged_files() -> None:
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parent.parent
    hooks = {
        hook["id"]: hook for hook in yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    }
    hook = hooks["pytest-vault-scan"]
    assert hook["entry"] == "pytest-vault scan"
    assert hook.get("pass_filenames", True) is True
    assert hook["language"] == "python"


# -- the scanner itself: big files, linear time ------------------------------------------------


def test_secrets_across_chunk_boundaries_and_in_one_huge_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(scanner, "OVERLAP_BYTES", 512)
    lines = [f"line {number} of filler text" for number in range(2000)]
    lines[1500] = f"here: {TOKEN}"
    lines[1999] = "tail " + base64.b64encode(f"u:{PASSWORD}".encode()).decode()
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n" + "x" * 20_000 + TOKEN + "y" * 9000, encoding="utf-8")
    found = Scanner(SECRETS).scan_file(path, "big.log")
    assert [str(f) for f in found] == [
        "big.log:1501: <vault:API_TOKEN>",
        "big.log:2000: <vault:DB_PASSWORD>",
        "big.log:2001: <vault:API_TOKEN>",
    ]


def test_base64_cores_are_the_stable_parts() -> None:
    for prefix in (b"", b"a", b"ab", b"abc:", b"user:"):
        encoded = base64.b64encode(prefix + TOKEN.encode()).decode()
        assert any(core in encoded for core in base64_cores(TOKEN))


def test_scan_time_is_linear_in_bytes(tmp_path: Path) -> None:
    # Text that nearly matches everywhere: every secret's first characters, over and over.
    near = "".join(value[:8] for value in VALUES if "\n" not in value) + " "
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    # About 70 KB and 550 KB: big enough that timer noise does not matter, small enough to
    # keep the suite fast (a quadratic scan would take 64 times as long, not 8).
    small.write_text((near * 40 + "\n") * 100, encoding="utf-8")
    large.write_text((near * 40 + "\n") * 800, encoding="utf-8")
    scanner_ = Scanner(SECRETS)

    def seconds(path: Path) -> float:
        start = time.perf_counter()
        assert scanner_.scan_file(path, path.name) == []
        return time.perf_counter() - start

    small_time = min(seconds(small) for _ in range(3))
    large_time = min(seconds(large) for _ in range(3))
    assert large_time < 8 * small_time * 2.5  # 8 times the bytes: linear, with slack
