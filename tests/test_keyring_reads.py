"""The system keyring is read at most once per pytest session, and only when needed (issue 8).

Reading a keyring can be slow (a D-Bus round trip, an unlock prompt), so a run reads it
at most once, in the xdist controller when there are workers, and not at all when the key
comes from the environment or when no test uses the vault. The throw-away backend selected
by ``conftest.isolated_environment`` logs every read (``test_keyring.reads()``: one line
``<pid> <service> <key id>`` per read); ``benchmarks/bench_keyring.py`` reports the same
counts in the benchmark table.
"""

from __future__ import annotations

import pytest
from plugin_runs import make_vault, run
from projects import ThrowawayKeyring

from pytest_vault.key import VaultKey

TESTS = 12

USES_VAULT = f"""
import os

import pytest


@pytest.mark.parametrize("n", range({TESTS}))
def test_fixture(vault, n):
    assert vault["API_TOKEN"] == "tok-3f9a-value-0001"


@pytest.mark.vault("DB_PASSWORD", env=True)
def test_marker():
    assert os.environ["DB_PASSWORD"] == "correct horse battery staple"


def test_plain():
    pass
"""

DORMANT = f"""
import pytest


@pytest.mark.parametrize("n", range({TESTS}))
def test_plain(n):
    pass
"""

ALL_PASS = TESTS + 2


def xdist_args(workers: int) -> tuple[str, ...]:
    if not workers:
        return ()
    pytest.importorskip("xdist")
    return ("-n", str(workers))


@pytest.fixture
def key(pytester: pytest.Pytester, test_keyring: ThrowawayKeyring) -> VaultKey:
    """A project (the pytester folder) whose vault key is saved in the keyring only."""
    pytester.makeini("[pytest]\n")
    key = make_vault(pytester.path)
    test_keyring.put(key.key_id, key.text())
    return key


@pytest.fixture
def project(pytester: pytest.Pytester, key: VaultKey) -> pytest.Pytester:
    return pytester


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_one_keyring_read_per_session(
    project: pytest.Pytester, key: VaultKey, test_keyring: ThrowawayKeyring, workers: int
) -> None:
    project.makepyfile(test_it=USES_VAULT)
    result = run(project, *xdist_args(workers))
    result.assert_outcomes(passed=ALL_PASS)
    reads = test_keyring.reads()
    assert len(reads) == 1, reads
    _, service, key_id = reads[0].split()
    assert service == "pytest-vault"
    assert key_id == key.key_id


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_no_keyring_read_when_the_key_is_in_the_environment(
    project: pytest.Pytester,
    key: VaultKey,
    test_keyring: ThrowawayKeyring,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    project.makepyfile(test_it=USES_VAULT)
    result = run(project, *xdist_args(workers))
    result.assert_outcomes(passed=ALL_PASS)
    assert test_keyring.reads() == []


def test_no_keyring_read_when_no_test_uses_the_vault(
    project: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    project.makepyfile(test_it=DORMANT)
    result = run(project)
    result.assert_outcomes(passed=TESTS)
    assert test_keyring.reads() == []
    # The header says the key is looked up later, without reading the keyring for it.
    result.stdout.fnmatch_lines(["vault: secrets.vault.toml (2 secrets), key looked up when*"])


def test_no_keyring_read_when_ci_is_set_or_the_keyring_is_off(
    project: pytest.Pytester, test_keyring: ThrowawayKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_it=USES_VAULT)
    result = run(project, "--vault-no-keyring")
    result.assert_outcomes(passed=1, skipped=ALL_PASS - 1)
    monkeypatch.setenv("CI", "true")
    result = run(project)
    result.assert_outcomes(passed=1, skipped=ALL_PASS - 1)
    assert test_keyring.reads() == []


def test_a_keyring_without_the_key_is_read_once_too(
    project: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.path.write_text("{}", encoding="utf-8")  # the entry is gone
    project.makepyfile(test_it=USES_VAULT)
    result = run(project)
    result.assert_outcomes(passed=1, skipped=ALL_PASS - 1)
    assert len(test_keyring.reads()) == 1
