"""`pytest-vault edit`: every secret in the editor, and no plaintext left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projects import CONSOLE_SCRIPT, SUPPORT, CliResult, Project
from vault_commands import ENV, assert_no_leak, assert_quiet_failure, make_vault, values_in

from pytest_vault.editdoc import parse_document, render_document

SECRETS = {
    "API_TOKEN": "api-token-value-1",
    "DB_PASSWORD": "db-password-value-2",
    "PEM_KEY": "-----BEGIN KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v\n-----END KEY-----\n",
    "CRLF": "first-line\r\nsecond-line",
    "AWKWARD": 'q"""uotes\\ and \ttabs \x00 é 🔑"',
}
EDITOR = f"{sys.executable} {SUPPORT / 'scripted_editor.py'}"


class Editing:
    """The scripted editor's plan and log for one test."""

    def __init__(self, project: Project, key: str, tmp_path: Path) -> None:
        self.project = project
        self.key = key
        self.plan_path = tmp_path / "plan.json"
        self.log_path = tmp_path / "editor-log.jsonl"

    def environ(self, plan: list[dict[str, Any]], editor: str = EDITOR) -> dict[str, str]:
        self.plan_path.write_text(json.dumps(plan), encoding="utf-8")
        return {
            ENV: self.key,
            "EDITOR": editor,
            "VISUAL": "",
            "EDIT_PLAN": str(self.plan_path),
            "EDIT_LOG": str(self.log_path),
        }

    def run(self, plan: list[dict[str, Any]], editor: str = EDITOR) -> CliResult:
        return self.project.cli("edit", env=self.environ(plan, editor))

    def openings(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text("utf-8").splitlines()]

    def assert_plaintext_removed(self) -> None:
        openings = self.openings()
        assert openings, "the editor never ran"
        for opening in openings:
            path = Path(opening["path"])
            assert not path.exists()
            assert not path.parent.exists()


@pytest.fixture
def editing(project: Project, tmp_path: Path) -> Editing:
    return Editing(project, make_vault(project, SECRETS), tmp_path)


def secret_lines(project: Project) -> dict[str, str]:
    text = project.vault_file.read_text(encoding="utf-8")
    return {
        line.split(" = ")[0]: line
        for line in text.split("[secrets]\n")[1].splitlines()
        if " = " in line
    }


def test_additions_changes_and_removals_in_one_write(editing: Editing, project: Project) -> None:
    before = secret_lines(project)
    result = editing.run(
        [
            {
                "replace": [
                    ('API_TOKEN = "api-token-value-1"', 'API_TOKEN = "new-token-value-3"'),
                    ('DB_PASSWORD = "db-password-value-2"\n', ""),
                    ("PEM_KEY =", 'ADDED = """\nline one\nline two"""\nPEM_KEY ='),
                ]
            }
        ]
    )
    assert result.returncode == 0, result.stderr
    expected = {**SECRETS, "API_TOKEN": "new-token-value-3", "ADDED": "line one\nline two"}
    del expected["DB_PASSWORD"]
    assert values_in(project, editing.key) == expected
    assert "added ADDED; changed API_TOKEN; removed DB_PASSWORD" in result.stderr
    after = secret_lines(project)
    # Unchanged secrets keep their exact ciphertext: the diff shows only what changed.
    for name in ("PEM_KEY", "CRLF", "AWKWARD"):
        assert after[name] == before[name]
    assert after["API_TOKEN"] != before["API_TOKEN"]
    assert result.stdout == ""
    assert_no_leak(result.output, *SECRETS.values(), "new-token-value-3", "line one")
    editing.assert_plaintext_removed()


def test_the_document_is_private_and_on_a_memory_file_system(editing: Editing) -> None:
    editing.run([{}])
    (opening,) = editing.openings()
    assert opening["mode"] == 0o600
    assert opening["folder_mode"] == 0o700
    if os.path.isdir("/dev/shm"):
        assert opening["path"].startswith("/dev/shm/")
    editing.assert_plaintext_removed()


def test_an_unchanged_document_changes_nothing(editing: Editing, project: Project) -> None:
    before = project.vault_file.read_bytes()
    result = editing.run([{}])
    assert result.returncode == 0, result.stderr
    assert "No changes." in result.stderr
    assert project.vault_file.read_bytes() == before
    # The document showed every value exactly, multi-line and awkward ones included.
    (opening,) = editing.openings()
    assert parse_document(opening["text"]) == SECRETS


def test_the_editor_command_is_split_like_a_shell_would(editing: Editing) -> None:
    result = editing.run([{}], editor=f"{EDITOR} --wait '--two words'")
    assert result.returncode == 0, result.stderr
    assert editing.openings()[0]["args"] == ["--wait", "--two words"]


def test_visual_wins_over_editor(editing: Editing, project: Project) -> None:
    environ = editing.environ([{}], editor="no-such-editor-program")
    environ["VISUAL"] = EDITOR
    result = project.cli("edit", env=environ)
    assert result.returncode == 0, result.stderr
    assert len(editing.openings()) == 1


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ({"replace": [("API_TOKEN = ", "API_TOKEN == ")]}, "not valid TOML"),
        ({"replace": [("API_TOKEN = ", "bad-name = ")]}, "not a valid secret name"),
        ({"replace": [('"api-token-value-1"', "42")]}, "the value of API_TOKEN is not a string"),
        ({"replace": [('API_TOKEN = "api', 'API_TOKEN.x = "api')]}, "API_TOKEN is a table"),
        (
            {"replace": [('"api-token-value-1"', '"' + "x" * (1024 * 1024 + 1) + '"')]},
            "at most 1,048,576 bytes",
        ),
    ],
)
def test_an_invalid_document_reopens_with_the_error_on_top(
    editing: Editing, project: Project, mistake: dict[str, Any], message: str
) -> None:
    fix = {"write": render_document({**SECRETS, "API_TOKEN": "fixed-value-4"}, "x")}
    result = editing.run([mistake, fix])
    assert result.returncode == 0, result.stderr
    first, second = editing.openings()
    assert second["text"].startswith("# !! Not saved: ")
    assert message in second["text"].splitlines()[0]
    # The user's text is kept under the error, to fix rather than retype.
    assert "# !! " not in first["text"]
    assert values_in(project, editing.key)["API_TOKEN"] == "fixed-value-4"
    editing.assert_plaintext_removed()


def test_leaving_an_invalid_document_unchanged_changes_nothing(
    editing: Editing, project: Project
) -> None:
    before = project.vault_file.read_bytes()
    result = editing.run([{"replace": [("API_TOKEN = ", "API_TOKEN == ")]}, {}])
    assert_quiet_failure(result, 1, "left with its error; nothing was changed", *SECRETS.values())
    assert project.vault_file.read_bytes() == before
    assert len(editing.openings()) == 2
    editing.assert_plaintext_removed()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"exit": 1}, "The editor exited with status 1; nothing was changed."),
        ({"signal": int(signal.SIGSEGV)}, "The editor was stopped by signal 11"),
        ({"signal": int(signal.SIGKILL)}, "The editor was stopped by signal 9"),
    ],
)
def test_an_editor_that_fails_changes_nothing(
    editing: Editing, project: Project, step: dict[str, Any], message: str
) -> None:
    before = project.vault_file.read_bytes()
    change = {"replace": [('"api-token-value-1"', '"changed-value"')]}
    result = editing.run([{**change, **step}])
    assert_quiet_failure(result, 1, message, *SECRETS.values())
    assert project.vault_file.read_bytes() == before
    editing.assert_plaintext_removed()


def _start_editing(editing: Editing, plan: list[dict[str, Any]]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [CONSOLE_SCRIPT, "edit"],
        cwd=editing.project.root,
        env={**os.environ, **editing.environ(plan)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a job on a terminal
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"editing\n"
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_removes_the_plaintext(
    editing: Editing, project: Project, signum: int
) -> None:
    before = project.vault_file.read_bytes()
    process = _start_editing(editing, [{"sleep": 30}])
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"Stopped by signal {int(signum)}; nothing was changed" in stderr.decode()
    assert project.vault_file.read_bytes() == before
    editing.assert_plaintext_removed()
    assert_no_leak(stderr.decode(), *SECRETS.values())


def test_ctrl_c_goes_to_the_editor_and_removes_the_plaintext(
    editing: Editing, project: Project
) -> None:
    before = project.vault_file.read_bytes()
    process = _start_editing(editing, [{"sleep": 30}])
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, stderr = process.communicate(timeout=30)
    # The editor dies of it; pytest-vault itself ignored it, then cleaned up.
    assert process.returncode == 1
    assert "The editor was stopped by signal 2; nothing was changed." in stderr.decode()
    assert project.vault_file.read_bytes() == before
    editing.assert_plaintext_removed()


def test_without_an_editor(project: Project, editing: Editing) -> None:
    result = project.cli("edit", env={ENV: editing.key, "EDITOR": "", "VISUAL": ""})
    assert_quiet_failure(result, 2, "Set VISUAL or EDITOR", *SECRETS.values())


def test_an_editor_that_does_not_exist(project: Project, editing: Editing) -> None:
    result = project.cli("edit", env={ENV: editing.key, "EDITOR": "no-such-editor-xyz"})
    assert_quiet_failure(result, 2, "Cannot start the editor no-such-editor-xyz", *SECRETS.values())


def test_without_a_key_no_editor_runs(editing: Editing, project: Project) -> None:
    environ = editing.environ([{}])
    del environ[ENV]
    result = project.cli("edit", "--no-keyring", env=environ)
    assert_quiet_failure(result, 1, "No key", *SECRETS.values())
    assert editing.openings() == []


def test_a_secret_changed_by_another_writer_meanwhile_is_not_overwritten(
    editing: Editing, project: Project
) -> None:
    # The editor itself stands in for the other writer: it changes the vault mid-edit.
    other = (
        f"import subprocess; subprocess.run([{CONSOLE_SCRIPT!r}, 'set', 'API_TOKEN'], "
        "input=b'from-elsewhere-5', check=True)"
    )
    (project.root / "meanwhile.py").write_text(
        f"{other}\nimport runpy, sys; runpy.run_path({str(SUPPORT / 'scripted_editor.py')!r}, "
        "run_name='__main__')\n",
        encoding="utf-8",
    )
    editor = f"{sys.executable} {project.root / 'meanwhile.py'}"
    result = editing.run([{"replace": [('"api-token-value-1"', '"mine-6"')]}], editor=editor)
    assert_quiet_failure(result, 1, "API_TOKEN changed in", *SECRETS.values(), "mine-6")
    assert values_in(project, editing.key)["API_TOKEN"] == "from-elsewhere-5"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.text()))
def test_every_value_reads_back_exactly_from_the_document(values: dict[str, str]) -> None:
    try:
        document = render_document(values, "x")
        document.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be stored anyway
    assert parse_document(document) == values
