"""``pytest-vault check``: is the vault file whole, and does every value open as it should?

Beyond the strict parser's verdict it says *where* a file is broken (conflict markers and
duplicated secrets, with line numbers and names, read by `filelint`), gives advice that
fits a merge in progress, and finds values left under a retired key (`repair`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NoKeyError, VaultFileError, WrongKeyError
from .keychain import FoundKey, find_key

if TYPE_CHECKING:
    from .cli import Command


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_check(command: Command) -> int:
    from .repair import describe_retired, diagnose

    path = command.path
    try:
        vault_file = command.vault_file()
    except VaultFileError:
        problems = _lenient_problems(path)
        if not problems:
            raise
        for problem in problems:
            _say(f"{path}: {problem}")
        _say(resolution_advice(path))
        return 1
    _say(f"{path}: format, header and {len(vault_file.tokens)} value(s) well-formed.")
    found: FoundKey | None = None
    wrong: WrongKeyError | None = None
    try:
        found = find_key(vault_file.header, command.lookup)
    except NoKeyError:
        pass
    except WrongKeyError as exc:  # e.g. only the key from before a rotation: still look
        wrong = exc
    diagnosis = diagnose(vault_file, found.key if found else None, command.lookup)
    problems = describe_retired(diagnosis)
    if found is not None:
        retired_where = (
            f", nor with a retired key found in {diagnosis.keys.where_looked()}"
            if vault_file.header.retired_key_ids
            else ""
        )
        problems.extend(
            f"The value of {name} in {path} does not decrypt although the key is right "
            f"(from {found.source}){retired_where}: it was edited, moved from another name or "
            f"vault, or damaged, or is under a retired key not at hand. Set it again with "
            f"`pytest-vault set {name}`."
            for name in diagnosis.unopened
        )
    for problem in problems:
        _say(problem if problem.startswith("The value of") else f"{path}: {problem}")
    if diagnosis.retired:
        _say(
            "Run `pytest-vault repair` to re-encrypt them under the current key (it needs the "
            f"current key and the retired one, e.g. both in {command.lookup.key_env})."
        )
    if wrong is not None:
        _say(str(wrong))
    if problems or wrong is not None:
        return 1
    if found is None:
        _say("No key found, so the values were not decrypted.")
        return 0
    _say(f"Every value decrypts with the key from {found.source}.")
    return 0


def _lenient_problems(path: Path) -> list[str]:
    from .fileio import read_vault_bytes
    from .filelint import read_leniently

    try:  # never path.read_bytes(): a FIFO at the vault path would block for ever
        text = read_vault_bytes(path).decode("utf-8")
    except (VaultFileError, UnicodeDecodeError):
        return []
    return read_leniently(text).problems()


def resolution_advice(path: Path) -> str:
    """What to do about conflicts in ``path``, depending on whether git is merging it."""
    if _being_merged(path):
        return (
            f"git is merging {path.name}: run `pytest-vault merge` to merge it again secret "
            "by secret (with the keys at hand), and settle what still conflicts by keeping one "
            "line per secret or with `pytest-vault merge --ours` / `--theirs` (which keep the "
            "other side's other changes); then run `pytest-vault check` and "
            f"`git add {path.name}`."
        )
    return (
        "Each line in a conflict is one whole secret: keep one line per secret (lines of "
        "different secrets all stay), delete the marker lines, then run `pytest-vault check`."
    )


def _being_merged(path: Path) -> bool:
    from .gitdrivers import git

    try:
        done = git("ls-files", "--unmerged", "--", path.name, cwd=path.parent)
    except Exception:
        return False
    return done.returncode == 0 and bool(done.stdout.strip())
