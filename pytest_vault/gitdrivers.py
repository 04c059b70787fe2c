"""The git side of a vault file: ``git-setup``, the merge driver and the diff driver.

``git-setup`` marks the vault file in ``.gitattributes`` and configures two drivers in the
repository's configuration::

    [merge "pytest-vault"]
        name = pytest-vault: merge secrets one by one
        driver = pytest-vault merge --marker-size=%L --path=%P %O %A %B
    [diff "pytest-vault"]
        textconv = pytest-vault textconv

git then runs ``pytest-vault merge`` for every merge, rebase and cherry-pick that touches
the file on both sides (`vaultmerge` does the work), and ``pytest-vault textconv`` to show
the file in ``git diff``, ``git log -p`` and ``git show``: names, the header, and a keyed
fingerprint per value, never a value.

The fingerprint is HMAC-SHA256 over the vault id, the name and the decrypted value, under
a random *fingerprint key* kept in this clone's git folder (``.git/pytest-vault/
fingerprint.key``, readable only by its owner). It is not derived from the vault key, so a
rotation, which re-encrypts every value, leaves every fingerprint unchanged and the diff
shows only the header. Nobody without that file can test a guess against a fingerprint
(a plain hash of a short password could be brute-forced from a CI log). Fingerprints
therefore differ from clone to clone: compare them within one diff, not across machines.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import TamperedError, VaultError, VaultFileError, VaultUsageError
from .fileio import write_atomic, write_lock
from .keyset import KeySet, find_keys
from .vaultfile import VaultFile

if TYPE_CHECKING:
    from .cli import Command
    from .key import VaultKey

DRIVER: Final = "pytest-vault"
ATTRIBUTES: Final = f"merge={DRIVER} diff={DRIVER}"
MERGE_DRIVER: Final = "pytest-vault merge --marker-size=%L --path=%P %O %A %B"
MERGE_NAME: Final = "pytest-vault: merge secrets one by one"
TEXTCONV: Final = "pytest-vault textconv"
FINGERPRINT_HEX: Final = 12


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _emit(text: str) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


# -- git ------------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run git; a missing git is a plain error, never a traceback."""
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise VaultUsageError("git is not installed (or not on PATH).") from None


def repository_root(folder: Path) -> Path | None:
    """The top of the git work tree ``folder`` is in, else None."""
    done = git("rev-parse", "--show-toplevel", cwd=folder)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def is_configured(vault_path: Path) -> bool:
    """Whether git already merges and diffs ``vault_path`` with the pytest-vault drivers."""
    root = repository_root(vault_path.parent)
    if root is None:
        return False
    relative = _relative(vault_path, root)
    return _attributes_set(root, relative) and _config(root, "merge.pytest-vault.driver") != ""


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _attributes_set(root: Path, relative: str) -> bool:
    done = git("check-attr", "merge", "diff", "--", relative, cwd=root)
    return done.stdout.count(f": {DRIVER}\n") == 2


def _config(root: Path, name: str) -> str:
    return git("config", "--get", name, cwd=root).stdout.strip()


def _pattern(relative: str) -> str:
    """``relative`` as a .gitattributes pattern that matches exactly that path."""
    escaped = "".join("\\" + c if c in "*?[]\\!#" else c for c in relative)
    if any(c.isspace() or c == '"' for c in escaped):
        return '"' + escaped.replace('"', '\\"') + '"'
    return escaped


# -- git-setup ------------------------------------------------------------------------------


def cmd_git_setup(command: Command) -> int:
    path = command.path
    root = repository_root(path.parent) if path.parent.is_dir() else None
    if root is None:
        raise VaultUsageError(
            f"{path.parent} is not inside a git repository; run `git init` there first."
        )
    setup_repository(path, root)
    return 0


def setup_repository(path: Path, root: Path) -> None:
    """Add the .gitattributes line and the driver configuration; safe to repeat."""
    relative = _relative(path, root)
    attributes = root / ".gitattributes"
    if _attributes_set(root, relative):
        _say(f".gitattributes already marks {relative} for the pytest-vault drivers.")
    else:
        try:
            old = attributes.read_text(encoding="utf-8") if attributes.exists() else ""
        except (OSError, UnicodeDecodeError):
            raise VaultFileError(f"Cannot read {attributes}.") from None
        separator = "" if not old or old.endswith("\n") else "\n"
        line = f"{_pattern(relative)} {ATTRIBUTES}\n"
        write_atomic(attributes, (old + separator + line).encode("utf-8"))
        _say(f"Added `{line.strip()}` to {os.path.relpath(attributes)} (commit it).")
        if not _attributes_set(root, relative):
            _say(
                f"Warning: git still does not apply the drivers to {relative}: another "
                "attributes file overrides that line (see `git check-attr -a`)."
            )
    for name, value in (
        ("merge.pytest-vault.name", MERGE_NAME),
        ("merge.pytest-vault.driver", MERGE_DRIVER),
        ("diff.pytest-vault.textconv", TEXTCONV),
    ):
        done = git("config", name, value, cwd=root)
        if done.returncode != 0:
            raise VaultError(f"`git config {name}` failed: {done.stderr.strip()}")
    _say(
        "Configured the pytest-vault merge and diff drivers in this repository's git "
        "configuration (each clone runs `pytest-vault git-setup` once)."
    )


def offer_setup(path: Path, ask: bool) -> None:
    """After ``init``: configure git on request, or say how (nothing outside a repository)."""
    root = repository_root(path.parent)
    if root is None or is_configured(path):
        return
    if ask:
        from . import terminal

        question = f"Configure git to merge and diff {path.name} secret by secret?"
        if terminal.ask_yes_no(question, default=True):
            setup_repository(path, root)
            return
    _say("Run `pytest-vault git-setup` so that git merges and diffs the vault secret by secret.")


# -- merge ----------------------------------------------------------------------------------


def cmd_merge(command: Command) -> int:
    args = command.args
    favor = "ours" if args.ours else "theirs" if args.theirs else None
    if len(args.versions) == 3:
        base, ours, theirs = (Path(v) for v in args.versions)
        shown = args.path or args.versions[1]
        return merge_files(
            command, (base, ours, theirs), shown=shown, marker_size=args.marker_size, favor=favor
        )
    if args.versions:
        raise VaultUsageError(
            "`merge` takes three files (BASE OURS THEIRS, as git passes them) or none."
        )
    return merge_in_progress(command, favor)


def merge_files(
    command: Command,
    versions: tuple[Path, Path, Path],
    *,
    shown: str,
    marker_size: int = 7,
    favor: str | None = None,
) -> int:
    """Merge base, ours, theirs into ours; 0 when merged, 1 with conflicts left."""
    from .vaultmerge import merge_vaults

    base_path, ours_path, theirs_path = versions
    raw = {side: _read(p) for side, p in (("b", base_path), ("o", ours_path), ("t", theirs_path))}
    try:
        base = VaultFile.parse(Path(shown), raw["b"]) if raw["b"].strip() else None
        ours = VaultFile.parse(Path(shown), raw["o"])
        theirs = VaultFile.parse(Path(shown), raw["t"])
    except VaultFileError as exc:
        return _merge_lines(versions, shown=shown, marker_size=marker_size, problem=exc)

    def find(vault_id: str, key_ids: Iterable[str]) -> KeySet:
        return find_keys(command.lookup, vault_id, key_ids)

    outcome = merge_vaults(base, ours, theirs, find, marker_size=marker_size, favor=favor)
    write_atomic(ours_path, outcome.text.encode("utf-8"))
    for note in outcome.notes:
        _say(f"{shown}: {note}")
    if outcome.clean:
        return 0
    _say(
        f"{shown}: {', '.join(outcome.conflicts)} left in conflict (between the "
        "<<<<<<< ours and >>>>>>> theirs lines). Keep one line of each (lines of other "
        "secrets all stay), or settle them all with `pytest-vault merge --ours` or "
        "`--theirs`; then run `pytest-vault check` and `git add` the file."
    )
    return 1


def merge_in_progress(command: Command, favor: str | None) -> int:
    """Merge the vault file again from git's index (stages 1, 2, 3) into the work tree."""
    path = command.path
    root = repository_root(path.parent) if path.parent.is_dir() else None
    if root is None:
        raise VaultUsageError(f"{path.parent} is not inside a git repository.")
    relative = _relative(path, root)
    stages = {}
    for stage in (1, 2, 3):
        done = git("show", f":{stage}:{relative}", cwd=root)
        stages[stage] = done.stdout.encode("utf-8") if done.returncode == 0 else None
    if stages[2] is None or stages[3] is None:
        raise VaultUsageError(
            f"git is not merging {relative} (no unmerged versions in the index); `merge` "
            "without files re-runs a merge in progress."
        )
    with tempfile.TemporaryDirectory(prefix="pytest-vault-merge-") as folder:
        files = []
        for stage, name in ((1, "base"), (2, "ours"), (3, "theirs")):
            file = Path(folder) / name
            file.write_bytes(stages[stage] or b"")
            files.append(file)
        with write_lock(path):
            versions = (files[0], files[1], files[2])
            status = merge_files(command, versions, shown=relative, favor=favor)
            write_atomic(path, files[1].read_bytes())
    if status == 0:
        _say(f"Merged {relative}; check it with `pytest-vault check`, then `git add {relative}`.")
    return status


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise VaultUsageError(f"Cannot read {path}: {exc.strerror}.") from None


def _merge_lines(
    versions: tuple[Path, Path, Path], *, shown: str, marker_size: int, problem: VaultFileError
) -> int:
    """A side is not a valid vault file: merge line by line, as git would have."""
    base, ours, theirs = versions
    labels = ["-L", "ours", "-L", "base", "-L", "theirs"]
    done = git(
        "merge-file",
        f"--marker-size={marker_size}",
        *labels,
        str(ours),
        str(base),
        str(theirs),
        cwd=Path.cwd(),
    )
    _say(f"{shown}: one side is not a valid vault file, so it was merged line by line. {problem}")
    return 0 if done.returncode == 0 else 1


# -- textconv -------------------------------------------------------------------------------


def cmd_textconv(command: Command) -> int:
    path = Path(command.args.textconv_file)
    data = _read(path)
    _emit("\n".join(describe(path, data, command)) + "\n")
    return 0


def describe(path: Path, data: bytes, command: Command) -> list[str]:
    """The text git diffs in place of the vault file: never a value, never a key."""
    try:
        vault_file = VaultFile.parse(path, data)
    except VaultFileError as exc:
        from .filelint import safe_lines

        reason = str(exc).replace(str(path), "the file")
        text = data.decode("utf-8", "replace")
        return [f"# pytest-vault textconv: not a valid vault file ({reason})", *safe_lines(text)]
    header = vault_file.header
    lines = [
        "[vault]",
        f"id = {header.vault_id}",
        f"key_id = {header.key_id}",
        f"retired_key_ids = {', '.join(header.retired_key_ids) or '(none)'}",
        f"format = {header.format}, cipher = {header.cipher}",
        "",
        "[secrets]",
    ]
    keys = find_keys(command.lookup, header.vault_id, [header.key_id])
    if keys.get(header.key_id) is None:
        lines[-1:-1] = [f"# no key {header.key_id} found: sealed values shown by digest", ""]
        return lines + [f"{name} = {_sealed(vault_file.tokens[name])}" for name in vault_file.names]
    fingerprint_key = _fingerprint_key()
    retired: KeySet | None = None
    for name in vault_file.names:
        token = vault_file.tokens[name]
        value = _open(vault_file, keys.keys[header.key_id], name, token)
        note = ""
        if value is None:
            if retired is None:
                retired = find_keys(command.lookup, header.vault_id, header.retired_key_ids)
            for key_id, key in retired.keys.items():
                value = _open(vault_file, key, name, token)
                if value is not None:
                    note = f"  # under the retired key {key_id}: run `pytest-vault repair`"
                    break
        if value is None:
            lines.append(f"{name} = {_sealed(token)}  # does not decrypt")
            continue
        mac = hmac.new(fingerprint_key, digestmod=hashlib.sha256)
        for part in (b"pytest-vault fingerprint 1", header.vault_id.encode(), name.encode()):
            mac.update(part + b"\0")
        mac.update(value.encode("utf-8"))
        lines.append(f"{name} = fp:{mac.hexdigest()[:FINGERPRINT_HEX]}{note}")
    return lines


def _open(vault_file: VaultFile, key: VaultKey, name: str, token: str) -> str | None:
    try:
        return vault_file.cipher(key).open(name, token, vault_file.path)
    except TamperedError:
        return None


def _sealed(token: str) -> str:
    return "sealed:" + hashlib.sha256(token.encode("ascii")).hexdigest()[:FINGERPRINT_HEX]


def _fingerprint_key() -> bytes:
    """This clone's fingerprint key, created on first use; outside git, one for this run."""
    done = git("rev-parse", "--git-common-dir", cwd=Path.cwd())
    if done.returncode != 0 or not done.stdout.strip():
        return secrets.token_bytes(32)
    folder = (Path.cwd() / done.stdout.strip()) / "pytest-vault"
    path = folder / "fingerprint.key"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".fingerprint.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(secrets.token_hex(32) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temp, path)  # atomic "create if absent": a concurrent textconv may win
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return secrets.token_bytes(32)
