"""The vault file on disk: safe reads, atomic writes, and the lock that serialises writers.

- Reads refuse anything but a regular file before opening it (a FIFO would block, a
  device could be endless), and open it without blocking in case it was swapped meanwhile.
- Writes go to a temporary file in the target's folder, are flushed and fsynced, then
  renamed over the target: a reader sees the old file or the new one, never a mix. A vault
  path that is a symbolic link is written *through*: the link stays, its target is
  replaced (in the target's folder, so the rename stays atomic).
- The lock file ``<vault>.lock`` is held (``flock``/``msvcrt.locking``) for one
  read-modify-write. It is never followed through a symbolic link. The operating system
  releases the lock of a holder that dies; the next writer takes over the file it left and
  removes the temporary files of dead writers, so crash leftovers last until the next write.
- The process-wide ``umask`` is never changed (other threads may be creating files).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .errors import (
    VaultError,
    VaultFileError,
    VaultFileExistsError,
    VaultFileMissingError,
    shown_path,
)

LOCK_TIMEOUT_SECONDS: Final = 60.0

# Flags that do not exist everywhere (Windows lacks the first three): 0 leaves them out.
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)
_NEW_FILE_MODE: Final = 0o666  # the kernel applies the umask, as for any new file


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"  # pragma: no cover - doors, whiteouts and the like


# -- reading ------------------------------------------------------------------------------


def read_vault_bytes(path: Path) -> bytes:
    """The bytes of the vault file at ``path``; every problem is a `VaultFileError`."""
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
            try:
                info = os.fstat(fd)
                kind = _kind(info.st_mode)  # swapped since the stat?
                if kind is None:
                    return _read_all(fd, info.st_size)
            finally:
                os.close(fd)
    except FileNotFoundError:
        if os.path.islink(path):
            raise VaultFileMissingError(
                f"There is no vault file at {shown_path(path)}: it is a symbolic link to "
                f"{os.readlink(path)}, which does not exist."
            ) from None
        raise VaultFileMissingError(f"There is no vault file at {shown_path(path)}.") from None
    except OSError as exc:
        raise VaultFileError(f"Cannot read the vault file {path}: {exc.strerror}.") from None
    if kind == "a folder":
        raise VaultFileError(f"{path} is a folder, not a vault file.")
    raise VaultFileError(
        f"{path} is {kind}, not a vault file; pytest-vault only reads regular files. "
        "Remove it, or point the vault_file setting at the vault."
    )


def _read_all(fd: int, size: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, max(size + 1, 65536)):
        chunks.append(chunk)
    return b"".join(chunks)


# -- writing ------------------------------------------------------------------------------


def write_target(path: Path) -> Path:
    """The file a write of ``path`` replaces: the final target if ``path`` is a symbolic
    link (so the link survives the write), else ``path`` itself."""
    if os.path.islink(path):
        return Path(os.path.realpath(path))
    return path


def write_atomic(path: Path, data: bytes, *, create: bool = False) -> None:
    """Replace (or, with ``create``, newly create) ``path`` with ``data``, all or nothing.

    A replaced file keeps its permission bits; a new one gets the usual ``0o666`` less the
    umask. No temporary file outlives a failed write.
    """
    target = write_target(path)
    folder = target.parent
    if not folder.is_dir():
        raise VaultFileError(f"Cannot write {path}: the folder {folder} does not exist.")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise VaultFileError(f"Cannot write {path}: {exc.strerror}; it was not changed.") from None
    else:
        if create:
            raise VaultFileExistsError(f"{path} already exists; it was not changed.")
        kind = _kind(info.st_mode)
        if kind is not None:
            raise VaultFileError(
                f"Cannot write {path}: it is {kind}, not a regular file; it was not changed."
            )
        mode = stat.S_IMODE(info.st_mode)
    temp: Path | None = None
    try:
        fd, temp = _create_temporary(target, mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if create:
            try:
                os.link(temp, target)  # atomic "create if absent"
            except FileExistsError:
                raise VaultFileExistsError(f"{path} already exists; it was not changed.") from None
        else:
            os.replace(temp, target)
    except OSError as exc:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise VaultFileError(f"Cannot write {path}: {exc.strerror}; it was not changed.") from None
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise
    # The new file is in place: nothing after this point may report the write as failed
    # ("not changed" would be false, and after a rotation the user would drop the new key).
    # A leftover hard link is swept by the next write; a folder that cannot be fsynced
    # (some file systems refuse) only weakens durability across a power cut.
    if create:
        with contextlib.suppress(OSError):
            temp.unlink()
    with contextlib.suppress(OSError):
        _fsync_folder(folder)


def _create_temporary(target: Path, mode: int | None) -> tuple[int, Path]:
    """A new, empty ``.<name>.<random>.tmp`` beside ``target``, open for writing.

    The permission bits are given to ``open`` (new file: the umask applies) or set on the
    descriptor (replaced file: its own bits), never through the process-wide umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    while True:
        # No dot in the random part: `_remove_stale_temporaries` relies on it.
        temp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(temp, flags, _NEW_FILE_MODE if mode is None else 0o600)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        break
    if mode is not None:
        try:
            if sys.platform == "win32":  # pragma: no cover - no fchmod before Python 3.13
                os.chmod(temp, mode)
            else:
                os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
    return fd, temp


def _fsync_folder(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - folders cannot be opened there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the write lock -----------------------------------------------------------------------


def lock_path_of(path: Path) -> Path:
    """The lock file of the vault at ``path`` (beside the file a write replaces)."""
    target = write_target(path)
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def write_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the vault's lock file (``<file>.lock``) for one read-modify-write.

    The holder removes the lock file when it is done. A lock file that was removed while
    we waited for it is stale: lock the new one instead. Taking the lock also removes the
    temporary files of writers that died.
    """
    lock_path = lock_path_of(path)
    deadline = time.monotonic() + timeout
    while True:
        fd = _open_lock_file(path, lock_path)
        if not _try_lock(fd, deadline):
            os.close(fd)
            raise VaultError(
                f"Another pytest-vault command has been changing {path} for over "
                f"{timeout:.0f} seconds; try again when it is done."
            )
        try:
            current = os.lstat(lock_path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if current.st_ino == os.fstat(fd).st_ino and stat.S_ISREG(current.st_mode):
            break
        os.close(fd)
    try:
        _remove_stale_temporaries(write_target(path))
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)


def _open_lock_file(path: Path, lock_path: Path) -> int:
    """Open (creating it if needed) the lock file; never through a link, never a special
    file. Where ``O_NOFOLLOW`` does not exist, the ``lstat`` check alone guards."""
    refusal = (
        f"Cannot lock {path}: {lock_path} is {{}}, which pytest-vault never opens as its lock "
        "file. Remove it and try again; nothing was changed."
    )
    try:
        existing = os.lstat(lock_path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise VaultFileError(f"Cannot lock {path}: {exc.strerror}.") from None
    if existing is not None:
        if stat.S_ISLNK(existing.st_mode):
            raise VaultFileError(refusal.format("a symbolic link"))
        kind = _kind(existing.st_mode)
        if kind is not None:
            raise VaultFileError(refusal.format(kind))
    flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    try:
        fd = os.open(lock_path, flags, 0o600)
    except FileNotFoundError:
        raise VaultFileError(
            f"Cannot write {path}: the folder {lock_path.parent} does not exist."
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(lock_path):
            raise VaultFileError(refusal.format("a symbolic link")) from None
        raise VaultFileError(f"Cannot lock {path}: {exc.strerror}.") from None
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:  # swapped for a special file between the lstat and the open
        os.close(fd)
        raise VaultFileError(refusal.format(kind))
    return fd


def _try_lock(fd: int, deadline: float) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    import fcntl

    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _remove_stale_temporaries(target: Path) -> None:
    # We hold the lock, so any temporary file of this vault belongs to a dead writer. The
    # name is escaped ("s[1].toml"), and the random part has no dot: ".v.toml.x.toml.*.tmp"
    # is a temporary file of the vault "v.toml.x.toml", which is not ours to remove.
    import glob  # only under the lock, never when a vault file is merely read

    prefix = f".{target.name}."
    for stale in target.parent.glob(glob.escape(prefix) + "*.tmp"):
        if "." not in stale.name[len(prefix) : -len(".tmp")]:
            with contextlib.suppress(OSError):
                stale.unlink()
