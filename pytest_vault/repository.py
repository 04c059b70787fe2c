"""What git knows about a path: its work tree, whether it is ignored, other vault files.

Used only where it matters (a key file in use, a vault about to be created), so the cost
of running git is paid then and never in an ordinary run. Without git, or outside a
repository, every question answers "nothing known".
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

VAULT_SUFFIX = ".vault.toml"


def work_tree(path: Path) -> Path | None:
    """The top folder of the git work tree holding ``path`` (found by its ``.git``)."""
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    environ = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environ,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


def unignored_in_work_tree(path: Path) -> Path | None:
    """The work tree ``path`` lies in when git does not ignore it there; else None."""
    root = work_tree(path)
    if root is None:
        return None
    done = _git(root, "check-ignore", "-q", "--no-index", "--", str(path))
    # 0: ignored; 1: not ignored; anything else (no git, not a repository): unknown.
    return root if done is not None and done.returncode == 1 else None


def other_vault_files(path: Path) -> list[str]:
    """Vault files other than ``path``: in its folder's parents up to the work tree's top,
    anywhere git tracks one, or anywhere in the repository's history."""
    path = path.absolute()
    root = work_tree(path)
    found: list[str] = []

    def add(text: str) -> None:
        if text not in found:
            found.append(text)

    top = root if root is not None else path.parent
    folder = path.parent
    while True:
        for candidate in sorted(folder.glob(f"*{VAULT_SUFFIX}")):
            if candidate != path and candidate.is_file():
                add(str(candidate))
        if folder in (top, folder.parent):
            break
        folder = folder.parent
    if root is None:
        return found
    pattern = f"*{VAULT_SUFFIX}"
    tracked = _git(root, "ls-files", "--", pattern, f"**/{pattern}")
    here = _relative(path, root)
    if tracked is not None and tracked.returncode == 0:
        for line in tracked.stdout.splitlines():
            if line and line != here:
                add(line)
    history = _git(root, "log", "--all", "--format=", "--name-only", "--", pattern, f"**/{pattern}")
    if history is not None and history.returncode == 0:
        for line in history.stdout.splitlines():
            if line and line != here and line not in found:
                add(f"{line} (in git's history)")
    return found


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
