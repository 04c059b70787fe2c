"""``pytest-vault export``: print decrypted secrets for scripts, as .env lines or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .cli import Command, emit
from .errors import MissingSecretError
from .names import check_name
from .vault import open_vault

FORMATS = ("dotenv", "json")


def chosen_secrets(command: Command, names: Sequence[str]) -> dict[str, str]:
    """Every secret, or those ``names`` (each checked, missing ones an error), by name."""
    for name in names:
        check_name(name)
    vault_file = command.vault_file()
    missing = sorted(set(names) - set(vault_file.tokens))
    if missing:
        raise MissingSecretError(
            f"The vault {command.path} has no secret {', '.join(missing)} (it holds: "
            f"{', '.join(vault_file.names) or 'no secrets'}); nothing was printed."
        )
    found = command.found_key()
    values = dict(open_vault(vault_file, found.key, found.source).items())
    return {name: values[name] for name in (sorted(set(names)) or sorted(values))}


def cmd_export(command: Command) -> int:
    values = chosen_secrets(command, command.args.names)
    if command.args.format == "json":
        emit(json.dumps(values, indent=2, ensure_ascii=False))
    elif values:
        from .dotenv import render_dotenv

        emit(render_dotenv(values).removesuffix("\n"))
    return 0
