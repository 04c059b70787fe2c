"""Test support: the real keyring the ``real_keyring`` tests run against, chosen by platform.

``PYTEST_VAULT_REAL_KEYRING`` names the keyring backend (``module.Class``) to test; unset, it
is the platform's default backend (`DEFAULT_BACKENDS`):

- Secret Service (Linux, the default there): a private D-Bus bus and gnome-keyring-daemon in
  a temp folder (`secret_service.SecretServiceSession`), never the developer's own keyring,
  checked from outside with ``secret-tool``. Runs without being asked.
- Any other backend (macOS Keychain, Windows Credential Locker): the user's own keyring, as
  the product uses it. Because that writes to the real login keychain, it runs only when
  ``PYTEST_VAULT_REAL_KEYRING`` names the backend (the CI jobs do); entries are checked from
  outside by ``keyring`` itself in a child process (the same interpreter, so macOS grants it
  the item without a dialog), and every entry a test looked at is deleted at the end.

With ``PYTEST_VAULT_REAL_KEYRING`` set, a backend that cannot be loaded, or that keyring does
not use, fails the tests: a skip there would let the run pass without testing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Protocol

import pytest

REAL_KEYRING_VARIABLE = "PYTEST_VAULT_REAL_KEYRING"
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
DEFAULT_BACKENDS = {
    "linux": SECRET_SERVICE_BACKEND,
    "darwin": "keyring.backends.macOS.Keyring",
    "win32": "keyring.backends.Windows.WinVaultKeyring",
}

# Run in a child: one keyring call read as JSON from stdin, the outcome printed as JSON, so
# the test process never imports keyring or caches a backend. "backend" names the backend
# keyring chose and, for a chain, the backends it chains (highest priority first).
_PROBE = """\
import json, sys
request = json.load(sys.stdin)
outcome = {"backend": None, "chain": [], "value": None, "error": None}
def name(obj):
    return type(obj).__module__ + "." + type(obj).__qualname__
try:
    import keyring
    backend = keyring.get_keyring()
    outcome["backend"] = name(backend)
    outcome["chain"] = [name(each) for each in getattr(backend, "backends", [])]
    op, args = request["op"], request["args"]
    if op == "get":
        outcome["value"] = keyring.get_password(*args)
    elif op == "set":
        keyring.set_password(*args)
    elif op == "delete":
        for username in args[1:]:
            try:
                keyring.delete_password(args[0], username)
            except keyring.errors.PasswordDeleteError:
                pass
    elif op != "backend":
        raise ValueError("unknown operation: " + op)
except Exception as exc:
    outcome["error"] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(outcome))
"""


def requested_backend() -> str | None:
    """The backend ``PYTEST_VAULT_REAL_KEYRING`` names, None when unset or empty."""
    return os.environ.get(REAL_KEYRING_VARIABLE, "").strip() or None


def default_backend() -> str | None:
    """This platform's default keyring backend, None on a platform without one here."""
    for prefix, backend in DEFAULT_BACKENDS.items():
        if sys.platform.startswith(prefix):
            return backend
    return None


def backend_name(backend: str) -> str:
    """The name the product prints for a backend: the last part of its module
    (``keyring.backends.macOS.Keyring`` -> ``macOS``), as `keychain.keyring_name` does."""
    return backend.rsplit(".", 2)[-2]


def probe(
    op: str, args: Iterable[str], env: Mapping[str, str], timeout: float = 60.0
) -> dict[str, object]:
    """Run one keyring call in a child process with ``env``; the outcome as a dict."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        input=json.dumps({"op": op, "args": list(args)}),
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"keyring probe exited with {done.returncode}: {done.stderr.strip()}")
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


class SystemKeyring(Protocol):
    """A real keyring, as the tests see it."""

    backend: str  # the ``PYTHON_KEYRING_BACKEND`` value the children use

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A complete environment for a child that uses this keyring."""
        ...

    def lookup(self, service: str, username: str) -> str | None:
        """The stored value, read from outside the product; None when there is none."""
        ...

    def store(self, service: str, username: str, value: str) -> None:
        """Store an entry by hand, from outside the product."""
        ...


class PlatformKeyring:
    """The user's own keyring through ``backend`` (macOS Keychain, Windows Credential Locker).

    ``home`` is the user's real HOME, taken before the per-test isolation replaces it: the
    macOS Security framework finds the login keychain under it.
    """

    def __init__(self, backend: str, home: str | None) -> None:
        self.backend = backend
        self.home = home
        self._touched: set[tuple[str, str]] = set()

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("KEYRING_PROPERTY_")
        }
        env["PYTHON_KEYRING_BACKEND"] = self.backend
        if self.home is not None:
            env["HOME"] = self.home
        env.update(extra or {})
        return env

    def call(self, op: str, *args: str) -> dict[str, object]:
        outcome = probe(op, args, self.child_env())
        if outcome["error"] is not None:
            raise RuntimeError(f"keyring {op} with {self.backend} failed: {outcome['error']}")
        return outcome

    def check_backend(self) -> None:
        """Fail unless keyring loads and uses this backend (a typo must not pass quietly)."""
        try:
            used = self.call("backend")["backend"]
        except RuntimeError as exc:
            pytest.fail(f"{REAL_KEYRING_VARIABLE}={self.backend}: {exc}", pytrace=False)
        if used != self.backend:
            pytest.fail(
                f"{REAL_KEYRING_VARIABLE}={self.backend}, but keyring used {used}", pytrace=False
            )

    def lookup(self, service: str, username: str) -> str | None:
        self._touched.add((service, username))
        value = self.call("get", service, username)["value"]
        return value if isinstance(value, str) else None

    def store(self, service: str, username: str, value: str) -> None:
        self._touched.add((service, username))
        self.call("set", service, username, value)

    def forget(self, service: str, username: str) -> None:
        """Delete this entry at the end of the session (a key id a test created)."""
        self._touched.add((service, username))

    def remove_touched(self) -> None:
        """Delete every entry the tests looked at or stored (missing ones are fine)."""
        services = {service for service, _ in self._touched}
        for service in sorted(services):
            usernames = sorted(name for each, name in self._touched if each == service)
            self.call("delete", service, *usernames)
        self._touched.clear()
