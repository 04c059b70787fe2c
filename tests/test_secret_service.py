"""Tests of the private Secret Service helper (tests/support/secret_service.py), real daemons."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secret_service import (
    KEYRING_BACKEND,
    MISSING_PACKAGES_HINT,
    KeyringOperation,
    SecretServiceError,
    SecretServiceSession,
    missing_tools,
    require_secret_service,
    secret_service_fixture,
)

pytestmark = [
    pytest.mark.real_keyring,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the Secret Service is Linux's keyring"
    ),
]

LOCKED = "keyring.errors.KeyringLocked"
PASSWORD_OPS: list[tuple[KeyringOperation, tuple[str, ...]]] = [
    ("get", ()),
    ("set", ("x",)),
    ("delete", ()),
]
INIT_ERROR = "keyring.errors.InitError"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretServiceSession]:
    yield from secret_service_fixture(tmp_path_factory)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[SecretServiceSession]:
    """A session of its own, for tests that change the keyring's state."""
    require_secret_service()
    with SecretServiceSession(tmp_path / "ss") as session:
        yield session


def running_under(root: Path) -> list[str]:
    result = subprocess.run(
        ["pgrep", "-a", "-f", str(root)], capture_output=True, text=True, check=False
    )
    return result.stdout.splitlines()


# -- require_secret_service -----------------------------------------------------------------


def test_missing_tools_skip_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    assert missing_tools() == ["dbus-daemon", "gnome-keyring-daemon", "secret-tool", "dbus-send"]
    with pytest.raises(pytest.skip.Exception, match=MISSING_PACKAGES_HINT):
        require_secret_service()


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_tools_fail_on_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=MISSING_PACKAGES_HINT):
        require_secret_service()


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_ci_switched_off_still_skips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        require_secret_service()


def test_start_without_tools_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    session = SecretServiceSession(tmp_path / "ss")
    with pytest.raises(SecretServiceError, match=MISSING_PACKAGES_HINT):
        session.start()
    assert not session.running


# -- (a) unlocked collection ----------------------------------------------------------------


def test_env_points_inside_root(shared: SecretServiceSession) -> None:
    env = shared.env()
    assert env["PYTHON_KEYRING_BACKEND"] == KEYRING_BACKEND
    assert env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={shared.root / 'bus'}"
    for name in ("HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        assert Path(env[name]).is_relative_to(shared.root), name
    child = shared.child_env(base={"DISPLAY": ":0", "PATH": "/bin", "HOME": "/root"})
    assert "DISPLAY" not in child
    assert child["HOME"] == str(shared.home)


def test_started_state(shared: SecretServiceSession) -> None:
    assert shared.has_secret_service()
    assert shared.default_collection == "/org/freedesktop/secrets/collection/login"
    assert not shared.is_locked(shared.default_collection)
    assert shared.keyring_call("backend").backend == KEYRING_BACKEND


def test_set_get_delete_in_child(shared: SecretServiceSession) -> None:
    assert shared.keyring_call("set", "pytest-vault", "alice", "s3cret key").ok
    got = shared.keyring_call("get", "pytest-vault", "alice")
    assert (got.backend, got.value, got.error_type) == (KEYRING_BACKEND, "s3cret key", None)
    assert shared.secret_tool_lookup("pytest-vault", "alice") == "s3cret key"
    assert shared.keyring_call("delete", "pytest-vault", "alice").ok
    assert shared.keyring_call("get", "pytest-vault", "alice").value is None
    assert shared.secret_tool_lookup("pytest-vault", "alice") is None


def test_plain_python_child_with_env(shared: SecretServiceSession) -> None:
    code = (
        "import keyring\n"
        "keyring.set_password('plain', 'bob', 'pw\\u00e9 with\\nnewline')\n"
        "print(type(keyring.get_keyring()).__module__, ascii(keyring.get_password('plain', 'bob')))"
    )
    env = {**os.environ, **shared.env()}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        "keyring.backends.SecretService",
        "'pw\\xe9",
        "with\\nnewline'",
    ]
    assert shared.secret_tool_lookup("plain", "bob") == "pwé with\nnewline"


def test_secret_tool_sees_only_matching_attributes(shared: SecretServiceSession) -> None:
    assert shared.keyring_call("set", "svc-a", "carol", "one").ok
    assert shared.secret_tool_lookup("svc-a", "carol") == "one"
    assert shared.secret_tool_lookup("svc-a", "dave") is None
    assert shared.secret_tool_lookup("svc-b", "carol") is None


def test_missing_entry(shared: SecretServiceSession) -> None:
    assert shared.keyring_call("get", "nothing-here", "nobody").value is None
    deleted = shared.keyring_call("delete", "nothing-here", "nobody")
    assert (deleted.error_type, deleted.error_message) == (
        "keyring.errors.PasswordDeleteError",
        "No such password!",
    )


def test_parent_home_is_not_touched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_secret_service()
    fake_home = tmp_path / "real-home"
    fake_home.mkdir()
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(name, str(fake_home))
    with SecretServiceSession(tmp_path / "ss") as session:
        assert session.keyring_call("set", "s", "u", "p").ok
        assert session.secret_tool_lookup("s", "u") == "p"
    assert list(fake_home.iterdir()) == []
    assert (tmp_path / "ss" / "data" / "keyrings" / "login.keyring").is_file()


# -- (b) locked collection ------------------------------------------------------------------


def test_locked_collection(fresh: SecretServiceSession) -> None:
    assert fresh.keyring_call("set", "svc", "erin", "before lock").ok
    fresh.lock()
    assert fresh.default_collection is not None
    assert fresh.is_locked(fresh.default_collection)
    for op, args in PASSWORD_OPS:
        outcome = fresh.keyring_call(op, "svc", "erin", *args)
        assert outcome.backend == KEYRING_BACKEND
        assert (outcome.error_type, outcome.error_message) == (
            LOCKED,
            "Failed to unlock the collection!",
        ), op
    assert fresh.secret_tool_lookup("svc", "erin") is None


# -- (c) never unlocked ---------------------------------------------------------------------


def test_never_unlocked_fresh_root(tmp_path: Path) -> None:
    require_secret_service()
    with SecretServiceSession(tmp_path / "ss", unlocked=False) as session:
        assert session.has_secret_service()
        assert session.default_collection is None
        for op, args in PASSWORD_OPS:
            outcome = session.keyring_call(op, "svc", "frank", *args)
            assert outcome.error_type == INIT_ERROR, op
            assert outcome.error_message == "Failed to create the collection: Prompt dismissed.."
            assert outcome.cause_type == "secretstorage.exceptions.PromptDismissedException"
        assert session.secret_tool_lookup("svc", "frank") is None


def test_never_unlocked_existing_keyring(tmp_path: Path) -> None:
    require_secret_service()
    root = tmp_path / "ss"
    with SecretServiceSession(root) as first:
        assert first.keyring_call("set", "svc", "gina", "stored").ok
    with SecretServiceSession(root, unlocked=False) as again:
        assert again.default_collection == "/org/freedesktop/secrets/collection/login"
        assert again.is_locked(again.default_collection)
        outcome = again.keyring_call("get", "svc", "gina")
        assert (outcome.error_type, outcome.cause_type) == (LOCKED, None)
    with SecretServiceSession(root, password="test-password") as unlocked_again:
        assert unlocked_again.keyring_call("get", "svc", "gina").value == "stored"


# -- (d) no Secret Service ------------------------------------------------------------------


def test_bus_without_secret_service(tmp_path: Path) -> None:
    require_secret_service()
    with SecretServiceSession(tmp_path / "ss", keyring_daemon=False) as session:
        assert not session.has_secret_service()
        calls: list[tuple[KeyringOperation, tuple[str, ...]]] = [
            ("backend", ()),
            ("get", ("svc", "hank")),
            ("set", ("svc", "hank", "x")),
        ]
        for op, args in calls:
            outcome = session.keyring_call(op, *args)
            assert outcome.backend is None, op
            assert (outcome.error_type, outcome.error_message) == (
                "builtins.RuntimeError",
                "The Secret Service daemon is neither running nor activatable through D-Bus",
            ), op
        # Nothing was D-Bus-activated by those calls.
        assert not session.has_secret_service()
        assert len(running_under(session.root)) == 1  # the bus alone
        with pytest.raises(SecretServiceError, match=r"no default collection|ServiceUnknown"):
            session.lock()


# -- lifecycle ------------------------------------------------------------------------------


def test_stop_leaves_nothing_running(tmp_path: Path) -> None:
    require_secret_service()
    session = SecretServiceSession(tmp_path / "ss")
    session.start()
    pids = session.pids
    assert len(pids) == 2
    assert len(running_under(session.root)) == 2
    session.stop()
    assert session.pids == ()
    assert not session.running
    assert running_under(session.root) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "dbus" not in Path(
            f"/proc/{pid}/cmdline"
        ).read_text(errors="replace")
    assert not (session.root / "bus").exists()
    session.stop()  # idempotent


def test_killed_test_process_leaves_nothing_running(tmp_path: Path) -> None:
    require_secret_service()
    root = tmp_path / "ss"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from secret_service import SecretServiceSession\n"
        "session = SecretServiceSession(Path(sys.argv[1]))\n"
        "session.start()\n"
        "print(*session.pids, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "support")}
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(root)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(pids) == 2
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        child.kill()  # SIGKILL: no stop(), no finalizers
        child.communicate()
    deadline = time.monotonic() + 5
    while running_under(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running_under(root) == []


def test_failed_start_cleans_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_secret_service()
    import secret_service

    monkeypatch.setattr(secret_service, "START_TIMEOUT", 0.0)
    session = SecretServiceSession(tmp_path / "ss")
    with pytest.raises(SecretServiceError, match="timed out"):
        session.start()
    assert not session.running
    assert running_under(session.root) == []


def test_two_sessions_side_by_side(tmp_path: Path) -> None:
    require_secret_service()
    with (
        SecretServiceSession(tmp_path / "one") as one,
        SecretServiceSession(tmp_path / "two", password="other") as two,
    ):
        assert set(one.pids).isdisjoint(two.pids)
        assert one.keyring_call("set", "svc", "ivy", "from one").ok
        assert two.keyring_call("set", "svc", "ivy", "from two").ok
        assert one.keyring_call("get", "svc", "ivy").value == "from one"
        assert two.secret_tool_lookup("svc", "ivy") == "from two"
        two.lock()
        assert one.keyring_call("get", "svc", "ivy").value == "from one"
        assert two.keyring_call("get", "svc", "ivy").error_type == LOCKED
    assert running_under(tmp_path) == []


def test_root_too_long_for_socket(tmp_path: Path) -> None:
    require_secret_service()
    session = SecretServiceSession(tmp_path / ("x" * 120))
    with pytest.raises(SecretServiceError, match="too long"):
        session.start()
