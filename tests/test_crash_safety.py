"""Crash safety (issue 6): a write killed or failing at any step loses nothing.

Every fault is injected into a *child* process, without any test hook in the product: the
child is a small script that replaces ``os`` in the ``pytest_vault.fileio`` namespace
by a proxy counting ``fsync``/``replace``/``link``/``fdopen`` calls, makes the N-th call
kill the process (SIGKILL, so no ``finally`` runs) or fail (``EIO``; ``ENOSPC`` comes from
the kernel itself, by pointing the temporary file's descriptor at ``/dev/full``), then runs
``pytest_vault.cli.main`` for ``set``, ``rm``, ``rotate``, ``reset --yes``, ``import`` or
``init``. The child also records the exact bytes the command meant to write.

Afterwards the vault file is byte for byte the old or the new version (the one the step
implies: before the rename old, after it new), it opens with the key of that version (for
``rotate``/``reset`` the new key is printed before the file is replaced, and captured),
and the next write succeeds and removes the temporary and lock files the dead writer left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from projects import Project

from pytest_vault.errors import VaultError
from pytest_vault.fileio import write_lock
from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGKILL, /dev/full and fcntl locks are POSIX"
)

ENV = "PYTEST_VAULT_KEY"
OLD_VALUES = {"API_TOKEN": "api-token-crash-0001", "DB_PASSWORD": "db-password-crash-0002"}
NEW_VALUE = "new-value-crash-0003"
IMPORTED = {"IMPORTED_ONE": "imported-value-0004", "IMPORTED_TWO": "imported-value-0005"}

CHILD = textwrap.dedent(
    '''
    """Run one console command with a fault injected into the vault file's writes."""
    import errno
    import json
    import os
    import signal
    import sys
    import types

    import pytest_vault.fileio as fileio
    from pytest_vault import cli

    plan = json.loads(sys.argv[1])
    action, target, nth = plan["fault"].split(":")
    nth = int(nth)
    counts = {"fsync": 0, "replace": 0, "link": 0, "fdopen": 0}


    def die():
        os.kill(os.getpid(), signal.SIGKILL)


    class FailingStream:
        """A temporary file whose writes fail (EIO) or stop half-way (SIGKILL)."""

        def __init__(self, stream):
            self._stream = stream

        def write(self, data):
            if action == "eio":
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            self._stream.write(data[: len(data) // 2])
            self._stream.flush()
            die()

        def __getattr__(self, name):
            return getattr(self._stream, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._stream.__exit__(*exc)


    def wrap(name, real):
        def patched(*args, **kwargs):
            counts[name] += 1
            hit = name == target and counts[name] == nth
            if hit and action == "kill-before":
                die()
            if hit and action == "eio" and name != "fdopen":
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            if hit and action == "enospc":
                # The kernel's own "disk full": every write to /dev/full fails with ENOSPC.
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, args[0])
                os.close(full)
            result = real(*args, **kwargs)
            if hit and action in ("eio", "kill-mid") and name == "fdopen":
                return FailingStream(result)
            if hit and action == "kill-after":
                die()
            return result

        return patched


    class OsProxy(types.ModuleType):
        def __getattr__(self, name):
            return getattr(os, name)


    proxy = OsProxy("os")
    for name in counts:
        setattr(proxy, name, wrap(name, getattr(os, name)))
    fileio.os = proxy

    real_write_atomic = fileio.write_atomic


    def recording_write_atomic(path, data, **kwargs):
        with open(plan["record"], "wb") as record:
            record.write(data)
        return real_write_atomic(path, data, **kwargs)


    fileio.write_atomic = recording_write_atomic
    sys.exit(cli.main(plan["argv"]))
    '''
)

# Each step of write_atomic (temporary file, write, fsync, chmod, rename, folder fsync),
# and whether the vault holds the old or the new version when the process dies there.
KILLS = {
    "kill-mid:fdopen:1": "old",  # half the data written to the temporary file
    "kill-before:fsync:1": "old",  # temporary file written, not yet fsynced
    "kill-after:fsync:1": "old",  # temporary file fsynced, not yet renamed
    "kill-before:replace:1": "old",  # just before the rename
    "kill-after:replace:1": "new",  # renamed, the folder not yet fsynced
    "kill-after:fsync:2": "new",  # everything done but releasing the lock
}
FAILURES = {
    "enospc:fdopen:1": "No space left on device",
    "eio:fdopen:1": "Input/output error",
    "eio:fsync:1": "Input/output error",
    "eio:replace:1": "Input/output error",
}
COMMANDS = ("set", "rm", "rotate", "reset", "import")


@dataclass
class Crash:
    returncode: int
    stdout: str
    stderr: str
    intended: bytes | None  # what the command meant to write, if it got that far


def run_child(project: Project, work: Path, fault: str, argv: list[str], stdin: bytes) -> Crash:
    script = work / "crashing_child.py"
    if not script.exists():
        script.write_text(CHILD, encoding="utf-8")
    record = work / "intended.bin"
    record.unlink(missing_ok=True)
    plan = {"fault": fault, "argv": argv, "record": str(record)}
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(plan)],
        cwd=project.root,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Crash(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        record.read_bytes() if record.exists() else None,
    )


def argv_and_expected(command: str, work: Path) -> tuple[list[str], bytes, dict[str, str] | None]:
    """The command line, its standard input, and the values of the new version (None:
    the values stay and only the key changes)."""
    if command == "set":
        return (
            ["set", "NEW_SECRET", "--no-keyring"],
            NEW_VALUE.encode(),
            {
                **OLD_VALUES,
                "NEW_SECRET": NEW_VALUE,
            },
        )
    if command == "rm":
        return ["rm", "API_TOKEN", "--no-keyring"], b"", {"DB_PASSWORD": OLD_VALUES["DB_PASSWORD"]}
    if command == "rotate":
        return ["rotate", "--no-keyring"], b"", None
    if command == "reset":
        return ["reset", "--yes", "--no-keyring"], b"", {}
    env_file = work / "import.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in IMPORTED.items()), encoding="utf-8")
    return ["import", str(env_file), "--no-keyring"], b"", {**OLD_VALUES, **IMPORTED}


def leftovers(project: Project) -> list[str]:
    return sorted(p.name for p in project.root.iterdir() if p.name != "pytest.ini")


@pytest.fixture
def old_key(project: Project, monkeypatch: pytest.MonkeyPatch) -> VaultKey:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(project.vault_file, key, OLD_VALUES)
    monkeypatch.setenv(ENV, key.text())
    return key


def printed_key(crash: Crash) -> VaultKey | None:
    lines = crash.stdout.split()
    return VaultKey.parse(lines[0]) if lines else None


def assert_next_write_succeeds(project: Project, key: VaultKey) -> None:
    """The next writer is not blocked by the dead one's lock and sweeps its temporaries."""
    set_secrets(project.vault_file, key, {"AFTER_CRASH": "written-after-the-crash"})
    assert leftovers(project) == ["secrets.vault.toml"]
    assert VaultFile.load(project.vault_file).decrypt_all(key)["AFTER_CRASH"] == (
        "written-after-the-crash"
    )


@pytest.mark.parametrize("fault", KILLS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_write_killed_at_any_step_leaves_the_old_or_the_new_file(
    project: Project, old_key: VaultKey, tmp_path: Path, command: str, fault: str
) -> None:
    old_bytes = project.vault_file.read_bytes()
    argv, stdin, new_values = argv_and_expected(command, tmp_path)
    crash = run_child(project, tmp_path, fault, argv, stdin)

    assert crash.returncode == -signal.SIGKILL, crash.stderr
    assert crash.intended is not None, "the fault was never reached"
    assert crash.intended != old_bytes
    now = project.vault_file.read_bytes()
    expected_version = KILLS[fault]
    assert now == (old_bytes if expected_version == "old" else crash.intended)

    # Only the dead writer's lock file and (before the rename) its temporary file remain.
    left = leftovers(project)
    assert "secrets.vault.toml.lock" in left
    temporaries = [n for n in left if n.startswith(".secrets.vault.toml.") and n.endswith(".tmp")]
    assert sorted([*temporaries, "secrets.vault.toml", "secrets.vault.toml.lock"]) == left
    assert len(temporaries) == (1 if expected_version == "old" else 0)

    new_key = printed_key(crash)
    if command in ("rotate", "reset"):
        # The new key is handed over (printed) before the file is replaced.
        assert new_key is not None
        assert new_key.key_id != old_key.key_id
    else:
        assert new_key is None
    vault_file = VaultFile.load(project.vault_file)
    if expected_version == "old":
        assert vault_file.decrypt_all(old_key) == OLD_VALUES
        key = old_key
    else:
        key = new_key or old_key
        assert vault_file.header.key_id == key.key_id
        assert vault_file.decrypt_all(key) == (OLD_VALUES if new_values is None else new_values)
    assert_next_write_succeeds(project, key)


@pytest.mark.parametrize("fault", FAILURES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_failing_write_is_a_clear_error_and_changes_nothing(
    project: Project, old_key: VaultKey, tmp_path: Path, command: str, fault: str
) -> None:
    old_bytes = project.vault_file.read_bytes()
    argv, stdin, _ = argv_and_expected(command, tmp_path)
    crash = run_child(project, tmp_path, fault, argv, stdin)

    assert crash.returncode == 1, crash.stderr
    assert crash.intended is not None
    assert "Traceback" not in crash.stderr
    message = crash.stderr.strip().splitlines()[-1]
    assert message.startswith("pytest-vault: Cannot write "), crash.stderr
    assert FAILURES[fault] in message
    assert "it was not changed" in message
    for secret in (old_key.text(), *OLD_VALUES.values(), NEW_VALUE, *IMPORTED.values()):
        assert secret not in crash.stderr
    assert project.vault_file.read_bytes() == old_bytes
    assert leftovers(project) == ["secrets.vault.toml"]  # no temporary, no lock file
    assert_next_write_succeeds(project, old_key)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_fsync_failing_after_the_rename_is_not_reported_as_unchanged(
    project: Project, old_key: VaultKey, tmp_path: Path, command: str
) -> None:
    """Once the new file is renamed into place the write has happened: claiming "it was not
    changed" then (e.g. on a file system that cannot fsync folders) would make a user throw
    away a printed new key that the file now needs."""
    argv, stdin, new_values = argv_and_expected(command, tmp_path)
    crash = run_child(project, tmp_path, "eio:fsync:2", argv, stdin)

    assert crash.returncode == 0, crash.stderr
    assert "not changed" not in crash.stderr
    assert project.vault_file.read_bytes() == crash.intended
    key = printed_key(crash) or old_key
    values = VaultFile.load(project.vault_file).decrypt_all(key)
    assert values == (OLD_VALUES if new_values is None else new_values)
    assert leftovers(project) == ["secrets.vault.toml"]


@pytest.mark.parametrize(
    ("fault", "created"),
    [
        ("kill-before:fsync:1", False),
        ("kill-before:link:1", False),
        ("kill-after:link:1", True),  # the file exists, its key was not printed yet
        ("eio:fsync:1", False),
        ("enospc:fdopen:1", False),
    ],
)
def test_init_killed_or_failing_leaves_no_vault_or_an_empty_one(
    project: Project, tmp_path: Path, fault: str, created: bool
) -> None:
    crash = run_child(project, tmp_path, fault, ["init", "--no-keyring"], b"")
    assert crash.intended is not None
    if created:
        # A vault whose key nobody saw: it holds no secret, and `reset --yes` (which needs
        # no key) replaces it, sweeping the hard-linked temporary the dead `init` left.
        assert crash.returncode == -signal.SIGKILL
        assert project.vault_file.read_bytes() == crash.intended
        assert VaultFile.load(project.vault_file).tokens == {}
        reset = project.cli("reset", "--yes", "--no-keyring")
        assert reset.returncode == 0, reset.stderr
        assert leftovers(project) == ["secrets.vault.toml"]
        key = VaultKey.parse(reset.stdout)
    else:
        assert crash.returncode in (-signal.SIGKILL, 1)
        assert not project.vault_file.exists()
        if crash.returncode == 1:
            assert "Cannot write" in crash.stderr
            assert "Traceback" not in crash.stderr
            assert leftovers(project) == []
        key = VaultKey.parse(project.init())
    assert_next_write_succeeds(project, key)


# -- the lock is the operating system's: a dead holder releases it ---------------------------

HOLDER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from pytest_vault.fileio import write_lock

    with write_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.read()  # hold the lock until the parent kills us
    """
)


def start_holder(project: Project, how: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(project.vault_file), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "locked\n"
    return holder


def test_a_lock_holder_that_dies_does_not_block_the_next_writer(
    project: Project, old_key: VaultKey
) -> None:
    holder = start_holder(project, "die")
    assert holder.wait(timeout=30) == -signal.SIGKILL
    assert (project.root / "secrets.vault.toml.lock").exists()  # left behind, but unlocked
    result = project.cli("set", "NEXT", input="next-value-0006", env={ENV: old_key.text()})
    assert result.returncode == 0, result.stderr
    assert leftovers(project) == ["secrets.vault.toml"]
    assert VaultFile.load(project.vault_file).decrypt_all(old_key)["NEXT"] == "next-value-0006"


def test_a_living_lock_holder_blocks_until_it_is_killed(
    project: Project, old_key: VaultKey
) -> None:
    holder = start_holder(project, "hold")
    try:
        with (
            pytest.raises(VaultError, match="Another pytest-vault command"),
            write_lock(project.vault_file, timeout=0.3),
        ):
            pass  # pragma: no cover - the lock is held
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    with write_lock(project.vault_file, timeout=30):
        pass
    assert_next_write_succeeds(project, old_key)


@pytest.mark.parametrize("name", ["secrets.vault.toml", "s[1].vault.toml"])
def test_the_next_write_sweeps_only_this_vaults_temporaries(tmp_path: Path, name: str) -> None:
    """Temporaries are ``.<name>.<random>.tmp``: a vault whose name has glob characters
    gets its own swept, and another vault's (whose name extends this one's) are kept."""
    key = VaultKey.generate()
    vault, longer = tmp_path / name, tmp_path / f"{name}.x.toml"
    for path in (vault, longer):
        create_vault(path, key)
    dead = tmp_path / f".{name}.k2j_x9ab.tmp"
    in_flight = tmp_path / f".{name}.x.toml.q8w7e6r5.tmp"
    dead.write_text("half written", encoding="utf-8")
    in_flight.write_text("another vault's write in progress", encoding="utf-8")
    set_secrets(vault, key, {"A": "value-a"})
    assert not dead.exists()
    assert in_flight.exists()
