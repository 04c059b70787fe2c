"""``pytest-vault edit``: every secret, decrypted, in ``$VISUAL`` / ``$EDITOR``.

The decrypted document lives in a private temporary file: owner-only (0600), in a folder
of its own (0700, so editors' swap and backup files are private too), on a memory file
system where there is one (``/dev/shm``, ``$XDG_RUNTIME_DIR``). The folder is removed on
every way out: success, an editor that fails or crashes, Ctrl-C, SIGTERM or SIGHUP, an
exception. (Only SIGKILL cannot be caught; on a memory file system the file is then gone
at the next reboot.)

While the editor runs, SIGINT and SIGQUIT are ignored here, as git does: a Ctrl-C belongs
to the editor. If the editor exits non-zero or is killed, nothing is changed (exit 1).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from .cli import Command, say
from .editdoc import DocumentError, parse_document, render_document, with_error, without_error
from .errors import VaultError, VaultUsageError

# mkdtemp makes a private 0700 folder there, so a shared /dev/shm is safe to use.
MEMORY_FOLDERS = ("/dev/shm",)  # noqa: S108
DOCUMENT_NAME = "secrets.toml"


class _Stopped(Exception):
    """SIGTERM or SIGHUP arrived: unwind, so the plaintext is removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def editor_command(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """``$VISUAL``, else ``$EDITOR``, split like a shell would (``code --wait``)."""
    for variable in ("VISUAL", "EDITOR"):
        text = environ.get(variable, "").strip()
        if text:
            try:
                words = shlex.split(text, posix=sys.platform != "win32")
            except ValueError:
                raise VaultUsageError(f"${variable} cannot be read as a command line.") from None
            if words:
                return words
    raise VaultUsageError(
        "Set VISUAL or EDITOR to your editor (for example `export EDITOR=nano`, or "
        "`export EDITOR='code --wait'`)."
    )


def private_folder_base(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """A memory file system the user can write to, else None (the system's temporary
    folder)."""
    candidates = [*MEMORY_FOLDERS, environ.get("XDG_RUNTIME_DIR", "")]
    for folder in candidates:
        if folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


@contextlib.contextmanager
def private_document(text: str) -> Iterator[Path]:
    """A 0600 file holding ``text`` in a new 0700 folder; both removed on the way out."""
    folder = Path(
        tempfile.mkdtemp(prefix="pytest-vault-edit-", dir=private_folder_base(os.environ))
    )
    try:
        path = folder / DOCUMENT_NAME
        _write_private(path, text)
        yield path
    finally:
        _destroy(folder)


def _write_private(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)


def _destroy(folder: Path) -> None:
    # Overwrite before unlinking: on a disk (no memory file system) the blocks would
    # otherwise keep the plaintext until reused.
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                size = path.stat().st_size
                with path.open("r+b") as stream:
                    stream.write(b"\0" * size)
                    stream.flush()
                    os.fsync(stream.fileno())
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _signals_while_editing() -> Iterator[None]:
    """Ctrl-C belongs to the editor; SIGTERM and SIGHUP unwind (cleaning up)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    wanted: dict[int, object] = {signal.SIGINT: signal.SIG_IGN}
    for name in ("SIGQUIT",):
        if hasattr(signal, name):
            wanted[getattr(signal, name)] = signal.SIG_IGN
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            wanted[getattr(signal, name)] = stop
    previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}  # type: ignore[arg-type]
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _default_signals() -> None:
    for name in ("SIGINT", "SIGQUIT"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def run_editor(editor: list[str], path: Path) -> int:
    """Run the editor on ``path``; its exit status (``-N``: killed by signal N)."""
    try:
        # The editor gets the default SIGINT and SIGQUIT back (ignored ones are inherited).
        in_child = None if sys.platform == "win32" else _default_signals
        process = subprocess.Popen([*editor, str(path)], preexec_fn=in_child)  # noqa: PLW1509
    except OSError as exc:
        raise VaultUsageError(
            f"Cannot start the editor {editor[0]}: {exc.strerror}. Check VISUAL or EDITOR."
        ) from None
    try:
        return process.wait()
    except _Stopped:
        with contextlib.suppress(OSError):
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        raise


def cmd_edit(command: Command) -> int:
    from .vault import change_secrets

    editor = editor_command(os.environ)
    vault_file = command.vault_file()
    found = command.found_key()
    original = vault_file.decrypt_all(found.key)
    tokens = dict(vault_file.tokens)
    text = render_document(original, str(command.path))
    error: str | None = None
    try:
        with _signals_while_editing(), private_document(text) as path:
            while True:
                shown = text if error is None else with_error(text, error)
                _write_private(path, shown)
                status = run_editor(editor, path)
                if status != 0:
                    why = (
                        f"was stopped by signal {-status}"
                        if status < 0
                        else f"exited with status {status}"
                    )
                    raise VaultError(f"The editor {why}; nothing was changed.")
                saved = path.read_text(encoding="utf-8", errors="surrogateescape")
                if saved == shown:
                    if error is not None:
                        raise VaultError(
                            "The document was left with its error; nothing was changed."
                        )
                    say("No changes.")
                    return 0
                text = without_error(saved)
                try:
                    edited = parse_document(text)
                except DocumentError as exc:
                    error = str(exc)
                    continue
                break
    except _Stopped as stopped:
        raise VaultError(
            f"Stopped by signal {stopped.signum}; nothing was changed and the decrypted "
            "copy was removed."
        ) from None
    changed = {n: v for n, v in edited.items() if original.get(n) != v}
    removed = sorted(set(original) - set(edited))
    if not changed and not removed:
        say("No changes.")
        return 0
    change_secrets(
        command.path,
        found.key,
        changed,
        removed,
        expected={name: tokens.get(name) for name in [*changed, *removed]},
    )
    added = sorted(set(changed) - set(original))
    replaced = sorted(set(changed) & set(original))
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("added", added), ("changed", replaced), ("removed", removed))
        if names
    ]
    say(f"Saved {command.path}: {'; '.join(parts)}.")
    return 0
