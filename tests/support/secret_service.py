"""Test support: a real, private Secret Service keyring (D-Bus + gnome-keyring) in a temp folder.

``SecretServiceSession(root)`` starts its own ``dbus-daemon`` and ``gnome-keyring-daemon``
(secrets component only) with every path they use (``HOME``, ``XDG_*``, the bus socket, the
keyring control directory) inside ``root``. Nothing outside ``root`` is written, the
user's own keyring and session bus are never contacted, and :meth:`SecretServiceSession.stop`
kills both daemons by PID. Child processes reach the keyring with :meth:`~SecretServiceSession.env`
(or :meth:`~SecretServiceSession.child_env`); prefer child processes over calling ``keyring``
in the test process, because ``keyring`` picks and caches its backend on first use.

The bus is started from a private configuration with an empty service directory instead of
the system ``session.conf`` (``dbus-daemon --session``): with the system file, D-Bus
activation would start a second, locked ``gnome-keyring-daemon`` on the first call to
``org.freedesktop.secrets`` (so "no Secret Service" could not be modelled), and an unlock
attempt on a locked collection activated ``gcr-prompter`` (which, on a desktop with
``DISPLAY`` set, shows a real unlock dialog and blocks the test). Without activation the
daemon fails to create its prompt and reports it as dismissed at once.

States the product must handle, each constructible here, and what keyring 25.7 (with
SecretStorage 3.5, gnome-keyring 42.1) does in a child process with
``PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring``:

(a) ``SecretServiceSession(root)``: the ``default`` alias is an unlocked ``login``
    collection. ``set_password``/``get_password``/``delete_password`` work; a missing entry
    gives ``None`` from ``get_password`` and ``keyring.errors.PasswordDeleteError("No such
    password!")`` from ``delete_password``.
(b) ``session.lock()`` afterwards: every operation raises
    ``keyring.errors.KeyringLocked("Failed to unlock the collection!")`` (no ``__cause__``);
    the backend asks the daemon to unlock, the prompt is dismissed, the collection stays locked.
(c) ``SecretServiceSession(root, unlocked=False)``: the daemon runs without ``--unlock``.
    On a fresh root no ``login`` collection exists and ``default`` is unset (``/``): every
    operation raises ``keyring.errors.InitError("Failed to create the collection: Prompt
    dismissed..")`` (two dots, verbatim) whose ``__cause__`` is
    ``secretstorage.exceptions.PromptDismissedException("Prompt dismissed.")``. On a root
    where an unlocked session stored a ``login`` keyring before, the collection exists but
    is locked and every operation raises ``KeyringLocked`` as in (b).
(d) ``SecretServiceSession(root, keyring_daemon=False)``: a bus without any Secret Service.
    ``keyring.get_keyring()`` itself, and so every operation, raises a plain
    ``RuntimeError("The Secret Service daemon is neither running nor activatable through
    D-Bus")`` (not a ``KeyringError``). Without ``PYTHON_KEYRING_BACKEND`` keyring
    auto-selects another backend instead: ``keyrings.alt``'s ``PlaintextKeyring`` when that is
    installed (it is in the test extra), else (per the project notes, not re-checked here)
    ``keyring.backends.fail.Keyring``, whose operations raise
    ``keyring.errors.NoKeyringError``.

``secret-tool lookup`` exits 1 without output both for a missing entry and for a locked
collection, so :meth:`SecretServiceSession.secret_tool_lookup` returns ``None`` for both.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal
from xml.sax.saxutils import escape

import pytest

__all__ = [
    "KEYRING_BACKEND",
    "MISSING_PACKAGES_HINT",
    "REQUIRED_TOOLS",
    "KeyringOperation",
    "KeyringOutcome",
    "SecretServiceError",
    "SecretServiceSession",
    "missing_tools",
    "require_secret_service",
    "secret_service_fixture",
]

REQUIRED_TOOLS: tuple[str, ...] = (
    "dbus-daemon",
    "gnome-keyring-daemon",
    "secret-tool",
    "dbus-send",
)
MISSING_PACKAGES_HINT = "install the Debian/Ubuntu packages dbus, gnome-keyring and libsecret-tools"
KEYRING_BACKEND = "keyring.backends.SecretService.Keyring"

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.02
_DBUS_CALL_TIMEOUT = 5.0
# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107

_SECRETS_NAME = "org.freedesktop.secrets"
_SECRETS_PATH = "/org/freedesktop/secrets"
_SERVICE_IFACE = "org.freedesktop.Secret.Service"
_COLLECTION_IFACE = "org.freedesktop.Secret.Collection"

# Variables a child must not inherit from the developer's session: they would point it at
# the real keyring or bus, or let a prompter open a window.
_UNSAFE_VARIABLES = (
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "GNOME_KEYRING_CONTROL",
    "SSH_AUTH_SOCK",
    "DBUS_SYSTEM_BUS_ADDRESS",
    "XDG_DATA_DIRS",
    "XDG_CONFIG_DIRS",
    "XDG_SESSION_TYPE",
    "XDG_CURRENT_DESKTOP",
)
# Variables the daemons keep from the parent; everything else is dropped.
_DAEMON_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")

_BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>{address}</listen>
  <auth>EXTERNAL</auth>
  <!-- An empty service directory: nothing is ever D-Bus-activated on this bus. -->
  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Run in a child: performs one keyring call read as JSON from stdin and prints the outcome
# as JSON, so the test process never imports keyring or caches a backend.
_KEYRING_PROBE = """\
import json, sys
request = json.load(sys.stdin)
outcome = {"backend": None, "value": None, "error": None}
def describe(exc):
    return None if exc is None else {
        "type": type(exc).__module__ + "." + type(exc).__qualname__,
        "message": str(exc),
    }
try:
    import keyring
    backend = keyring.get_keyring()
    outcome["backend"] = type(backend).__module__ + "." + type(backend).__qualname__
    op = request["op"]
    args = request["args"]
    if op == "get":
        outcome["value"] = keyring.get_password(*args)
    elif op == "set":
        keyring.set_password(*args)
    elif op == "delete":
        keyring.delete_password(*args)
    elif op != "backend":
        raise ValueError("unknown operation: " + op)
except Exception as exc:
    outcome["error"] = describe(exc)
    outcome["error"]["cause"] = describe(exc.__cause__)
print(json.dumps(outcome))
"""

KeyringOperation = Literal["get", "set", "delete", "backend"]


class SecretServiceError(RuntimeError):
    """The private Secret Service could not be started, queried or stopped."""


@dataclass(frozen=True)
class KeyringOutcome:
    """What one ``keyring`` call did in a child process.

    ``error_type`` is the exception's ``module.qualname`` (e.g.
    ``keyring.errors.KeyringLocked``), ``cause_type`` the same for its ``__cause__``.
    """

    backend: str | None
    value: str | None
    error_type: str | None
    error_message: str | None
    cause_type: str | None
    cause_message: str | None

    @property
    def ok(self) -> bool:
        return self.error_type is None


def missing_tools() -> list[str]:
    """Return the programs this helper needs that are not on ``PATH``."""
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def _ci_enabled() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def require_secret_service() -> None:
    """Skip the calling test when the tools are missing, or fail it when ``CI`` is set.

    On CI a missing tool is a broken runner, not an optional feature: a skip there would let
    the real-keyring tests silently stop running. ``CI`` counts as set unless it is empty,
    ``0``, ``false``, ``no`` or ``off``.
    """
    missing = missing_tools()
    if not missing:
        return
    message = (
        f"a real Secret Service keyring needs {', '.join(missing)}, not found on PATH: "
        f"{MISSING_PACKAGES_HINT}"
    )
    if _ci_enabled():
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def _die_with_parent() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes a daemon die with the process that started it.

    Covers a test process killed with SIGKILL, which never reaches :meth:`stop`. Linux only.
    The signal follows the *thread* that forked, so start sessions from the main thread
    (pytest runs fixtures there).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip() or "(empty)"


class SecretServiceSession:
    """A private D-Bus session bus plus gnome-keyring-daemon (secrets component) in a temp folder.

    ``unlocked=True`` (state a): the daemon gets ``--unlock`` and ``password`` on stdin, and
    :meth:`start` returns once the ``default`` alias is an unlocked collection.
    ``unlocked=False`` (state c): no ``--unlock``; :meth:`start` returns once the daemon
    answers on the bus (its ``default`` collection is then absent or locked).
    ``keyring_daemon=False`` (state d): only the bus, no Secret Service on it.
    Call :meth:`lock` on a started session for state (b). See the module docstring for what
    ``keyring`` raises in each state.

    Several sessions may run side by side, each with its own ``root``. A ``root`` may be
    reused by a later session (after :meth:`stop`): the keyring files persist in it.
    """

    def __init__(
        self,
        root: Path,
        *,
        unlocked: bool = True,
        password: str = "test-password",
        keyring_daemon: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        self.unlocked = unlocked
        self.password = password
        self.keyring_daemon = keyring_daemon
        self.home = self.root / "home"
        self.runtime_dir = self.root / "run"
        self.data_home = self.root / "data"
        self.config_home = self.root / "config"
        self.cache_home = self.root / "cache"
        self.control_dir = self.runtime_dir / "keyring"
        self.socket_path = self.root / "bus"
        self.bus_address = f"unix:path={self.socket_path}"
        self._bus_config = self.root / "bus.conf"
        self._service_dir = self.root / "dbus-services"
        self._bus_log = self.root / "dbus-daemon.log"
        self._keyring_log = self.root / "gnome-keyring-daemon.log"
        self._address_file = self.root / "dbus-address"
        self._bus: subprocess.Popen[bytes] | None = None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self.default_collection: str | None = None
        """Object path of the ``default`` collection once started, ``None`` if unset."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the bus and (unless ``keyring_daemon=False``) the keyring daemon.

        Raises :class:`SecretServiceError` naming the daemon logs if the state is not
        reached within ``START_TIMEOUT`` seconds; whatever was started is stopped again.
        """
        if self._bus is not None:
            raise SecretServiceError("this session is already running")
        if missing := missing_tools():
            raise SecretServiceError(f"missing {', '.join(missing)}: {MISSING_PACKAGES_HINT}")
        if len(os.fsencode(self.socket_path)) > _MAX_SOCKET_PATH:
            raise SecretServiceError(
                f"root {self.root} is too long for a Unix socket path; use a shorter one"
            )
        deadline = time.monotonic() + START_TIMEOUT
        try:
            self._prepare_root()
            self._start_bus(deadline)
            if self.keyring_daemon:
                self._start_keyring_daemon()
                self._wait_for_keyring(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill both daemons by PID and wait for them. Safe to call more than once."""
        errors: list[str] = []
        # The keyring daemon first: it exits by itself when the bus goes away, but not
        # necessarily before the bus is reaped.
        for name in ("_daemon", "_bus"):
            proc: subprocess.Popen[bytes] | None = getattr(self, name)
            if proc is None:
                continue
            try:
                _terminate(proc)
            except SecretServiceError as exc:
                errors.append(str(exc))
            finally:
                setattr(self, name, None)
        for log in self._logs:
            log.close()
        self._logs.clear()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if errors:
            raise SecretServiceError("; ".join(errors))

    def __enter__(self) -> SecretServiceSession:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._bus is not None

    @property
    def pids(self) -> tuple[int, ...]:
        """PIDs of the running daemons (bus first)."""
        return tuple(proc.pid for proc in (self._bus, self._daemon) if proc is not None)

    # -- environment ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The variables a child process needs to use this keyring (and only this one)."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.bus_address,
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_DATA_HOME": str(self.data_home),
            "XDG_CONFIG_HOME": str(self.config_home),
            "XDG_CACHE_HOME": str(self.cache_home),
            "PYTHON_KEYRING_BACKEND": KEYRING_BACKEND,
        }

    def child_env(
        self, extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A complete environment for a child: ``base`` (default ``os.environ``) without the
        variables that lead to the developer's own session or keyring, plus :meth:`env`,
        plus ``extra``."""
        source = os.environ if base is None else base
        result = {
            key: value
            for key, value in source.items()
            if key not in _UNSAFE_VARIABLES and not key.startswith("KEYRING_PROPERTY_")
        }
        result.update(self.env())
        if extra:
            result.update(extra)
        return result

    # -- operations -------------------------------------------------------------------------

    def lock(self) -> None:
        """Lock the ``default`` collection (state b), via ``Secret.Service.Lock``."""
        self._require_running()
        collection = self.read_default_alias()
        if collection is None:
            raise SecretServiceError("there is no default collection to lock")
        self._dbus_call(
            _SECRETS_NAME,
            _SECRETS_PATH,
            f"{_SERVICE_IFACE}.Lock",
            f"array:objpath:{collection}",
        )
        if not self.is_locked(collection):
            raise SecretServiceError(f"{collection} is still unlocked after Lock")

    def read_default_alias(self) -> str | None:
        """The object path the ``default`` alias points at, ``None`` when unset."""
        reply = self._dbus_call(
            _SECRETS_NAME, _SECRETS_PATH, f"{_SERVICE_IFACE}.ReadAlias", "string:default"
        )
        path = reply.strip()
        return None if path in {"", "/"} else path

    def is_locked(self, collection: str) -> bool:
        reply = self._dbus_call(
            _SECRETS_NAME,
            collection,
            "org.freedesktop.DBus.Properties.Get",
            f"string:{_COLLECTION_IFACE}",
            "string:Locked",
        )
        return _parse_boolean(reply)

    def has_secret_service(self) -> bool:
        """Whether a process owns ``org.freedesktop.secrets`` on this bus (never activates)."""
        reply = self._dbus_call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{_SECRETS_NAME}",
        )
        return _parse_boolean(reply)

    # -- as a SystemKeyring (tests/support/system_keyring.py) ------------------------------

    backend = KEYRING_BACKEND

    def lookup(self, service: str, username: str) -> str | None:
        return self.secret_tool_lookup(service, username)

    def store(self, service: str, username: str, value: str) -> None:
        """``secret-tool store``, with the attributes keyring's SecretService backend uses."""
        self._require_running()
        result = subprocess.run(
            ["secret-tool", "store", "--label=by hand", "service", service, "username", username],
            input=value,
            env=self.child_env(),
            capture_output=True,
            text=True,
            timeout=_DBUS_CALL_TIMEOUT * 2,
            check=False,
        )
        if result.returncode != 0:
            raise SecretServiceError(f"secret-tool store failed: {result.stderr.strip()}")

    def secret_tool_lookup(self, service: str, username: str) -> str | None:
        """``secret-tool lookup service S username U`` against this keyring.

        ``service``/``username`` are the attribute names keyring's SecretService backend
        stores. Returns ``None`` when secret-tool finds nothing, which includes a locked
        collection; raises :class:`SecretServiceError` on any other failure.
        """
        self._require_running()
        result = subprocess.run(
            ["secret-tool", "lookup", "service", service, "username", username],
            env=self.child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_DBUS_CALL_TIMEOUT * 2,
            check=False,
        )
        if result.returncode == 0:
            return result.stdout.decode()
        if result.returncode == 1 and not result.stderr.strip():
            return None
        raise SecretServiceError(
            f"secret-tool lookup failed with exit status {result.returncode}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )

    def run_python(
        self,
        code: str,
        *args: str,
        input: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -c code *args`` (this interpreter) in :meth:`child_env`."""
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=self.child_env(extra_env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )

    def keyring_call(
        self,
        op: KeyringOperation,
        *args: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> KeyringOutcome:
        """Call ``keyring.{get,set,delete}_password(*args)`` (or only ``get_keyring()`` for
        ``"backend"``) in a child process and report the result or the exception."""
        result = self.run_python(
            _KEYRING_PROBE, input=json.dumps({"op": op, "args": list(args)}), extra_env=extra_env
        )
        if result.returncode != 0:
            raise SecretServiceError(
                f"keyring probe exited with {result.returncode}: {result.stderr.strip()}"
            )
        data = json.loads(result.stdout)
        error = data["error"] or {}
        cause = error.get("cause") or {}
        return KeyringOutcome(
            backend=data["backend"],
            value=data["value"],
            error_type=error.get("type"),
            error_message=error.get("message"),
            cause_type=cause.get("type"),
            cause_message=cause.get("message"),
        )

    # -- internals --------------------------------------------------------------------------

    def _require_running(self) -> None:
        if self._bus is None:
            raise SecretServiceError("the session is not running; call start() first")

    def _prepare_root(self) -> None:
        for directory in (
            self.root,
            self.home,
            self.data_home,
            self.config_home,
            self.cache_home,
            self._service_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)  # XDG_RUNTIME_DIR must be private
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left by a session that did not stop cleanly
        self._bus_config.write_text(
            _BUS_CONFIG.format(
                address=escape(self.bus_address), servicedir=escape(str(self._service_dir))
            )
        )

    def _daemon_env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in _DAEMON_PASSTHROUGH if key in os.environ}
        env.update(self.env())
        del env["PYTHON_KEYRING_BACKEND"]
        return env

    def _open_log(self, path: Path) -> IO[bytes]:
        log = path.open("wb")
        self._logs.append(log)
        return log

    def _start_bus(self, deadline: float) -> None:
        address_out = self._open_log(self._address_file)
        self._bus = subprocess.Popen(
            [
                "dbus-daemon",
                f"--config-file={self._bus_config}",
                "--nofork",
                "--nopidfile",
                f"--address={self.bus_address}",
                "--print-address=1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=address_out,
            stderr=self._open_log(self._bus_log),
            env=self._daemon_env(),
            cwd=self.root,
            preexec_fn=_die_with_parent(),  # see _die_with_parent
        )
        # dbus-daemon prints its address once the socket is listening.
        while not self._address_file.read_bytes().endswith(b"\n"):
            self._check_alive(self._bus, "dbus-daemon", self._bus_log)
            self._check_deadline(deadline, "dbus-daemon did not print its address")
            time.sleep(_POLL_INTERVAL / 4)

    def _start_keyring_daemon(self) -> None:
        command = [
            "gnome-keyring-daemon",
            "--foreground",
            "--components=secrets",
            f"--control-directory={self.control_dir}",
        ]
        if self.unlocked:
            command.insert(2, "--unlock")
        self._daemon = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if self.unlocked else subprocess.DEVNULL,
            stdout=self._open_log(self._keyring_log),
            stderr=subprocess.STDOUT,
            env=self._daemon_env(),
            cwd=self.root,
            preexec_fn=_die_with_parent(),  # see _die_with_parent
        )
        if self.unlocked:
            stdin = self._daemon.stdin
            assert stdin is not None
            # It reads all of stdin as the password: exact bytes, no newline, then EOF.
            try:
                stdin.write(self.password.encode())
            except BrokenPipeError:
                pass  # it exited early: _wait_for_keyring reports that with its log
            finally:
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()

    def _wait_for_keyring(self, deadline: float) -> None:
        assert self._daemon is not None
        want = "an unlocked default collection" if self.unlocked else "the daemon on the bus"
        while True:
            self._check_alive(self._daemon, "gnome-keyring-daemon", self._keyring_log)
            if self._keyring_ready():
                return
            self._check_deadline(deadline, f"gnome-keyring-daemon: no {want}")
            time.sleep(_POLL_INTERVAL)

    def _keyring_ready(self) -> bool:
        # NameHasOwner first: a call to org.freedesktop.secrets before the daemon owns the
        # name would fail (no activation on this bus), or start a second daemon on a bus
        # that allows activation.
        try:
            if not self.has_secret_service():
                return False
            collection = self.read_default_alias()
            self.default_collection = collection
            if not self.unlocked:
                return True
            return collection is not None and not self.is_locked(collection)
        except SecretServiceError:
            return False

    def _check_alive(self, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
        code = proc.poll()
        if code is not None:
            raise SecretServiceError(f"{name} exited with status {code}; log:\n{_tail(log)}")

    def _check_deadline(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise SecretServiceError(
                f"timed out after {START_TIMEOUT:g} s: {what}\n"
                f"dbus-daemon log:\n{_tail(self._bus_log)}\n"
                f"gnome-keyring-daemon log:\n{_tail(self._keyring_log)}"
            )

    def _dbus_call(self, dest: str, path: str, method: str, *args: str) -> str:
        self._require_running()
        command: Sequence[str] = [
            "dbus-send",
            f"--bus={self.bus_address}",
            "--print-reply=literal",
            f"--reply-timeout={int(_DBUS_CALL_TIMEOUT * 1000)}",
            f"--dest={dest}",
            path,
            method,
            *args,
        ]
        try:
            result = subprocess.run(
                command,
                env=self._daemon_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_DBUS_CALL_TIMEOUT + 1,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SecretServiceError(f"dbus-send {method} timed out") from exc
        if result.returncode != 0:
            raise SecretServiceError(f"dbus-send {method} failed: {result.stderr.strip()}")
        return result.stdout


def _parse_boolean(reply: str) -> bool:
    # "   boolean true" or, for a property, "   variant       boolean true"
    words = reply.split()
    if len(words) < 2 or words[-2] != "boolean" or words[-1] not in {"true", "false"}:
        raise SecretServiceError(f"unexpected D-Bus reply: {reply!r}")
    return words[-1] == "true"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                raise SecretServiceError(f"PID {proc.pid} survived SIGKILL") from exc
    if proc.stdin is not None:
        proc.stdin.close()


def secret_service_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecretServiceSession]:
    """Body of a session-scoped fixture: an unlocked private keyring for the whole run.

    In a conftest::

        @pytest.fixture(scope="session")
        def secret_service(tmp_path_factory):
            yield from secret_service_fixture(tmp_path_factory)

    Skips (or fails on CI) through :func:`require_secret_service`. Under xdist each worker
    gets its own session, in its own temp folder.
    """
    require_secret_service()
    root = tmp_path_factory.mktemp("secret-service", numbered=True)
    with SecretServiceSession(root) as session:
        yield session
