"""`pytest-vault import FILE`: python-dotenv's values, choosing entries, settings named."""

from __future__ import annotations

import pytest
from projects import Project
from vault_commands import ENV, assert_no_leak, assert_quiet_failure, make_vault, values_in

from pytest_vault.importer import setting_kind

ENV_FILE = """\
# a typical .env
export API_TOKEN="ghp_R4nd0mT0k3nV4lu3xyz"
DB_URL=postgres://app:s3cr3t-pw@db.internal:5432/app
LOG_LEVEL=debug
PORT=8080
DEBUG=true
SERVICE_URL=https://api.example.com/v1
GREETING='single ${NOT_EXPANDED_HERE:-x}'
COMBINED=${API_TOKEN}:${PORT}
"""
TOKEN = "ghp_R4nd0mT0k3nV4lu3xyz"


@pytest.fixture
def key(project: Project) -> str:
    (project.root / ".env").write_text(ENV_FILE, encoding="utf-8")
    return make_vault(project, {})


def test_import_takes_python_dotenvs_values(
    project: Project, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dotenv

    monkeypatch.delenv("NOT_EXPANDED_HERE", raising=False)
    result = project.cli("import", ".env", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert values_in(project, key) == dotenv.dotenv_values(project.root / ".env")
    assert values_in(project, key)["COMBINED"] == f"{TOKEN}:8080"
    assert_no_leak(result.output, TOKEN, "s3cr3t-pw", "postgres://app")


def test_settings_are_imported_and_named_with_a_hint(project: Project, key: str) -> None:
    result = project.cli("import", ".env", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert "LOG_LEVEL (a short word)" in result.stderr
    assert "PORT (a number)" in result.stderr
    assert "DEBUG (a boolean)" in result.stderr
    assert "SERVICE_URL (a URL without credentials)" in result.stderr
    assert "--exclude LOG_LEVEL,PORT,DEBUG,SERVICE_URL" in result.stderr
    for secret in ("API_TOKEN (", "DB_URL (", "COMBINED ("):
        assert secret not in result.stderr
    assert {"LOG_LEVEL", "PORT", "DEBUG", "SERVICE_URL"} <= set(values_in(project, key))


def test_exclude_leaves_entries_out(project: Project, key: str) -> None:
    result = project.cli(
        "import", ".env", "--exclude", "LOG_LEVEL,PORT", "--exclude=DEBUG", env={ENV: key}
    )
    assert result.returncode == 0, result.stderr
    assert set(values_in(project, key)) == {
        "API_TOKEN",
        "DB_URL",
        "SERVICE_URL",
        "GREETING",
        "COMBINED",
    }
    assert "LOG_LEVEL" not in result.stderr


def test_only_takes_just_those(project: Project, key: str) -> None:
    result = project.cli("import", ".env", "--only", "API_TOKEN,DB_URL", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert set(values_in(project, key)) == {"API_TOKEN", "DB_URL"}
    assert "Imported 2 secret(s)" in result.stderr
    assert "look like settings" not in result.stderr


@pytest.mark.parametrize("option", ["--only", "--exclude"])
def test_names_the_file_lacks_are_a_usage_error(project: Project, key: str, option: str) -> None:
    before = project.vault_file.read_bytes()
    result = project.cli("import", ".env", option, "API_TOKEN,MISSPELT", env={ENV: key})
    assert_quiet_failure(result, 2, ".env has no entry MISSPELT", TOKEN)
    assert project.vault_file.read_bytes() == before


def test_an_invalid_name_in_an_option_is_not_repeated(project: Project, key: str) -> None:
    result = project.cli("import", ".env", "--only", "a-secret-value", env={ENV: key})
    assert_quiet_failure(result, 2, "--only: That is not a valid secret name", "a-secret-value")


def test_existing_names_are_refused_without_a_choice(project: Project, key: str) -> None:
    project.cli("import", ".env", "--only", "API_TOKEN", env={ENV: key})
    before = project.vault_file.read_bytes()
    result = project.cli("import", ".env", env={ENV: key})
    assert_quiet_failure(result, 1, "already holds API_TOKEN", TOKEN)
    assert "--skip-existing" in result.stderr
    assert project.vault_file.read_bytes() == before


def test_skip_existing_keeps_the_vaults_values(project: Project, key: str) -> None:
    project.cli("import", ".env", "--only", "API_TOKEN", env={ENV: key})
    (project.root / "new.env").write_text("API_TOKEN=replacement-value\nNEW_ONE=new-value-9\n")
    token_line = _line_of(project, "API_TOKEN")
    result = project.cli("import", "new.env", "--skip-existing", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert values_in(project, key) == {"API_TOKEN": TOKEN, "NEW_ONE": "new-value-9"}
    assert _line_of(project, "API_TOKEN") == token_line  # not even re-encrypted
    assert "Kept API_TOKEN" in result.stderr
    assert_no_leak(result.output, "replacement-value", "new-value-9", TOKEN)


def test_force_replaces(project: Project, key: str) -> None:
    project.cli("import", ".env", "--only", "API_TOKEN", env={ENV: key})
    (project.root / "new.env").write_text("API_TOKEN=replacement-value\n")
    result = project.cli("import", "new.env", "--force", env={ENV: key})
    assert result.returncode == 0, result.stderr
    assert values_in(project, key) == {"API_TOKEN": "replacement-value"}


def test_force_and_skip_existing_together_are_a_usage_error(project: Project, key: str) -> None:
    result = project.cli("import", ".env", "--force", "--skip-existing", env={ENV: key})
    assert_quiet_failure(result, 2, "choose one", TOKEN)
    assert values_in(project, key) == {}


def test_a_line_python_dotenv_would_skip_imports_nothing(project: Project, key: str) -> None:
    (project.root / "broken.env").write_text("GOOD=fine-value-1\nBAD='never closed-value\n")
    result = project.cli("import", "broken.env", env={ENV: key})
    assert_quiet_failure(result, 1, "Line 2 of broken.env is not a NAME=value line", "closed-value")
    assert values_in(project, key) == {}


def _line_of(project: Project, name: str) -> str:
    lines = project.vault_file.read_text(encoding="utf-8").splitlines()
    return next(line for line in lines if line.startswith(f"{name} = "))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("debug", "a short word"),
        ("INFO", "a short word"),
        ("Production", "a short word"),
        ("en_US", None),
        ("us-east-1", "a short word"),
        ("8080", "a number"),
        ("-1.5e3", "a number"),
        ("true", "a boolean"),
        ("Off", "a boolean"),
        ("", "empty"),
        ("https://api.example.com/v1", "a URL without credentials"),
        ("redis://cache:6379", "a URL without credentials"),
        ("postgres://user:pw@db/app", None),
        ("https://x.test/hook?token=abc", None),
        ("ghp_R4nd0mT0k3nV4lu3xyz", None),
        ("hunter2hunter2", None),
        ("CorrectHorseBatteryStaple", None),
        ("sk-live-4f9a8b7c6d5e", None),
    ],
)
def test_what_looks_like_a_setting(value: str, kind: str | None) -> None:
    assert setting_kind(value) == kind


def test_the_key_variable_is_never_expanded_into_a_secret(project: Project, key: str) -> None:
    (project.root / "sneaky.env").write_text(
        "COPY=${PYTEST_VAULT_KEY}\nFILE=${PYTEST_VAULT_KEY_FILE}\n"
    )
    key_file = project.root.parent / "vault.key"  # a real key file: a missing one is an error
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    result = project.cli(
        "import", "sneaky.env", env={ENV: key, "PYTEST_VAULT_KEY_FILE": str(key_file)}
    )
    assert result.returncode == 0, result.stderr
    assert values_in(project, key) == {"COPY": "", "FILE": ""}
