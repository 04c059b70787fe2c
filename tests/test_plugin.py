"""The pytest plugin, seen from a user's project (issue 3).

Inner runs load the plugin through its ``pytest11`` entry point. ``runpytest`` (in-process)
is used where the plugin's state lives in ``config.stash`` and nothing depends on the
process (usage errors and exit statuses too: `no_terminal_inline` when no terminal must
be found); ``runpytest_subprocess`` where imports, xdist, ``--help``/``--version`` with a
broken set-up or the real entry-point start-up matter. Subprocess runs pass
``-p no:hypothesispytest`` only to save start-up time.

Shared helpers live in ``tests/support/plugin_runs.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from plugin_runs import (
    SECRETS,
    VAULT_FILE,
    assert_clean,
    inline,
    make_vault,
    mistype,
    output,
    run,
)
from projects import ThrowawayKeyring

# Imported here, before any pytester snapshot of sys.modules: in-process runs drop the
# modules they imported, and cryptography's bindings break when re-imported.
import pytest_vault.interactive
import pytest_vault.keychain
import pytest_vault.plugin
import pytest_vault.terminal
import pytest_vault.vault
from pytest_vault.key import VaultKey
from pytest_vault.vault import rekey
from pytest_vault.vaultfile import VaultFile

VaultKey.generate().cipher_for("v_" + "0" * 32)  # loads every cryptography module used


@pytest.fixture
def vault_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder that is its own rootdir (a pytest.ini, no vault yet)."""
    pytester.makeini("[pytest]\n")
    return pytester


def no_terminal_inline(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process run (`inline`) with no terminal to ask on, as in a new process whose
    standard input is not one (the package notes that at import; under ``pytest -s`` this
    process's is)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pytest_vault, "_STDIN_WAS_TTY", False)
        patch.setattr(pytest_vault.terminal, "STDIN_WAS_TTY", False)
        return inline(pytester, *args)


USES_VAULT = """
def test_plain():
    pass

def test_uses_vault(vault):
    assert vault["API_TOKEN"] == "tok-3f9a-value-0001"
"""


# -- 1. options, dormancy, -p no:vault, --help/--version ------------------------------------


def help_section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading)
    section = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        section.append(line)
    return section


def test_help_lists_every_option_in_the_vault_group(vault_dir: pytest.Pytester) -> None:
    result = inline(vault_dir, "--help")
    assert result.ret == 0
    text = str(result.stdout)
    group = "\n".join(help_section(text, "pytest-vault (encrypted test secrets):"))
    for option in (
        "--vault-unlock",
        "--vault-reset",
        "--vault-yes",
        "--vault-file=PATH",
        "--vault-key-file=PATH",
        "--vault-no-keyring",
    ):
        assert option in group
    assert text.count("--vault-") == group.count("--vault-")  # none outside the group
    for name in ("vault_file", "vault_key_env", "vault_missing", "vault_mask", "vault_keyring"):
        assert re.search(rf"^  {name} \(", text, re.MULTILINE), name


HEAVY = {"cryptography", "keyring", "tomllib"}
#: pytest-vault's own modules that a run which never opens the vault does not import.
LAZY = {"pytest_vault.reportmask", "pytest_vault.masking", "pytest_vault.vault"}
RECORD_MODULES = """
import json, sys

def pytest_unconfigure(config):
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} or m in {lazy!r})
    with open({path!r}, "w") as stream:
        json.dump(heavy, stream)
"""


def heavy_modules(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, set[str]]:
    record = pytester.path / "modules.json"
    pytester.makeconftest(RECORD_MODULES.format(heavy=HEAVY, lazy=LAZY, path=str(record)))
    result = run(pytester, *args)
    return result, set(json.loads(record.read_text("utf-8")))


def test_dormant_without_a_vault_file(vault_dir: pytest.Pytester) -> None:
    vault_dir.makepyfile(test_plain="def test_one():\n    pass\n")
    baseline, baseline_modules = heavy_modules(vault_dir, "-p", "no:vault")
    baseline.assert_outcomes(passed=1)
    result, modules = heavy_modules(vault_dir)
    result.assert_outcomes(passed=1)
    assert re.search(r"^plugins: .*\bvault-", str(result.stdout), re.MULTILINE)  # loaded
    assert not any(line.startswith("vault:") for line in result.outlines)
    assert modules == baseline_modules
    assert not modules & {"cryptography", "keyring"}


def test_no_crypto_or_keyring_when_no_test_uses_the_vault(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file exists and the key is in the environment: the header reads the file (in
    # the layout pytest-vault writes: no tomllib) and checks the key, but nothing is
    # decrypted and the keyring is not touched.
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(test_plain="def test_one():\n    pass\n")
    result, modules = heavy_modules(vault_dir)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["vault: secrets.vault.toml (2 secrets), unlocked by PYTEST_VAULT_KEY"]
    )
    assert not {m.split(".")[0] for m in modules} & HEAVY
    assert not modules & LAZY
    assert test_keyring.reads() == []


LOADERS = """
import json, sys

def pytest_unconfigure(config):
    loaders = {{
        name: type(getattr(module, "__loader__", None)).__name__
        for name, module in sys.modules.items()
        if name.startswith("pytest_vault.")
    }}
    with open({path!r}, "w") as stream:
        json.dump(loaders, stream)
"""


def test_modules_imported_on_demand_skip_assertion_rewriting(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest marks every module of a plugin's distribution for assertion rewriting; the
    # plugin takes its package out of that set (see plugin._import_normally), so what it
    # imports on demand is loaded by Python's own loader, never re-parsed by pytest.
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    record = vault_dir.path / "loaders.json"
    vault_dir.makeconftest(LOADERS.format(path=str(record)))
    vault_dir.makepyfile(test_it=USES_VAULT)
    run(vault_dir).assert_outcomes(passed=2)
    loaders = json.loads(record.read_text("utf-8"))
    on_demand = {
        name for name in loaders if name.startswith(("pytest_vault.vault", "pytest_vault.masking"))
    }
    assert on_demand, loaders
    assert {loaders[name] for name in on_demand} == {"SourceFileLoader"}, loaders


def test_p_no_vault_disables_the_plugin(vault_dir: pytest.Pytester) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "-p", "no:vault")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'vault' not found*"])
    assert not any(line.startswith("vault:") for line in result.outlines)
    result = inline(vault_dir, "-p", "no:vault", "--vault-unlock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --vault-unlock*"])


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_survive_a_broken_setup(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    (vault_dir.path / VAULT_FILE).write_text("this is [[ not a vault\n", encoding="utf-8")
    vault_dir.makeini("[pytest]\nvault_missing = sometimes\nvault_keyring = maybe\n")
    monkeypatch.setenv("PYTEST_VAULT_KEY", VaultKey.generate().text())
    result = run(vault_dir, flag, "--vault-unlock", "--vault-reset")
    assert result.ret == 0
    assert_clean(result, os.environ["PYTEST_VAULT_KEY"])
    if flag == "--version":
        assert "pytest" in output(result)
    else:
        result.stdout.fnmatch_lines(["*--vault-unlock*"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("vault_missing = sometimes", "*vault_missing = 'sometimes' * is not one of skip, fail.*"),
        ("vault_keyring = maybe", "*vault_keyring = 'maybe' * is not one of auto, always, never.*"),
        ("vault_mask = perhaps", "*vault_mask*is not true or false*'perhaps'*"),
    ],
)
def test_a_bad_ini_value_is_a_usage_error(
    vault_dir: pytest.Pytester, line: str, message: str
) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    vault_dir.makeini(f"[pytest]\n{line}\n")
    result = no_terminal_inline(vault_dir)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert_clean(result)


def test_a_garbled_vault_file_errors_vault_tests_only(vault_dir: pytest.Pytester) -> None:
    (vault_dir.path / VAULT_FILE).write_text("this is [[ not a vault\n", encoding="utf-8")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["vault: *is not a valid vault file*", "*is not TOML*"])
    assert_clean(result)


# -- 2. the vault fixture -------------------------------------------------------------------


def test_the_fixture_is_a_read_only_mapping(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path, {**SECRETS, "A_FIRST": "first-value-xyz"})
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(
        """
        from collections.abc import Mapping
        import pytest

        def test_mapping(vault):
            assert isinstance(vault, Mapping)
            assert vault["API_TOKEN"] == "tok-3f9a-value-0001"
            assert vault.get("DB_PASSWORD") == "correct horse battery staple"
            assert vault.get("NOPE") is None
            assert vault.get("NOPE", "fallback") == "fallback"
            assert "API_TOKEN" in vault and "NOPE" not in vault
            assert len(vault) == 3
            assert list(vault) == ["API_TOKEN", "A_FIRST", "DB_PASSWORD"]
            assert dict(vault.items())["A_FIRST"] == "first-value-xyz"

        def test_read_only(vault):
            with pytest.raises(TypeError):
                vault["API_TOKEN"] = "changed"
            with pytest.raises(TypeError):
                del vault["API_TOKEN"]
            assert not hasattr(vault, "__setitem__")
            assert not hasattr(vault, "pop") and not hasattr(vault, "update")

        def test_repr_shows_names_not_values(vault):
            for text in (repr(vault), str(vault), f"{vault}"):
                assert "API_TOKEN" in text and "DB_PASSWORD" in text
                for value in ("tok-3f9a", "horse", "first-value"):
                    assert value not in text

        def test_same_object_for_the_session(vault, request):
            assert request.getfixturevalue("vault") is vault
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(passed=4)


def test_a_missing_name_fails_with_the_names_and_how_to_add_it(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(
        """
        def test_missing(vault):
            vault["STRIPE_KEY"]
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_missing _*",
            "*has no secret STRIPE_KEY (it holds: API_TOKEN, DB_PASSWORD)*"
            "Add it with `pytest-vault set STRIPE_KEY`*",
        ]
    )
    assert_clean(result, *SECRETS.values(), key.text())
    assert "vault[" not in str(result.stdout)  # no source lines: no traceback


def test_a_locked_vault_skips_with_how_to_unlock(vault_dir: pytest.Pytester) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] test_it.py:*: vault locked: no key for secrets.vault.toml "
            "(set PYTEST_VAULT_KEY, or run `pytest --vault-unlock`)"
        ]
    )


def test_vault_missing_fail_turns_the_skip_into_an_error(vault_dir: pytest.Pytester) -> None:
    make_vault(vault_dir.path)
    vault_dir.makeini("[pytest]\nvault_missing = fail\n")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*No key for*was found*PYTEST_VAULT_KEY is not set*"])
    assert_clean(result)


def bad_key(kind: str, folder: Path) -> tuple[VaultKey, str, str]:
    """A vault in ``folder`` and a key that does not open it: (right key, text, message)."""
    key = make_vault(folder)
    if kind == "other":
        return key, VaultKey.generate().text(), "*a rotation this branch does not have yet*"
    if kind == "mistyped":
        return key, mistype(key), "*checksum does not match, so it was mistyped*"
    new_key = rekey(folder / VAULT_FILE, key, lambda new: None)  # `pytest-vault rotate`
    return new_key, key.text(), "*key from before a reset or rotation*"


@pytest.mark.parametrize("kind", ["other", "mistyped", "stale"])
def test_a_key_that_does_not_open_the_vault_errors_every_vault_test(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    right, wrong, message = bad_key(kind, vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", wrong)
    vault_dir.makepyfile(
        USES_VAULT
        + """
import pytest

def test_also_uses_vault(vault):
    pass

@pytest.mark.vault("API_TOKEN")
def test_marked():
    pass
"""
    )
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, errors=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "vault: secrets.vault.toml (2 secrets), the key found does not open it: "
            "The key from PYTEST_VAULT_KEY*",
            "*ERROR at setup of test_uses_vault*",
            f"The key from PYTEST_VAULT_KEY*{message}",
        ]
    )
    assert str(result.stdout).count(message.strip("*")) == 4  # header + 3 errors
    assert_clean(result, wrong, right.text(), *SECRETS.values())


def test_the_vault_is_opened_once_per_run(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:

    opened: list[Path] = []
    real_open = pytest_vault.vault.open_vault

    def counting_open(*args: object) -> object:
        opened.append(args[0].path)  # type: ignore[attr-defined]
        return real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pytest_vault.vault, "open_vault", counting_open)
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    vault_dir.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(20))
        def test_one(vault, n):
            assert vault["API_TOKEN"] == "tok-3f9a-value-0001"

        @pytest.mark.vault("DB_PASSWORD", env=True)
        def test_marked():
            pass
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(passed=21)
    assert len(test_keyring.reads()) == 1
    assert len(opened) == 1

    # The key from the environment: the keyring is not read at all.
    (Path(str(test_keyring.path) + ".reads")).unlink()
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    result = inline(vault_dir)
    result.assert_outcomes(passed=21)
    assert test_keyring.reads() == []
    assert len(opened) == 2


def test_a_locked_keyring_means_locked_not_an_error(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_TEST_KEYRING_FAIL", "1")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*vault locked*PYTEST_VAULT_KEY*"])
    assert_clean(result)


def test_a_key_looked_up_lazily_is_named_at_the_end_of_the_run(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "vault: secrets.vault.toml (2 secrets), key looked up when a test needs it",
            "*",
            "vault: secrets.vault.toml was unlocked by the system keyring (throwaway_keyring)",
        ],
        consecutive=False,
    )
    assert_clean(result, key.text(), *SECRETS.values())


def test_no_end_of_run_line_when_no_test_opened_the_vault(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    vault_dir.makepyfile(test_it="def test_plain():\n    pass\n")
    result = inline(vault_dir)
    result.assert_outcomes(passed=1)
    assert "was unlocked by" not in output(result)
    assert test_keyring.reads() == []


# -- 3. the marker --------------------------------------------------------------------------


def test_the_marker_is_registered_for_strict_markers(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(
        """
        import pytest

        @pytest.mark.vault("API_TOKEN", "DB_PASSWORD")
        def test_marked(vault):
            assert vault["DB_PASSWORD"] == "correct horse battery staple"
        """
    )
    result = inline(vault_dir, "--strict-markers")
    result.assert_outcomes(passed=1)
    result = inline(vault_dir, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vault(*names, env=False)*"])


MARKED = """
import pytest

@pytest.mark.vault("API_TOKEN")
def test_marked():
    pass

@pytest.mark.vault("API_TOKEN", "STRIPE_KEY")
def test_lacking():
    pass
"""


def test_the_marker_skips_when_locked_or_a_name_is_missing(vault_dir: pytest.Pytester) -> None:
    # Without a key, a name the file lacks is decided from the file's (visible) names,
    # before the key is looked for: the reason is the missing name, the more useful one.
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_marked=MARKED)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] test_marked.py:3: vault locked*PYTEST_VAULT_KEY*--vault-unlock*",
            "SKIPPED [[]1[]] test_marked.py:7: the vault secrets.vault.toml lacks STRIPE_KEY "
            "(add it with `pytest-vault set STRIPE_KEY`)",
        ]
    )


def test_the_marker_skips_a_missing_name_also_when_unlocked(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(test_marked=MARKED)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *test_marked.py:7: *lacks STRIPE_KEY*"])


def test_the_marker_without_a_vault_file_skips(vault_dir: pytest.Pytester) -> None:
    vault_dir.makepyfile(test_marked=MARKED)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no vault file secrets.vault.toml*--vault-unlock*"])


ENV_TESTS = """
import os
import pytest

@pytest.mark.vault("API_TOKEN", "DB_PASSWORD", env=True)
def test_1_env_set():
    assert os.environ["API_TOKEN"] == "tok-3f9a-value-0001"
    assert os.environ["DB_PASSWORD"] == "correct horse battery staple"

def test_2_restored():
    assert os.environ["API_TOKEN"] == "pre-existing"
    assert "DB_PASSWORD" not in os.environ

@pytest.mark.vault("API_TOKEN", "DB_PASSWORD", env=True)
def test_3_env_set_and_fails():
    assert os.environ["DB_PASSWORD"] == "correct horse battery staple"
    assert 0, "deliberate failure"

def test_4_restored_after_a_failure():
    assert os.environ["API_TOKEN"] == "pre-existing"
    assert "DB_PASSWORD" not in os.environ

@pytest.mark.vault("API_TOKEN")
def test_5_no_env_without_env_true():
    assert os.environ["API_TOKEN"] == "pre-existing"
    assert "DB_PASSWORD" not in os.environ

@pytest.mark.vault("DB_PASSWORD")
class TestCombined:
    @pytest.mark.vault("API_TOKEN", env=True)
    def test_6_env_applies_to_the_names_of_its_own_marker(self, vault):
        assert os.environ["API_TOKEN"] == "tok-3f9a-value-0001"
        assert "DB_PASSWORD" not in os.environ  # the class marker has no env=True
        assert vault["DB_PASSWORD"]

    def test_7_class_marker_alone(self, vault):
        assert "DB_PASSWORD" not in os.environ

def test_8_restored_after_the_class():
    assert os.environ["API_TOKEN"] == "pre-existing"
    assert "DB_PASSWORD" not in os.environ

@pytest.mark.vault("STRIPE_KEY")
class TestClassNeedsMissing:
    @pytest.mark.vault("API_TOKEN", env=True)
    def test_9_skipped_by_the_class_marker(self):
        raise AssertionError("must not run")
"""


def test_marker_env_sets_and_restores_variables(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    monkeypatch.setenv("API_TOKEN", "pre-existing")
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    vault_dir.makepyfile(test_env=ENV_TESTS)
    result = inline(vault_dir, "-p", "no:randomly", "-rs")
    result.assert_outcomes(passed=7, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*deliberate failure*", "*test_env.py:*lacks STRIPE_KEY*"])
    assert os.environ["API_TOKEN"] == "pre-existing"
    assert "DB_PASSWORD" not in os.environ


def test_marker_env_is_restored_when_setup_fails_later(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    monkeypatch.delenv("API_TOKEN", raising=False)
    vault_dir.makepyfile(
        """
        import os
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture setup failed")

        @pytest.mark.vault("API_TOKEN", env=True)
        def test_setup_error(broken):
            pass

        def test_after():
            assert "API_TOKEN" not in os.environ
        """
    )
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, errors=1)
    assert "API_TOKEN" not in os.environ


# -- 5. --vault-reset and --vault-unlock without a terminal ---------------------------------

WITNESS = """
from pathlib import Path

def test_witness():
    Path("tests-ran").write_text("yes")
"""


def test_reset_with_yes(vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring) -> None:
    path = vault_dir.path / VAULT_FILE
    old = make_vault(vault_dir.path)
    vault_dir.makepyfile(test_witness=WITNESS)
    result = no_terminal_inline(vault_dir, "--vault-reset", "--vault-yes")
    assert result.ret == 0
    assert not (vault_dir.path / "tests-ran").exists()
    assert "collected" not in output(result)
    vault_file = VaultFile.load(path)
    assert vault_file.tokens == {}
    assert vault_file.header.key_id != old.key_id
    assert old.key_id in vault_file.header.retired_key_ids
    shown = re.findall(r"PYTEST-VAULT-KEY-1\w+", str(result.stdout))
    assert len(shown) == 1
    new = VaultKey.parse(shown[0])
    assert new.key_id == vault_file.header.key_id
    assert test_keyring.entries() == {new.key_id: new.text()}
    result.stdout.fnmatch_lines(
        [
            "*Keep a copy somewhere safe*",
            "Reset *: 2 secret(s) deleted (API_TOKEN, DB_PASSWORD), new key generated.",
        ]
    )
    assert_clean(result, old.text(), *SECRETS.values())


def test_reset_with_yes_and_no_keyring(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    make_vault(vault_dir.path)
    result = no_terminal_inline(vault_dir, "--vault-reset", "--vault-yes", "--vault-no-keyring")
    assert result.ret == 0
    assert test_keyring.entries() == {}
    assert test_keyring.reads() == []
    shown = re.findall(r"PYTEST-VAULT-KEY-1\w+", str(result.stdout))
    assert (
        VaultKey.parse(shown[0]).key_id == VaultFile.load(vault_dir.path / VAULT_FILE).header.key_id
    )


def test_reset_without_yes_or_terminal_is_refused(vault_dir: pytest.Pytester) -> None:
    path = vault_dir.path / VAULT_FILE
    make_vault(vault_dir.path)
    before = path.read_bytes()
    vault_dir.makepyfile(test_witness=WITNESS)
    result = no_terminal_inline(vault_dir, "--vault-reset")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert path.read_bytes() == before
    assert not (vault_dir.path / "tests-ran").exists()
    assert "--vault-yes" in output(result)
    assert_clean(result)


def test_reset_without_a_vault_file_is_a_usage_error(vault_dir: pytest.Pytester) -> None:
    result = no_terminal_inline(vault_dir, "--vault-reset", "--vault-yes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "There is no vault file" in output(result)
    assert not (vault_dir.path / VAULT_FILE).exists()
    assert_clean(result)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_reset_with_help_or_version_changes_nothing(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring, flag: str
) -> None:
    path = vault_dir.path / VAULT_FILE
    make_vault(vault_dir.path)
    before = path.read_bytes()
    result = run(vault_dir, "--vault-reset", "--vault-yes", flag)
    assert result.ret == 0
    assert path.read_bytes() == before
    assert test_keyring.entries() == {}
    assert "PYTEST-VAULT-KEY-1" not in output(result)


def test_unlock_without_terminal_or_key_stops_before_any_test(vault_dir: pytest.Pytester) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_witness=WITNESS)
    result = no_terminal_inline(vault_dir, "--vault-unlock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (vault_dir.path / "tests-ran").exists()
    result.stderr.fnmatch_lines(["ERROR: No key for*PYTEST_VAULT_KEY*no terminal*"])
    assert_clean(result)


def test_unlock_without_terminal_and_no_vault_file_stops(vault_dir: pytest.Pytester) -> None:
    vault_dir.makepyfile(test_witness=WITNESS)
    result = no_terminal_inline(vault_dir, "--vault-unlock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (vault_dir.path / "tests-ran").exists()
    assert not (vault_dir.path / VAULT_FILE).exists()
    result.stderr.fnmatch_lines(["ERROR: There is no vault file*"])
    assert_clean(result)


def test_unlock_with_a_wrong_key_stops_before_any_test(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    wrong = mistype(key)
    monkeypatch.setenv("PYTEST_VAULT_KEY", wrong)
    vault_dir.makepyfile(test_witness=WITNESS)
    result = no_terminal_inline(vault_dir, "--vault-unlock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (vault_dir.path / "tests-ran").exists()
    result.stderr.fnmatch_lines(["ERROR: The key from PYTEST_VAULT_KEY*mistyped*"])
    assert_clean(result, wrong, key.text())


def test_unlock_with_a_key_in_the_environment_runs_the_tests(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(test_it=USES_VAULT + MARKED)
    result = inline(vault_dir, "--vault-unlock", "-rs", "-p", "no:cacheprovider")
    # A name the file lacks still skips: the vault is open, the test's need is not met.
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["vault: * unlocked by PYTEST_VAULT_KEY"])


# -- 6. files, key files, ini options, --vault-no-keyring, the header -----------------------


def test_vault_file_and_key_file_options_are_relative_to_the_cwd(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test_keyring: ThrowawayKeyring
) -> None:
    work = vault_dir.mkdir("work")
    decoy = make_vault(vault_dir.path, {"API_TOKEN": "decoy-in-rootdir"}, "v.toml")
    key = make_vault(work, name="v.toml")
    (work / "k.txt").write_text(f"# a comment line\n{key.text()}\n", encoding="utf-8")
    (vault_dir.path / "k.txt").write_text(decoy.text(), encoding="utf-8")
    test = vault_dir.makepyfile(test_it=USES_VAULT)
    monkeypatch.chdir(work)
    result = inline(vault_dir, str(test), "--vault-file", "v.toml", "--vault-key-file", "k.txt")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [f"vault: work/v.toml (2 secrets), unlocked by the key file {work / 'k.txt'}"]
    )
    assert test_keyring.reads() == []
    assert_clean(result, key.text(), decoy.text())


def test_a_missing_key_file_is_reported(vault_dir: pytest.Pytester) -> None:
    make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "--vault-key-file", "nowhere.key")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "vault: secrets.vault.toml (2 secrets), no usable key: The key file *nowhere.key "
            "does not exist.",
            "*ERROR at setup of test_uses_vault*",
            "The key file *nowhere.key does not exist.",
        ]
    )
    assert_clean(result)


def test_ini_vault_file_is_relative_to_the_rootdir(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_dir.makeini("[pytest]\nvault_file = conf/team.vault.toml\n")
    work = vault_dir.mkdir("work")
    key = make_vault(vault_dir.path / "conf", name="team.vault.toml")
    make_vault(work / "conf", {"API_TOKEN": "decoy"}, name="team.vault.toml")
    test = vault_dir.makepyfile(test_it=USES_VAULT)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    monkeypatch.chdir(work)
    result = inline(vault_dir, str(test))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["vault: conf/team.vault.toml (2 secrets), unlocked by PYTEST_VAULT_KEY"]
    )


def test_ini_vault_key_env_renames_the_variable(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_dir.makeini("[pytest]\nvault_key_env = TEAM_VAULT_KEY\n")
    key = make_vault(vault_dir.path)
    vault_dir.makepyfile(test_it=USES_VAULT)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())  # ignored: renamed
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*vault locked*(set TEAM_VAULT_KEY, or run `pytest --vault-unlock`)"]
    )
    monkeypatch.setenv("TEAM_VAULT_KEY", f"{VaultKey.generate().text()}, {key.text()}")
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["vault: * unlocked by TEAM_VAULT_KEY (key 2 of 2)"])


def test_no_keyring_option_does_not_read_the_keyring(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "--vault-no-keyring", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert test_keyring.reads() == []
    result = inline(vault_dir)  # the control: the same run reads it without the option
    result.assert_outcomes(passed=2)
    assert len(test_keyring.reads()) == 1


@pytest.mark.parametrize(
    "case",
    [("true", "", 0), ("true", "always", 1), ("", "never", 0)],
    ids=["ci-auto", "ci-always", "never"],
)
def test_keyring_policy(
    vault_dir: pytest.Pytester,
    test_keyring: ThrowawayKeyring,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, int],
) -> None:
    ci, policy, reads = case
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    if ci:
        monkeypatch.setenv("CI", ci)
    if policy:
        vault_dir.makeini(f"[pytest]\nvault_keyring = {policy}\n")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir, "-rs")
    result.assert_outcomes(passed=1 + reads, skipped=1 - reads)
    assert len(test_keyring.reads()) == reads


def test_header_line_never_shows_the_key(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path, {"ONLY": "only-value-1234"})
    vault_dir.makepyfile(test_it="def test_plain():\n    pass\n")
    result = inline(vault_dir)
    result.stdout.fnmatch_lines(["vault: secrets.vault.toml (1 secret), key looked up when*"])
    assert test_keyring.reads() == []  # the header does not read the keyring
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    result = inline(vault_dir)
    result.stdout.fnmatch_lines(
        ["vault: secrets.vault.toml (1 secret), unlocked by PYTEST_VAULT_KEY"]
    )
    assert_clean(result, key.text(), "only-value-1234")


# -- 7. the pytest_vault_key hook -----------------------------------------------------------

HOOK_CONFTEST = """
from pathlib import Path

def pytest_vault_key({signature}):
    with Path({log!r}).open("a") as log:
        log.write("called\\n")
    return {returns}
"""


def hook_conftest(pytester: pytest.Pytester, signature: str, returns: str) -> Path:
    log = pytester.path / "hook-calls.log"
    pytester.makeconftest(HOOK_CONFTEST.format(signature=signature, log=str(log), returns=returns))
    return log


def calls(log: Path) -> int:
    return len(log.read_text("utf-8").splitlines()) if log.exists() else 0


def test_the_hook_supplies_the_key(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    log = hook_conftest(
        vault_dir,
        "config, vault_id, key_id",
        f"{key.text()!r} if key_id == {key.key_id!r} and vault_id.startswith('v_') "
        "and config.rootpath else None",
    )
    vault_dir.makepyfile(test_it=USES_VAULT + "\ndef test_again(vault):\n    pass\n")
    result = inline(vault_dir)
    result.assert_outcomes(passed=3)
    assert calls(log) == 1
    assert test_keyring.reads() == []
    assert_clean(result, key.text())


def test_a_hook_may_take_only_the_key_id(vault_dir: pytest.Pytester) -> None:
    key = make_vault(vault_dir.path)
    log = hook_conftest(vault_dir, "key_id", f"{{ {key.key_id!r}: {key.text()!r} }}.get(key_id)")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    assert calls(log) == 1


def test_a_hook_returning_none_falls_through_to_the_keyring(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())
    log = hook_conftest(vault_dir, "config", "None")
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    assert calls(log) == 1
    assert len(test_keyring.reads()) == 1


def test_a_hook_returning_a_wrong_key_is_an_error(
    vault_dir: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(vault_dir.path)
    test_keyring.put(key.key_id, key.text())  # not a reason to try the keyring
    wrong = VaultKey.generate().text()
    hook_conftest(vault_dir, "key_id", repr(wrong))
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["The key from the pytest_vault_key hook does not open*another vault*"]
    )
    assert test_keyring.reads() == []
    assert_clean(result, wrong, key.text())


def test_the_environment_beats_the_hook_which_is_not_called(
    vault_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_vault(vault_dir.path)
    log = hook_conftest(vault_dir, "key_id", repr(VaultKey.generate().text()))
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makepyfile(test_it=USES_VAULT)
    result = inline(vault_dir)
    result.assert_outcomes(passed=2)
    assert calls(log) == 0
    result.stdout.fnmatch_lines(["vault: * unlocked by PYTEST_VAULT_KEY"])


MARKER_HOOKS_PROBE = """
def pytest_unconfigure(config):
    registered = config.pluginmanager.has_plugin("vault-marker")
    (config.rootpath / "marker-hooks.txt").write_text(str(registered))
"""


@pytest.mark.parametrize(
    ("tests", "expected"),
    [
        ("def test_plain():\n    pass\n", "False"),
        (
            "import pytest\n\n@pytest.mark.vault('API_TOKEN')\ndef test_marked():\n    pass\n",
            "True",
        ),
    ],
)
def test_the_marker_hooks_are_registered_only_when_a_test_is_marked(
    vault_dir: pytest.Pytester, tests: str, expected: str
) -> None:
    vault_dir.makeconftest(MARKER_HOOKS_PROBE)
    vault_dir.makepyfile(test_it=tests)
    inline(vault_dir)
    assert (vault_dir.path / "marker-hooks.txt").read_text() == expected


MASKING_PROBE = """
def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):
        registered = session.config.pluginmanager.has_plugin("vault-masking")
        (session.config.rootpath / "masking.txt").write_text(f"start={registered}")

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        registered = config.pluginmanager.has_plugin("vault-masking")
        with (config.rootpath / "masking.txt").open("a") as stream:
            stream.write(f" end={registered}")
"""

FAILS_WITH_SECRET = """
def test_shows_it(vault):
    assert vault["API_TOKEN"] == "something else"
"""


@pytest.mark.parametrize(
    ("tests", "args", "expected"),
    [
        ("def test_plain():\n    pass\n", (), "start=False end=False"),
        (FAILS_WITH_SECRET, (), "start=False end=True"),
        ("def test_plain():\n    pass\n", ("-n", "2"), "start=True end=True"),
    ],
    ids=["dormant", "opened", "xdist-controller"],
)
def test_the_masking_layers_are_registered_when_the_vault_opens(
    vault_dir: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tests: str,
    args: tuple[str, ...],
    expected: str,
) -> None:
    # Before the vault opens there is nothing to mask: per-test hooks would only cost time.
    # An xdist controller masks its workers' reports before its own vault opens.
    key = make_vault(vault_dir.path)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    vault_dir.makeconftest(MASKING_PROBE)
    vault_dir.makepyfile(test_it=tests)
    result = run(vault_dir, "-rA", *args)
    assert (vault_dir.path / "masking.txt").read_text() == expected
    assert_clean(result, SECRETS["API_TOKEN"])
    if "vault" in tests:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*<vault:API_TOKEN>*"])
