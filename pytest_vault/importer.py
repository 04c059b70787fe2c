"""``pytest-vault import FILE``: add the entries of a .env file, choosing which.

Values are read as python-dotenv reads them (`dotenv.parse_dotenv`). ``--only`` and
``--exclude`` choose entries by name; names the vault already holds are refused unless
``--force`` (replace them) or ``--skip-existing`` (leave them). Entries whose values look
like settings rather than secrets (``LOG_LEVEL=debug``, ``PORT=8080``, ``DEBUG=true``, a
plain URL) are imported too, and named with a hint to leave them out next time.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from .cli import Command, say
from .errors import VaultError, VaultUsageError
from .masking import MIN_MASKED_LENGTH
from .names import check_name, check_value

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "none", "null"})
# A short word: letters (and the separators of words like "en_US" or "us-east-1"), at
# most this long, in one case or capitalised. Random passwords mix cases and digits.
_WORD = re.compile(r"[A-Za-z][A-Za-z]*(?:[_.-][A-Za-z0-9]+)*")
_MAX_WORD_LENGTH = 16


def setting_kind(value: str) -> str | None:
    """Why ``value`` looks like a setting rather than a secret (None: it does not)."""
    text = value.strip()
    if not text:
        return "empty"
    if text.lower() in _BOOLEANS:
        return "a boolean"
    if _NUMBER.fullmatch(text):
        return "a number"
    if (
        len(text) <= _MAX_WORD_LENGTH
        and _WORD.fullmatch(text)
        and (text.islower() or text.isupper() or text.istitle())
    ):
        return "a short word"
    if _plain_url(text):
        return "a URL without credentials"
    return None


def _plain_url(text: str) -> bool:
    if any(char.isspace() for char in text) or "://" not in text:
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return bool(parts.scheme and parts.hostname) and not (
        parts.username or parts.password or parts.query or parts.fragment
    )


def names_option(values: list[str] | None, option: str) -> list[str]:
    """``--only A,B --only C`` as ``[A, B, C]``, each a valid name."""
    names = [name.strip() for value in values or () for name in value.split(",")]
    for name in names:
        try:
            check_name(name)
        except VaultError as exc:
            raise VaultUsageError(f"{option}: {exc}") from None
    return names


def cmd_import(command: Command) -> int:
    from .dotenv import read_dotenv
    from .vault import set_secrets

    args = command.args
    if args.force and args.skip_existing:
        raise VaultUsageError(
            "--force replaces existing names and --skip-existing keeps them: choose one."
        )
    source = Path(args.env_file)
    only = names_option(args.only, "--only")
    exclude = names_option(args.exclude, "--exclude")
    entries = read_dotenv(source)
    unknown = sorted((set(only) | set(exclude)) - set(entries))
    if unknown:
        raise VaultUsageError(
            f"{source} has no entry {', '.join(unknown)} (it has: "
            f"{', '.join(entries) or 'no entries'}); nothing was imported."
        )
    chosen = {
        name: value
        for name, value in entries.items()
        if (not only or name in only) and name not in exclude
    }
    vault_file = command.vault_file()
    existing = sorted(set(chosen) & set(vault_file.tokens))
    if existing and not (args.force or args.skip_existing):
        raise VaultError(
            f"{command.path} already holds {', '.join(existing)}; nothing was imported. "
            "Pass --force to replace them, or --skip-existing to keep them."
        )
    if args.skip_existing:
        chosen = {name: value for name, value in chosen.items() if name not in existing}
    for name, value in chosen.items():
        check_value(name, value)
    if chosen:
        found = command.found_key()
        # Checked again under the lock: a concurrent writer may have added a name since.
        set_secrets(command.path, found.key, chosen, replace=bool(args.force))
    _report(command, source, chosen, existing if args.skip_existing else [])
    return 0


def _report(command: Command, source: Path, chosen: dict[str, str], skipped: list[str]) -> None:
    names = list(chosen)
    say(
        f"Imported {len(names)} secret(s) from {source} into {command.path}"
        + (f": {', '.join(names)}." if names else ".")
    )
    if skipped:
        say(f"Kept {', '.join(skipped)} as the vault holds them (--skip-existing).")
    settings = {name: kind for name, value in chosen.items() if (kind := setting_kind(value))}
    if settings:
        listed = ", ".join(f"{name} ({kind})" for name, kind in settings.items())
        say(
            f"These look like settings rather than secrets: {listed}. If they are, keep "
            "them in your configuration and leave them out of the vault: "
            f"`pytest-vault rm NAME`, and next time `--exclude {','.join(settings)}`."
        )
    short = [name for name, value in chosen.items() if len(value) < MIN_MASKED_LENGTH]
    if short:
        say(
            f"Warning: {', '.join(short)} {'is' if len(short) == 1 else 'are'} shorter than "
            f"{MIN_MASKED_LENGTH} characters, so pytest-vault cannot mask "
            f"{'it' if len(short) == 1 else 'them'} in test output."
        )
