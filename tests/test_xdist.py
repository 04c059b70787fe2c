"""pytest-xdist: the key is looked up once, in the controller, and handed to the workers.

Only local (``popen``) workers can be tested here; ``ssh`` gateways need an sshd, so their
support is not covered by this suite.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

import pytest
from plugin_runs import SECRETS, assert_clean, make_vault, mistype, run
from projects import ThrowawayKeyring

from pytest_vault.state import VaultState

pytest.importorskip("xdist")

CONFTEST = """
import os
from pathlib import Path

LOG = Path({log!r})

def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        (LOG / "controller").write_text(str(os.getpid()))

def pytest_vault_key(key_id):
    with (LOG / "hook-calls").open("a") as stream:
        stream.write(f"{{os.getpid()}}\\n")
    return None
"""

TESTS = """
import os
import sys
from pathlib import Path

import pytest

KEY = {key!r}
LOG = Path({log!r})


def process_text(pid):
    texts = []
    for part in ("cmdline", "environ"):
        path = Path(f"/proc/{{pid}}/{{part}}")
        if path.exists():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return texts


@pytest.mark.parametrize("n", range(8))
def test_uses_vault(vault, n, worker_id):
    assert vault["API_TOKEN"] == "tok-3f9a-value-0001"
    for name, value in os.environ.items():
        assert KEY not in value, name
    for pid in (os.getpid(), os.getppid()):  # this worker and the controller
        for text in process_text(pid):
            assert KEY not in text
    assert "keyring" not in sys.modules  # a worker never touches the keyring
    (LOG / f"ran-{{worker_id}}-{{n}}").write_text(str(os.getpid()))


@pytest.mark.vault("DB_PASSWORD", env=True)
def test_marked():
    assert os.environ["DB_PASSWORD"] == "correct horse battery staple"


def test_plain():
    pass
"""


def write_project(pytester: pytest.Pytester, key_text: str) -> Path:
    log = pytester.mkdir("log")
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST.format(log=str(log)))
    pytester.makepyfile(test_it=TESTS.format(key=key_text, log=str(log)))
    return log


def test_keyring_key_is_read_once_in_the_controller_and_handed_over(
    pytester: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(pytester.path)
    test_keyring.put(key.key_id, key.text())
    log = write_project(pytester, key.text())
    result = run(pytester, "-n", "2", "--dist", "load")
    result.assert_outcomes(passed=10)
    controller = (log / "controller").read_text()
    reads = test_keyring.reads()
    assert len(reads) == 1
    assert reads[0].split()[0] == controller
    assert (log / "hook-calls").read_text().split() == [controller]
    ran = {path.name.split("-")[1] for path in log.glob("ran-*")}
    assert ran == {"gw0", "gw1"}
    assert {path.read_text() for path in log.glob("ran-*")}.isdisjoint({controller})
    assert_clean(result, key.text(), *SECRETS.values())


def test_workers_skip_without_a_key(
    pytester: pytest.Pytester, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(pytester.path)
    log = write_project(pytester, key.text())
    result = run(pytester, "-n", "2", "-rs")
    result.assert_outcomes(passed=1, skipped=9)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]*[]] test_it.py:*vault locked*PYTEST_VAULT_KEY*--vault-unlock*"]
    )
    assert len(test_keyring.reads()) == 1  # the controller looked, once
    assert not list(log.glob("ran-*"))


def test_workers_error_with_a_wrong_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test_keyring: ThrowawayKeyring
) -> None:
    key = make_vault(pytester.path)
    write_project(pytester, key.text())
    wrong = mistype(key)
    monkeypatch.setenv("PYTEST_VAULT_KEY", wrong)
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=1, errors=9)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*The key from PYTEST_VAULT_KEY cannot open*mistyped*"])
    assert test_keyring.reads() == []
    assert_clean(result, wrong, key.text())


@pytest.mark.parametrize("spec", ["socket=127.0.0.1:1", "2*socket=127.0.0.1:1"])
def test_socket_gateways_are_refused(pytester: pytest.Pytester, spec: str) -> None:
    key = make_vault(pytester.path)
    write_project(pytester, key.text())
    result = run(pytester, "--tx", spec, "--dist", "load")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-vault does not send the vault key over a plain-TCP*"]
    )
    assert_clean(result, key.text())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX")
def test_unlock_under_xdist_without_a_key_stops_before_workers_start(
    pytester: pytest.Pytester,
) -> None:
    key = make_vault(pytester.path)
    log = write_project(pytester, key.text())
    result = run(pytester, "-n", "2", "--vault-unlock")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: No key for*"])
    assert not list(log.glob("ran-*"))
    assert "[gw0]" not in str(result.stdout)


# -- the controller's threads ----------------------------------------------------------
# The xdist controller unserializes its workers' reports in execnet's receiver threads,
# one per worker, so several threads may open its vault at once.


@pytest.fixture
def slow_masker_state(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> tuple[VaultState, list[object]]:
    """A run's state whose vault opens slowly (building the masker takes 0.2 s), and the
    list of maskers built."""
    # The modules the plugin uses (pytester may have replaced the package's attributes).
    masking = importlib.import_module("pytest_vault.masking")
    get_state = importlib.import_module("pytest_vault.state").get_state
    pytester.makeini("[pytest]\n")
    monkeypatch.setenv("PYTEST_VAULT_KEY", make_vault(pytester.path).text())
    built: list[object] = []
    real_init = masking.Masker.__init__

    def slow_init(self: object, *args: object, **kwargs: object) -> None:
        built.append(self)
        time.sleep(0.2)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(masking.Masker, "__init__", slow_init)
    return get_state(pytester.parseconfigure()), built


def test_a_thread_that_finds_the_vault_open_finds_its_masker_ready(
    slow_masker_state: tuple[VaultState, list[object]],
) -> None:
    # A thread that came second, while the first was still building the masker, used to
    # see the vault open without a masker and pass its report on unmasked (seen as a
    # flaky leak test).
    state, _ = slow_masker_state
    first = threading.Thread(target=state.vault)
    first.start()
    deadline = time.monotonic() + 10
    while state._vault is None and first.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)  # the first thread is opening: decrypting, then the masker
    state.vault()
    masker_when_second_returned = state.masker
    first.join()
    assert masker_when_second_returned is not None
    assert masker_when_second_returned.contains_secret(SECRETS["API_TOKEN"])


def test_threads_that_open_the_vault_at_once_open_it_once(
    slow_masker_state: tuple[VaultState, list[object]],
) -> None:
    state, built = slow_masker_state
    opened: list[object] = []
    state.on_open.append(opened.append)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            state.vault()
        except BaseException as exc:  # a thread's error is lost otherwise
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(built) == 1
    assert len(opened) == 1
