"""The marker's rules (issue 13) and the end-of-run line for skipped vault tests."""

from __future__ import annotations

import pytest
from plugin_runs import inline, make_vault, run

ENV = "PYTEST_VAULT_KEY"


@pytest.fixture
def vault_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder that is its own rootdir (a pytest.ini, no vault yet)."""
    pytester.makeini("[pytest]\n")
    return pytester


def test_env_true_without_names_fails_the_test(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, make_vault(vault_dir.path).text())
    vault_dir.makepyfile(
        """
        import pytest

        @pytest.mark.vault(env=True)
        def test_nothing_named():
            pass
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(errors=1)  # failed in setup, as every vault outcome
    result.stdout.fnmatch_lines(["*@pytest.mark.vault(env=True) names no secrets*"])


def test_env_true_applies_to_the_names_of_its_own_marker(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, make_vault(vault_dir.path).text())
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    vault_dir.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.vault("DB_PASSWORD")
        @pytest.mark.vault("API_TOKEN", env=True)
        def test_only_the_env_marker_sets_variables():
            assert os.environ["API_TOKEN"]
            assert "DB_PASSWORD" not in os.environ

        def test_restored():
            assert "API_TOKEN" not in os.environ
        """
    )
    result = inline(vault_dir, "-p", "no:randomly")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("policy", "outcome"), [("skip", "skipped"), ("fail", "errors")])
def test_a_missing_name_follows_vault_missing(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, policy: str, outcome: str
) -> None:
    vault_dir.makeini(f"[pytest]\nvault_missing = {policy}\n")
    monkeypatch.setenv(ENV, make_vault(vault_dir.path).text())
    vault_dir.makepyfile(
        """
        import pytest

        @pytest.mark.vault("NOT_THERE")
        def test_needs_a_missing_secret():
            pass
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(**{outcome: 1})
    if policy == "fail":
        result.stdout.fnmatch_lines(["*lacks NOT_THERE (vault_missing = fail)*"])


HASHICORP = """
import pytest

@pytest.mark.vault
def test_talks_to_hashicorp_vault():
    pass

@pytest.mark.secrets("API_TOKEN")
def test_needs_a_secret(vault):
    assert vault["API_TOKEN"]
"""


@pytest.mark.parametrize("how", ["ini", "conftest"])
def test_a_project_marker_named_vault_is_left_alone_with_one_warning(
    vault_dir: pytest.Pytester, how: str
) -> None:
    make_vault(vault_dir.path)  # no key: a plugin-marked test would be skipped
    if how == "ini":
        vault_dir.makeini("[pytest]\nmarkers =\n    vault: tests against HashiCorp Vault\n")
    else:
        vault_dir.makeconftest(
            """
            def pytest_configure(config):
                config.addinivalue_line("markers", "vault: tests against HashiCorp Vault")
            """
        )
    vault_dir.makepyfile(
        """
        import pytest

        @pytest.mark.vault
        def test_talks_to_hashicorp_vault():
            pass
        """
    )
    result = inline(vault_dir, "--strict-markers")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*registers its own 'vault' marker*vault_marker*"])


def test_only_no_key_reads_simply(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile("def test_uses_vault(vault):\n    pass\n")
    result = inline(vault_dir, "-q")
    result.stdout.fnmatch_lines(
        [
            "vault: 1 test skipped: no key for secrets.vault.toml (set PYTEST_VAULT_KEY or "
            "PYTEST_VAULT_KEY_FILE, or run `pytest --vault-unlock`)"
        ]
    )


def test_vault_marker_renames_the_plugin_marker(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_dir.makeini(
        "[pytest]\nvault_marker = secrets\nmarkers =\n    vault: tests against HashiCorp Vault\n"
    )
    monkeypatch.setenv(ENV, make_vault(vault_dir.path).text())
    vault_dir.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.vault
        def test_talks_to_hashicorp_vault():
            pass

        @pytest.mark.secrets("API_TOKEN", env=True)
        def test_needs_a_secret():
            assert os.environ["API_TOKEN"] == "tok-3f9a-value-0001"

        @pytest.mark.secrets("NOT_THERE")
        def test_skipped_for_a_missing_name():
            pass
        """
    )
    result = inline(vault_dir, "--strict-markers")
    result.assert_outcomes(passed=2, skipped=1)
    assert "registers its own" not in str(result.stdout)


def test_an_invalid_vault_marker_is_a_usage_error(vault_dir: pytest.Pytester) -> None:
    vault_dir.makeini("[pytest]\nvault_marker = not a name\n")
    result = inline(vault_dir)
    assert result.ret == pytest.ExitCode.USAGE_ERROR


# -- the end-of-run line ------------------------------------------------------------------------

MIXED = """
import pytest

def test_plain():
    pass

def test_uses_vault(vault):
    pass

@pytest.mark.vault("API_TOKEN")
def test_marked(): pass

@pytest.mark.vault("NOT_THERE")
def test_missing(): pass
"""


def test_a_run_without_a_key_ends_with_one_line_saying_so(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(MIXED)
    result = inline(vault_dir, "-q")  # no -rs
    result.assert_outcomes(passed=1, skipped=3)
    # Names are checked without the key: the test needing NOT_THERE skips for that.
    result.stdout.fnmatch_lines(
        [
            "vault: 3 tests skipped: 2 because no key for secrets.vault.toml (set "
            "PYTEST_VAULT_KEY or PYTEST_VAULT_KEY_FILE, or run `pytest --vault-unlock`); "
            "1 because secrets.vault.toml lacks NOT_THERE (add it with "
            "`pytest-vault set NOT_THERE`)"
        ]
    )
    assert "::notice" not in str(result.stdout)


def test_a_missing_name_alone(vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, make_vault(vault_dir.path).text())
    vault_dir.makepyfile(MIXED)
    result = inline(vault_dir, "-q")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "vault: 1 test skipped: secrets.vault.toml lacks NOT_THERE (add it with "
            "`pytest-vault set NOT_THERE`)"
        ]
    )


def test_on_github_actions_the_line_is_also_a_notice(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vault(vault_dir.path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    vault_dir.makepyfile(MIXED)
    result = inline(vault_dir, "-q")
    result.stdout.fnmatch_lines(
        ["::notice title=pytest-vault::vault: 3 tests skipped: 2 because no key for *"]
    )


def test_no_line_when_nothing_of_the_vault_was_skipped(vault_dir: pytest.Pytester) -> None:
    vault_dir.makepyfile(
        """
        import pytest

        def test_plain():
            pytest.skip("unrelated")
        """
    )
    result = inline(vault_dir, "-q")
    result.assert_outcomes(skipped=1)
    assert "vault:" not in str(result.stdout)


def test_the_line_counts_the_skips_of_xdist_workers(vault_dir: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    make_vault(vault_dir.path)
    vault_dir.makepyfile(MIXED)
    result = run(vault_dir, "-q", "-n", "2")
    result.stdout.fnmatch_lines(["vault: 3 tests skipped: 2 because no key for *"])
