"""The fast reader of a vault file in exactly the layout `VaultFile.render` writes.

``tomllib`` is pure Python and slow to import, and the report header reads the vault file
in every pytest run; for a file pytest-vault wrote itself, plain string checks give the
same document. Anything else returns None and goes to ``tomllib``.

Its differential tests, beside it in ``tests/test_canonical_reader.py`` (and the property
tests in ``tests/test_fuzz.py``), check that it never reads a file differently from
``tomllib``: this reader exists only as long as they do.
"""

from __future__ import annotations

from typing import Any

from .cipher import CIPHER
from .names import is_valid_name
from .vaultfile import COMMENT, FORMAT_VERSION, is_base64_text, is_key_id, is_vault_id

_SECRETS_TABLE = "\n\n[secrets]\n"


def canonical_document(text: str) -> dict[str, Any] | None:
    """What tomllib reads from ``text`` if `VaultFile.render` wrote it, else None (ask tomllib).

    Only a valid file in exactly that layout (tomli_w's) is read here: every value is then
    plain hex or base64 between double quotes, which TOML reads as written.
    Anything else (other spacing or comments, CRLF, quoted keys, escapes, a name twice, a
    malformed id or value) goes to tomllib and `_validate`, which say what is wrong.
    """
    # Offsets rather than slices: the file is read at every pytest start-up, and each
    # slice of it would be one more copy of a file of up to megabytes.
    start = len(COMMENT) if text.startswith(COMMENT) else 0
    middle = text.find(_SECRETS_TABLE, start)
    if middle < 0:
        return None
    lines = text[start:middle].split("\n")
    if (
        len(lines) < 6
        or lines[0] != "[vault]"
        or lines[1] != f"format = {FORMAT_VERSION}"
        or lines[4] != f'cipher = "{CIPHER}"'
    ):
        return None
    vault_id, key_id = _quoted(lines[2], "id = "), _quoted(lines[3], "key_id = ")
    if not is_vault_id(vault_id) or not is_key_id(key_id):
        return None
    if lines[5:] == ["retired_key_ids = []"]:
        retired = []
    elif len(lines) > 7 and lines[5] == "retired_key_ids = [" and lines[-1] == "]":
        retired = [line[5:-2] for line in lines[6:-1]]
        if not all(
            line.startswith('    "') and line.endswith('",') and is_key_id(line[5:-2])
            for line in lines[6:-1]
        ):
            return None
    else:
        return None
    secrets_table: dict[str, str] = {}
    body = middle + len(_SECRETS_TABLE)
    if body < len(text):
        if text[-1] != "\n":
            return None
        for line in text[body:-1].split("\n"):
            name, separator, rest = line.partition(' = "')
            if not (separator and rest[-1:] == '"' and is_valid_name(name)):
                return None
            token = rest[:-1]
            if not is_base64_text(token) or name in secrets_table:
                return None  # a name twice: tomllib refuses the file, with its own message
            secrets_table[name] = token
    vault = {
        "format": FORMAT_VERSION,
        "id": vault_id,
        "key_id": key_id,
        "cipher": CIPHER,
        "retired_key_ids": retired,
    }
    return {"vault": vault, "secrets": secrets_table}


def _quoted(line: str, prefix: str) -> str | None:
    """The text between the double quotes of ``prefix"text"``, else None."""
    if line.startswith(prefix + '"') and line.endswith('"') and len(line) > len(prefix) + 1:
        return line[len(prefix) + 1 : -1]
    return None
