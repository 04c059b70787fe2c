"""``pytest-vault scan [PATHS...]``: look for the vault's secrets and for vault keys in files.

By default the files git tracks or has staged in this repository (its index); with
PATHS, those files and the files under those folders. Binary files and the vault file are
skipped. Prints ``path:line: <vault:NAME>`` per finding on standard output (``<vault:key>``
for a vault key), never the value, and exits 1 when anything was found.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .cli import Command, emit, say
from .errors import NoKeyError, VaultFileMissingError, VaultUsageError
from .scanner import Scanner


def git_files(folder: Path) -> list[Path]:
    """The files in git's index (tracked or staged) of the repository around ``folder``."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached"],
            cwd=top,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        raise VaultUsageError(
            "This is not a git repository (or git is not installed): name the files or "
            "folders to scan, as in `pytest-vault scan .`."
        ) from None
    root = Path(top)
    names = dict.fromkeys(os.fsdecode(name) for name in listed.split(b"\0") if name)
    return [root / name for name in names]


def walk(paths: list[str]) -> Iterator[Path]:
    """The files named, and those under the folders named (not following links, no .git)."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if d != ".git")
                for file in sorted(files):
                    yield Path(folder) / file
        elif path.exists():
            yield path
        else:
            raise VaultUsageError(f"There is no file or folder {name} to scan.")


def _secret_values(command: Command) -> dict[str, str] | None:
    """The decrypted secrets, or None when there is no vault or no key."""
    from .vault import open_vault

    if not command.path.exists():
        say(f"There is no vault file at {command.path}, so only vault keys were looked for.")
        return None
    try:
        vault_file = command.vault_file()
        found = command.found_key()
    except (NoKeyError, VaultFileMissingError) as exc:
        say(f"{exc} Only vault keys were looked for; the secrets' values were not checked.")
        return None
    return dict(open_vault(vault_file, found.key, found.source).items())


def cmd_scan(command: Command) -> int:
    files = list(walk(command.args.paths)) if command.args.paths else git_files(Path.cwd())
    scanner = Scanner(_secret_values(command))
    vault = _identity(command.path)
    here = Path.cwd()
    scanned = 0
    findings = 0
    for path in files:
        if not path.is_file() or path.is_symlink() or _identity(path) == vault:
            continue
        scanned += 1
        for finding in scanner.scan_file(path, _shown(path, here)):
            emit(str(finding))
            findings += 1
    if findings:
        say(
            f"Found {findings} secret value(s) or vault key(s) in the {scanned} file(s) "
            "scanned. Remove them (and, if they were ever committed, change those secrets "
            "or rotate the key)."
        )
        return 1
    say(f"No secret value or vault key in the {scanned} file(s) scanned.")
    return 0


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _shown(path: Path, here: Path) -> str:
    try:
        return os.path.relpath(path, here)
    except ValueError:  # another drive (Windows)
        return str(path)
