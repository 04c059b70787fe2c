"""End-to-end keyring flows against a real system keyring.

The keyring is the platform's default backend, or the one ``PYTEST_VAULT_REAL_KEYRING``
names (tests/support/system_keyring.py): on Linux a private Secret Service (D-Bus +
gnome-keyring, checked from outside with ``secret-tool``), on macOS the Keychain and on
Windows the Credential Locker (the user's own, so only when that variable asks for it; the
CI jobs do). Every flow runs the installed console script and real pytest subprocesses with
``PYTHON_KEYRING_BACKEND`` set to that backend (`point_environ_at`). One keyring serves the
whole run; entries stay between tests, so every test makes a vault of its own (a new key
id). The Secret Service's broken states (a locked collection, a daemon that was never
unlocked, a bus without a Secret Service) get short-lived keyrings of their own and run
only against the Secret Service; the terminal flows need a pseudo-terminal (not Windows).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from projects import CliResult, Project
from secret_service import SecretServiceSession, require_secret_service
from system_keyring import (
    REAL_KEYRING_VARIABLE,
    SECRET_SERVICE_BACKEND,
    PlatformKeyring,
    SystemKeyring,
    backend_name,
    default_backend,
    probe,
    requested_backend,
)

pytestmark = pytest.mark.real_keyring

SERVICE = "pytest-vault"
BACKEND = requested_backend() or default_backend() or SECRET_SERVICE_BACKEND
BACKEND_NAME = backend_name(BACKEND)
SECRET_SERVICE_ONLY = pytest.mark.skipif(
    BACKEND != SECRET_SERVICE_BACKEND,
    reason=f"a state of the Secret Service; the keyring under test is {BACKEND}",
)
NEEDS_A_TERMINAL = pytest.mark.skipif(
    sys.platform == "win32", reason="pexpect has no pseudo-terminal on Windows"
)
KEY_PATTERN = re.compile(r"PYTEST-VAULT-KEY-[0-9A-Z]+")
SECRET = "the-api-token-value-42"
# The hypothesis plugin alone costs ~1 s per pytest start; these runs need none of it.
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest"]
SKIP_HINT = (
    "vault locked: no key for secrets.vault.toml "
    "(set PYTEST_VAULT_KEY, or run `pytest --vault-unlock`)"
)
TEST_USING_THE_VAULT = f"""
def test_uses_the_vault(vault):
    assert vault["API_TOKEN"] == {SECRET!r}
    assert vault.source == "the system keyring ({BACKEND_NAME})"
"""
TEST_UNLOCKED_AT_THE_PROMPT = TEST_USING_THE_VAULT.replace(
    f"the system keyring ({BACKEND_NAME})", "the prompt"
)


@dataclass
class Flow:
    """A project whose console script and pytest runs use the real keyring."""

    project: Project
    keyring: SystemKeyring

    @property
    def root(self) -> Path:
        return self.project.root

    #: Run the real program (each command a new process finding the keyring on its own)
    #: rather than the command in this process (tests/support/console.py).
    real_program: bool = False

    def cli(self, *args: str, input: str | None = None, **env: str) -> CliResult:
        run = self.project.cli_process if self.real_program else self.project.cli
        return run(*args, input=input, env=env)

    def pytest(self, *args: str, **env: str) -> CliResult:
        done = subprocess.run(
            [*PYTEST, *args],
            cwd=self.root,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def spawn(self, *args: str) -> pexpect.spawn:
        """pytest on a terminal (a pseudo-terminal), with this test's environment.

        Everything the child writes collects in `transcript`.
        """
        child = pexpect.spawn(
            sys.executable,
            [*PYTEST[1:], *args],
            cwd=str(self.root),
            env=dict(os.environ),
            encoding="utf-8",
            timeout=30,
            dimensions=(40, 200),
        )
        child.logfile_read = io.StringIO()
        return child

    def key_id(self) -> str:
        header = tomllib.loads(self.project.vault_file.read_text(encoding="utf-8"))["vault"]
        return str(header["key_id"])

    def stored(self, key_id: str | None = None) -> str | None:
        """What the keyring holds for the key id (default: the vault's current one), read
        from outside the product (``secret-tool`` for the Secret Service)."""
        return self.keyring.lookup(SERVICE, key_id or self.key_id())

    def put(self, key_id: str, key: str) -> None:
        """Store an entry by hand, from outside the product, as keyring would."""
        self.keyring.store(SERVICE, key_id, key)
        assert self.stored(key_id) == key

    def init(self) -> str:
        """``pytest-vault init`` with the keyring; returns the key it printed."""
        result = self.cli("init")
        assert result.returncode == 0, result.stderr
        assert f"Saved the key in the system keyring ({BACKEND_NAME})." in result.stderr
        key = new_key(result)
        assert self.stored() == key
        return key

    def set_secret(self, name: str = "API_TOKEN", value: str = SECRET, **env: str) -> None:
        result = self.cli("set", name, input=value, **env)
        assert result.returncode == 0, result.stderr

    def write_test(self, source: str = TEST_USING_THE_VAULT) -> None:
        (self.root / "test_uses_vault.py").write_text(source, encoding="utf-8")


def transcript(child: pexpect.spawn) -> str:
    """Wait for the child to end; everything it wrote to the terminal."""
    child.expect(pexpect.EOF)
    child.close()
    log = child.logfile_read
    assert isinstance(log, io.StringIO)
    return log.getvalue()


def new_key(result: CliResult) -> str:
    """The key a key-creating command printed: alone on standard output, nowhere else."""
    key = result.stdout.strip()
    assert KEY_PATTERN.fullmatch(key), result.stdout
    assert key not in result.stderr
    return key


def assert_clean(output: str, *keys: str) -> None:
    """No traceback, no internal error, no key."""
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    for key in keys:
        assert key not in output


def point_environ_at(monkeypatch: pytest.MonkeyPatch, keyring: SystemKeyring, **extra: str) -> None:
    """Point ``os.environ`` at the real keyring (plus extra variables), for child processes.

    Replaces the throw-away backend that `isolated_environment` selected: the console script
    and pytest subprocesses started by the test use the real backend (for the Secret
    Service: on its private bus, with HOME and the XDG folders inside the session's root).
    The test process's own ``keyring`` stays on the throw-away backend.
    """
    environ = keyring.child_env(extra)  # taken now: without the CI and key variables
    for name in set(os.environ) - set(environ):
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def system_keyring(request: pytest.FixtureRequest) -> Iterator[SystemKeyring]:
    """The real keyring of this run (session scope: set up before the isolation removes CI).

    The Secret Service is the private one of `secret_service`, which fails rather than skips
    on CI when its tools are missing. Another backend is the user's own keyring: used only
    when PYTEST_VAULT_REAL_KEYRING names it, checked to load, and cleaned up at the end.
    """
    if BACKEND == SECRET_SERVICE_BACKEND:
        session: SecretServiceSession = request.getfixturevalue("secret_service")
        yield session
        return
    if requested_backend() is None:
        pytest.skip(
            f"these tests write to your own keyring ({BACKEND_NAME}): "
            f"set {REAL_KEYRING_VARIABLE}={BACKEND} to run them"
        )
    keyring = PlatformKeyring(BACKEND, home=os.environ.get("HOME"))
    keyring.check_backend()
    try:
        yield keyring
    finally:
        keyring.remove_touched()


@pytest.fixture
def flow(
    project: Project,
    system_keyring: SystemKeyring,
    isolated_environment: object,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flow]:
    point_environ_at(monkeypatch, system_keyring)
    flow = Flow(project, system_keyring)
    yield flow
    if isinstance(system_keyring, PlatformKeyring) and project.vault_file.is_file():
        system_keyring.forget(SERVICE, flow.key_id())  # removed at the end of the session


def test_the_backend_under_test_is_the_one_users_get(system_keyring: SystemKeyring) -> None:
    """Without PYTHON_KEYRING_BACKEND, keyring itself picks the backend these tests use."""
    if system_keyring.backend != default_backend():
        pytest.skip(f"{system_keyring.backend} is not this platform's default backend")
    environ = system_keyring.child_env()
    del environ["PYTHON_KEYRING_BACKEND"]
    outcome = probe("backend", (), environ)
    assert outcome["error"] is None, outcome
    chain = outcome["chain"]
    # A chain of several backends tries them by priority: the first one is what users get.
    chosen = chain[0] if isinstance(chain, list) and chain else outcome["backend"]
    assert chosen == system_keyring.backend, outcome


# -- the unlocked keyring: init, get, pytest ---------------------------------------------------


def test_init_saves_the_key_and_every_reader_finds_it(flow: Flow) -> None:
    flow.real_program = True  # the console script pip installed, against the real keyring
    key = flow.init()  # secret-tool sees the printed key under the vault's key id
    assert "PYTEST_VAULT_KEY" not in os.environ
    flow.set_secret()  # `set` itself finds the key in the keyring

    got = flow.cli("get", "API_TOKEN")
    assert (got.returncode, got.stdout, got.stderr) == (0, SECRET + "\n", "")

    status = flow.cli("status")
    assert status.returncode == 0
    assert f"Key: found in the system keyring ({BACKEND_NAME})" in status.stderr
    assert "Opens: yes" in status.stderr

    flow.write_test()
    run = flow.pytest()
    assert run.returncode == 0, run.output
    assert "1 passed" in run.stdout
    # The keyring is read lazily, so a plain run's header cannot name it yet ...
    assert "vault: secrets.vault.toml (1 secret), key looked up when a test needs it" in run.stdout
    # ... while --vault-unlock looks the key up first, and the header says where it was.
    run = flow.pytest("--vault-unlock")
    assert run.returncode == 0, run.output
    header = (
        f"vault: secrets.vault.toml (1 secret), unlocked by the system keyring ({BACKEND_NAME})"
    )
    assert header in run.stdout
    assert_clean(run.output + got.stderr + status.output, key, SECRET)


def test_lock_removes_the_key_and_unlock_saves_it_again(flow: Flow) -> None:
    key = flow.init()
    flow.set_secret()
    key_id = flow.key_id()

    locked = flow.cli("lock")
    assert locked.returncode == 0, locked.stderr
    assert "Removed the key of" in locked.stderr
    assert flow.stored() is None

    got = flow.cli("get", "API_TOKEN")
    assert got.returncode == 1
    assert got.stdout == ""
    assert got.stderr.startswith("pytest-vault: No key for ")
    assert f"the system keyring ({BACKEND_NAME}) has no entry for {key_id}" in got.stderr
    assert_clean(got.output, key, SECRET)

    again = flow.cli("lock")  # nothing left to remove: said so, not an error
    assert again.returncode == 0
    assert f"has no entry for {key_id}; nothing to remove." in again.stderr

    unlocked = flow.cli("unlock", input=f"  {key}\n")
    assert unlocked.returncode == 0, unlocked.stderr
    assert f"saved it in the system keyring ({BACKEND_NAME})" in unlocked.stderr
    assert flow.stored() == key
    assert flow.cli("get", "API_TOKEN").stdout == SECRET + "\n"
    assert_clean(unlocked.output, key)


def test_rotate_stores_the_new_key_under_the_new_key_id(flow: Flow) -> None:
    old_key = flow.init()
    flow.set_secret()
    old_id = flow.key_id()

    rotated = flow.cli("rotate")
    assert rotated.returncode == 0, rotated.stderr
    new = new_key(rotated)
    new_id = flow.key_id()
    assert (new, new_id) != (old_key, old_id)
    assert f"Saved the key in the system keyring ({BACKEND_NAME})." in rotated.stderr
    assert flow.stored(new_id) == new
    # The old entry is left where it was (clones not yet on the new file still need it).
    assert flow.stored(old_id) == old_key
    assert flow.cli("get", "API_TOKEN").stdout == SECRET + "\n"  # the vault opens with it

    # Only the old entry left: the rotated vault does not find (or try) it.
    assert flow.cli("lock").returncode == 0
    assert flow.stored(old_id) == old_key
    got = flow.cli("get", "API_TOKEN")
    assert got.returncode == 1
    assert f"has no entry for {new_id}" in got.stderr
    assert_clean(got.output + rotated.stderr, old_key, new, SECRET)


def test_reset_stores_the_new_key_and_the_old_one_is_never_used(flow: Flow) -> None:
    old_key = flow.init()
    flow.set_secret()
    old_id = flow.key_id()

    reset = flow.cli("reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    new = new_key(reset)
    new_id = flow.key_id()
    assert new_id != old_id
    assert flow.stored(new_id) == new
    assert "API_TOKEN" not in flow.project.vault_file.read_text(encoding="utf-8")
    check = flow.cli("check")  # the vault opens with the key the keyring now holds
    assert check.returncode == 0, check.stderr
    assert f"with the key from the system keyring ({BACKEND_NAME})" in check.stderr

    # Only the key from before the reset in the keyring, under its own id: not found.
    assert flow.cli("lock").returncode == 0
    flow.put(old_id, old_key)
    got = flow.cli("get", "API_TOKEN")
    assert got.returncode == 1
    assert f"the system keyring ({BACKEND_NAME}) has no entry for {new_id}" in got.stderr
    assert_clean(got.output, old_key, new)

    # The old key stored under the new id (a hand-copied entry): a stale-key error.
    flow.put(new_id, old_key)
    got = flow.cli("get", "API_TOKEN")
    assert got.returncode == 1
    assert f"The key from the system keyring ({BACKEND_NAME}) does not open" in got.stderr
    assert "from before a reset or rotation" in got.stderr
    assert_clean(got.output + check.output, old_key, new)


def test_two_clones_share_one_keyring_entry(flow: Flow, tmp_path: Path) -> None:
    key = flow.init()
    flow.set_secret()
    clone = Flow(Project(tmp_path / "clone-b"), flow.keyring)
    clone.root.mkdir()
    shutil.copy(flow.root / "pytest.ini", clone.root / "pytest.ini")
    shutil.copy(flow.project.vault_file, clone.project.vault_file)

    assert clone.key_id() == flow.key_id()
    got = clone.cli("get", "API_TOKEN")
    assert (got.returncode, got.stdout) == (0, SECRET + "\n"), got.stderr
    assert_clean(got.stderr, key)


# -- pytest --vault-unlock on a terminal -------------------------------------------------------


@NEEDS_A_TERMINAL
@pytest.mark.parametrize(("answer", "saved"), [("", True), ("n", False)], ids=["enter", "no"])
def test_vault_unlock_prompts_and_offers_to_save(flow: Flow, answer: str, saved: bool) -> None:
    key = flow.project.init()  # --no-keyring: the keyring has no entry for this vault
    flow.set_secret(PYTEST_VAULT_KEY=key)
    flow.write_test(TEST_UNLOCKED_AT_THE_PROMPT)
    assert flow.stored() is None

    child = flow.spawn("--vault-unlock", "-q")
    child.expect_exact("Vault key:")
    child.sendline(key)
    child.expect_exact("Save the key in the system keyring? [Y/n]")
    child.sendline(answer)
    output = transcript(child)
    assert child.exitstatus == 0, output
    assert "1 passed" in output
    assert flow.stored() == (key if saved else None)
    assert (f"Saved the key in the system keyring ({BACKEND_NAME})." in output) is saved
    assert_clean(output, key, SECRET)  # the typed key is not echoed


@NEEDS_A_TERMINAL
def test_vault_unlock_creates_the_vault_on_a_terminal(flow: Flow) -> None:
    flow.write_test(
        "def test_new_vault(vault):\n"
        "    assert len(vault) == 0\n"
        "    assert vault.source == 'the new key'\n"
    )
    assert not flow.project.vault_file.exists()

    child = flow.spawn("--vault-unlock", "-q")
    output = transcript(child)
    assert child.exitstatus == 0, output
    assert "1 passed" in output
    assert "Created the vault" in output
    assert f"Saved the key in the system keyring ({BACKEND_NAME})." in output
    shown = KEY_PATTERN.findall(output)
    assert len(shown) == 1, output  # shown once, never echoed
    assert flow.stored() == shown[0]
    assert flow.cli("key").stdout == shown[0] + "\n"  # the console script finds it too


# -- CI --------------------------------------------------------------------------------------


def test_ci_with_vault_keyring_always_reads_the_keyring(flow: Flow) -> None:
    (flow.root / "pytest.ini").write_text("[pytest]\nvault_keyring = always\n", encoding="utf-8")
    key = flow.init()
    flow.set_secret()
    flow.write_test()
    got = flow.cli("get", "API_TOKEN", CI="true")
    assert (got.returncode, got.stdout) == (0, SECRET + "\n"), got.stderr
    run = flow.pytest("-q", CI="true")
    assert run.returncode == 0, run.output
    assert "1 passed" in run.stdout
    assert_clean(run.output, key)


# -- states in which the keyring gives nothing -------------------------------------------------
# The keyrings are module-scoped (set up before the isolation removes CI, so that
# require_secret_service() fails on CI instead of skipping) and started only when used.


@pytest.fixture(scope="module")
def locked_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretServiceSession]:
    """State (b): the default collection exists but is locked."""
    require_secret_service()
    with SecretServiceSession(tmp_path_factory.mktemp("ss-locked")) as session:
        session.lock()
        yield session


@pytest.fixture(scope="module")
def never_unlocked_keyring(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecretServiceSession]:
    """State (c): the daemon runs, but its collection was never created or unlocked."""
    require_secret_service()
    root = tmp_path_factory.mktemp("ss-never")
    with SecretServiceSession(root, unlocked=False) as session:
        yield session


@pytest.fixture(scope="module")
def bus_without_secret_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecretServiceSession]:
    """State (d): a session bus on which nothing provides the Secret Service."""
    require_secret_service()
    root = tmp_path_factory.mktemp("ss-none")
    with SecretServiceSession(root, keyring_daemon=False) as session:
        yield session


@dataclass(frozen=True)
class Broken:
    """How to reach a state, and what the console script says about it."""

    session: str  # the fixture giving the keyring
    read: str  # why `get` found no key
    save: str  # what `init` says about saving its key
    env: tuple[tuple[str, str], ...] = ()
    unlock_run: bool = False  # also check `pytest --vault-unlock` without a terminal


CANNOT_SAVE = "The key could not be saved in the system keyring ("
BROKEN_STATES = {
    "locked": Broken(
        "locked_keyring",
        "the system keyring could not be read (KeyringLocked: Failed to unlock the collection!)",
        CANNOT_SAVE + "KeyringLocked: Failed to unlock the collection!).",
        unlock_run=True,
    ),
    "never-unlocked": Broken(
        "never_unlocked_keyring",
        "the system keyring could not be read (InitError: Failed to create the collection: "
        "Prompt dismissed",
        CANNOT_SAVE + "InitError: Failed to create the collection: Prompt dismissed",
    ),
    "no-secret-service": Broken(
        "bus_without_secret_service",
        "the system keyring could not be read (RuntimeError: The Secret Service daemon is "
        "neither running nor activatable through D-Bus)",
        CANNOT_SAVE + "RuntimeError: The Secret Service daemon is neither running",
    ),
    "backend-empty": Broken(
        "system_keyring",
        "the system keyring could not be read (ValueError: Empty module name; "
        "PYTHON_KEYRING_BACKEND='' names no keyring backend that can be loaded)",
        CANNOT_SAVE + "ValueError: Empty module name; PYTHON_KEYRING_BACKEND=''",
        (("PYTHON_KEYRING_BACKEND", ""),),
    ),
    "backend-missing": Broken(
        "system_keyring",
        "the system keyring could not be read (ModuleNotFoundError: No module named 'no'; "
        "PYTHON_KEYRING_BACKEND='no.such.Backend' names no keyring backend that can be loaded)",
        CANNOT_SAVE + "ModuleNotFoundError: No module named 'no'; PYTHON_KEYRING_BACKEND=",
        (("PYTHON_KEYRING_BACKEND", "no.such.Backend"),),
    ),
    "ci": Broken(
        "system_keyring",
        "the keyring was not read because CI is set (vault_keyring = always reads it)",
        "The key was NOT saved in a keyring: the keyring was not used because CI is set "
        "(vault_keyring = always reads it).",
        (("CI", "true"),),
        unlock_run=True,
    ),
}


# States only the Secret Service has are tested only against it.
SECRET_SERVICE_STATES = {"locked", "never-unlocked", "no-secret-service"}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[SECRET_SERVICE_ONLY] if name in SECRET_SERVICE_STATES else [])
        for name in BROKEN_STATES
    ],
)
def broken_keyring(request: pytest.FixtureRequest) -> tuple[SystemKeyring, Broken]:
    state = BROKEN_STATES[request.param]
    return request.getfixturevalue(state.session), state


@pytest.fixture
def broken(
    broken_keyring: tuple[SystemKeyring, Broken],
    project: Project,
    isolated_environment: object,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Flow, Broken]:
    keyring, state = broken_keyring
    point_environ_at(monkeypatch, keyring, **dict(state.env))
    return Flow(project, keyring), state


def test_keyring_that_gives_nothing_is_explained_never_a_traceback(
    broken: tuple[Flow, Broken],
) -> None:
    flow, state = broken
    # init still creates the vault and prints the key; it says why the keyring kept nothing.
    created = flow.cli("init")
    assert created.returncode == 0, created.stderr
    key = new_key(created)
    assert flow.project.vault_file.is_file()
    assert state.save in created.stderr

    got = flow.cli("get", "API_TOKEN")
    assert got.returncode == 1
    assert got.stdout == ""
    assert got.stderr.startswith("pytest-vault: No key for ")
    assert state.read in got.stderr
    assert got.stderr.count("\n") == 1  # one line of message

    flow.write_test()
    run = flow.pytest("-rs")
    assert run.returncode == 0, run.output
    assert "1 skipped" in run.stdout
    assert SKIP_HINT in run.stdout

    assert_clean(created.stderr + got.output + run.output, key)

    if state.unlock_run:  # without a terminal: a usage error before any test, saying why
        unlock = flow.pytest("--vault-unlock")
        assert unlock.returncode == 4, unlock.output
        assert state.read in unlock.output
        assert "(There is no terminal to ask for the key on.)" in unlock.output
        assert "test_uses_vault.py" not in unlock.stdout
        assert_clean(unlock.output, key)


@pytest.fixture
def locked_terminal_run(
    project: Project, locked_keyring: SecretServiceSession, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """`pytest --vault-unlock` on a terminal with the keyring locked: the key typed at the
    prompt, Enter to saving it. Returns the key and the transcript."""
    point_environ_at(monkeypatch, locked_keyring)
    flow = Flow(project, locked_keyring)
    key = flow.project.init()
    flow.set_secret(PYTEST_VAULT_KEY=key)
    flow.write_test(TEST_UNLOCKED_AT_THE_PROMPT)
    child = flow.spawn("--vault-unlock", "-q")
    child.expect_exact("Vault key:")
    child.sendline(key)
    child.expect_exact("Save the key in the system keyring? [Y/n]")
    child.sendline("")
    output = transcript(child)
    assert child.exitstatus == 0, output
    return key, output


@SECRET_SERVICE_ONLY
@NEEDS_A_TERMINAL
def test_vault_unlock_on_a_terminal_with_the_keyring_locked(
    locked_terminal_run: tuple[str, str],
) -> None:
    key, output = locked_terminal_run
    assert "1 passed" in output  # the typed key opened the vault for the run
    assert "could not be saved in the system keyring (KeyringLocked" in output
    assert_clean(output, key, SECRET)


@SECRET_SERVICE_ONLY
@NEEDS_A_TERMINAL
def test_vault_unlock_on_a_terminal_says_why_the_keyring_gave_nothing(
    locked_terminal_run: tuple[str, str],
) -> None:
    _, output = locked_terminal_run
    before_prompt = output.split("Vault key:", 1)[0]
    assert "KeyringLocked" in before_prompt
    assert "The key could not be saved in the system keyring (KeyringLocked" in output


@SECRET_SERVICE_ONLY
def test_the_keyring_entry_is_labelled_with_the_vault_file_and_project(flow: Flow) -> None:
    """Only the Secret Service keeps a label beside an entry (keyring's API has none)."""
    flow.init()
    done = subprocess.run(
        ["secret-tool", "search", "--all", "service", SERVICE, "username", flow.key_id()],
        env=flow.keyring.child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    label = f"pytest-vault key for secrets.vault.toml of project ({flow.project.vault_file})"
    assert f"label = {label}" in done.stdout + done.stderr
