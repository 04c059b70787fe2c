"""The vault file on disk (`fileio`): symlinks, special files, the lock file, the umask,
and what a failed or killed write leaves behind.

Each test here fails without the behaviour it names (issue 13): before, the lock file was
followed through a symbolic link, a symlinked vault was replaced by a regular file, a FIFO
at the vault path hung and a device ended in ``MemoryError``, and ``write_atomic`` changed
the process-wide umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_vault import fileio
from pytest_vault.errors import VaultFileError, VaultFileExistsError, VaultFileMissingError
from pytest_vault.fileio import write_atomic, write_lock
from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="symbolic links, FIFOs and devices as on POSIX"
)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the lock file is never followed through a symbolic link ---------------------------------


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_not_created(
    path: Path, key: VaultKey, tmp_path: Path
) -> None:
    create_vault(path, key)
    before = path.read_bytes()
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    path.with_name(path.name + ".lock").symlink_to(victim)
    with pytest.raises(VaultFileError) as info:
        set_secrets(path, key, {"A": "value-a"})
    message = str(info.value)
    assert "is a symbolic link" in message
    assert "never opens as its lock file" in message
    assert "nothing was changed" in message
    assert not victim.exists()  # O_CREAT through the link would have made it
    assert path.read_bytes() == before


def test_a_symlink_appearing_after_the_check_is_still_not_followed(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``lstat`` check and the ``open`` are two steps; ``O_NOFOLLOW`` closes the gap."""
    path.write_text("x", encoding="utf-8")
    victim = tmp_path / "victim"
    lock = path.with_name(path.name + ".lock")
    real_lstat = os.lstat

    def lstat_then_swap(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if Path(str(target)) == lock and not lock.is_symlink():
            lock.symlink_to(victim)  # the race: a link appears right after the check
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return real_lstat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fileio.os, "lstat", lstat_then_swap)
    with pytest.raises(VaultFileError, match="is a symbolic link"), write_lock(path):
        pass  # pragma: no cover - refused
    assert not victim.exists()


def test_a_fifo_at_the_lock_path_is_refused(path: Path) -> None:
    path.write_text("x", encoding="utf-8")
    os.mkfifo(path.with_name(path.name + ".lock"))
    with (
        fails_instead_of_hanging(),
        pytest.raises(VaultFileError, match=r"is a named pipe \(FIFO\)"),
        write_lock(path),
    ):
        pass  # pragma: no cover - refused


# -- a symlinked vault file is written through to its target ---------------------------------


def test_a_symlinked_vault_is_written_through_and_the_link_stays(
    tmp_path: Path, key: VaultKey
) -> None:
    shared = tmp_path / "shared"
    project = tmp_path / "project"
    shared.mkdir()
    project.mkdir()
    target = shared / "team.vault.toml"
    link = project / "secrets.vault.toml"
    link.symlink_to(Path("..") / "shared" / "team.vault.toml")  # relative, as in a repository

    create_vault(link, key)  # written through the dangling link: the target is created
    set_secrets(link, key, {"API_TOKEN": "token-through-a-link"})

    assert link.is_symlink()
    assert os.readlink(link) == str(Path("..") / "shared" / "team.vault.toml")
    assert target.is_file()
    assert not target.is_symlink()
    assert VaultFile.load(link).decrypt_all(key) == {"API_TOKEN": "token-through-a-link"}
    assert VaultFile.load(target).decrypt_all(key) == {"API_TOKEN": "token-through-a-link"}
    # The temporary file and the lock lived beside the target, and are gone.
    assert files_in(project) == ["secrets.vault.toml"]
    assert files_in(shared) == ["team.vault.toml"]


def test_a_chain_of_links_is_followed_to_the_final_target(tmp_path: Path, key: VaultKey) -> None:
    target = tmp_path / "real.vault.toml"
    middle = tmp_path / "middle.vault.toml"
    link = tmp_path / "secrets.vault.toml"
    middle.symlink_to(target.name)
    link.symlink_to(middle.name)
    create_vault(link, key)
    set_secrets(link, key, {"A": "value-a"})
    assert link.is_symlink()
    assert middle.is_symlink()
    assert VaultFile.load(target).decrypt_all(key) == {"A": "value-a"}


def test_writing_through_a_link_keeps_the_targets_mode(tmp_path: Path) -> None:
    target = tmp_path / "real.vault.toml"
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "secrets.vault.toml"
    link.symlink_to(target.name)
    write_atomic(link, b"new")
    assert link.is_symlink()
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_create_refuses_a_link_whose_target_exists(tmp_path: Path) -> None:
    target = tmp_path / "real.vault.toml"
    target.write_bytes(b"keep me")
    link = tmp_path / "secrets.vault.toml"
    link.symlink_to(target.name)
    with pytest.raises(VaultFileExistsError):
        write_atomic(link, b"new", create=True)
    assert target.read_bytes() == b"keep me"
    assert files_in(tmp_path) == ["real.vault.toml", "secrets.vault.toml"]


def test_a_dangling_link_is_named_when_the_vault_is_missing(tmp_path: Path) -> None:
    link = tmp_path / "secrets.vault.toml"
    link.symlink_to("gone.vault.toml")
    with pytest.raises(VaultFileMissingError, match=r"symbolic link to gone\.vault\.toml"):
        VaultFile.load(link)


# -- FIFOs, devices and folders are clear errors, never a hang ------------------------------

LOAD = textwrap.dedent(
    """
    import resource, sys
    # Without the check, reading /dev/zero grows until memory runs out: cap it at 1 GiB.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from pathlib import Path
    from pytest_vault.errors import VaultFileError
    from pytest_vault.vaultfile import VaultFile
    try:
        VaultFile.load(Path(sys.argv[1]))
    except VaultFileError as error:
        print(error)
    """
)


def load_in_a_child(path: Path) -> str:
    """Load in a child process: without the check, a FIFO blocks it for ever and a device
    makes it read until memory runs out, so the test must be able to stop it."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", LOAD, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path} hung")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_fifo_at_the_vault_path_is_an_error_not_a_hang(path: Path) -> None:
    os.mkfifo(path)
    message = load_in_a_child(path)
    assert message.startswith(f"{path} is a named pipe (FIFO), not a vault file")
    assert "only reads regular files" in message


def test_a_link_to_an_endless_device_is_an_error_not_memory_exhaustion(path: Path) -> None:
    path.symlink_to("/dev/zero")
    assert load_in_a_child(path).startswith(f"{path} is a device, not a vault file")


def test_a_fifo_or_folder_at_the_vault_path_is_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.vault.toml"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.vault.toml"
    folder.mkdir()
    for path, kind in ((fifo, "a named pipe (FIFO)"), (folder, "a folder")):
        with pytest.raises(VaultFileError, match=re.escape(f"it is {kind}, not a regular file")):
            write_atomic(path, b"data")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert folder.is_dir()
    assert files_in(tmp_path) == ["fifo.vault.toml", "folder.vault.toml"]  # no temporary


@contextlib.contextmanager
def fails_instead_of_hanging(seconds: int = 20) -> Iterator[None]:
    """Turn a hang (what a blocking open of a FIFO was) into a failure after ``seconds``."""

    def give_up(signum: int, frame: object) -> None:
        raise AssertionError(f"still blocked after {seconds} seconds")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_special_file_swapped_in_after_the_check_is_not_read(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is checked with ``stat``, then opened without blocking and checked again."""
    os.mkfifo(path)
    regular = os.stat(__file__)
    real_stat = os.stat

    def stat_says_regular(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if Path(str(target)) == path:
            return regular  # the check saw a regular file; a FIFO is there when opened
        return real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fileio.os, "stat", stat_says_regular)
    with fails_instead_of_hanging(), pytest.raises(VaultFileError, match="is a named pipe"):
        fileio.read_vault_bytes(path)


# -- the process-wide umask is never changed -------------------------------------------------


def test_write_atomic_never_touches_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another thread creating a file while the umask is 0 gets a world-writable file:
    the only safe umask change is none (the mode goes to ``open`` and ``fchmod``)."""
    current = os.umask(0o027)
    os.umask(current)

    def no_umask(mask: int) -> int:
        raise AssertionError("write_atomic changed the process-wide umask")

    try:
        os.umask(0o027)
        monkeypatch.setattr(os, "umask", no_umask)
        new = tmp_path / "new.vault.toml"
        write_atomic(new, b"new")
        assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~0o027
        existing = tmp_path / "existing.vault.toml"
        existing.write_bytes(b"old")
        existing.chmod(0o604)  # bits the umask would strip are kept for a replaced file
        write_atomic(existing, b"new")
        assert stat.S_IMODE(existing.stat().st_mode) == 0o604
    finally:
        monkeypatch.undo()
        os.umask(current)


# -- no temporary file outlives a write; leftovers go at the next write -------------------


@pytest.mark.parametrize("failing", ["fsync", "replace", "fchmod"])
@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()])
def test_no_temporary_file_is_left_on_any_error_path(
    path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, error: BaseException
) -> None:
    path.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(fileio.os, failing, fail)
    expected = VaultFileError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_atomic(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert files_in(path.parent) == [path.name]


def test_create_over_an_existing_file_makes_no_temporary_file(path: Path) -> None:
    path.write_bytes(b"old")
    with pytest.raises(VaultFileExistsError):
        write_atomic(path, b"new", create=True)
    assert files_in(path.parent) == [path.name]


def test_init_sweeps_what_a_killed_writer_left(path: Path, key: VaultKey) -> None:
    """A crash leaves a temporary and a lock file; the next write of any kind (here the
    creation of a vault) takes the lock file over and removes both."""
    temporary = path.with_name(f".{path.name}.0123abcd.tmp")
    temporary.write_bytes(b"half written")
    lock = path.with_name(path.name + ".lock")
    lock.write_bytes(b"")
    create_vault(path, key)
    assert files_in(path.parent) == [path.name]


def test_check_on_a_fifo_is_an_error_not_a_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check` re-reads a file it cannot load to list its problems: through the same
    guarded read, or a FIFO would block it after the load refused it."""
    from pytest_vault import cli

    fifo = tmp_path / "secrets.vault.toml"
    os.mkfifo(fifo)
    monkeypatch.chdir(tmp_path)
    with fails_instead_of_hanging():
        status = cli.main(["check", "--file", str(fifo), "--no-keyring"])
    assert status != 0
    assert "is a named pipe (FIFO), not a vault file" in capsys.readouterr().err
