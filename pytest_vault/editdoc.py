"""The TOML document ``pytest-vault edit`` shows: every secret as ``NAME = "value"``.

`render_document` writes values so that ``tomllib`` reads back exactly the same text
(multi-line values as multi-line basic strings, with every carriage return and control
character escaped, since TOML turns a raw CRLF into LF); `parse_document` reads what the
user saved and says what is wrong in words that never quote a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import VaultError
from .names import MAX_VALUE_BYTES, is_valid_name

ERROR_MARK = "# !! "
_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_SINGLE_LINE = re.compile(r'[\\"\x00-\x08\x0a-\x1f\x7f]')
# In a multi-line string: backslashes, control characters but tab and line feed, and the
# quotes that would close the string (one followed by another, or the very last one).
_MULTI_LINE = re.compile(r'[\\\x00-\x08\x0b-\x1f\x7f]|"(?=")|"\Z')


class DocumentError(VaultError):
    """The saved document cannot be applied; the message goes on top of it."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04X}"


def toml_string(value: str) -> str:
    """``value`` as a TOML string: multi-line when it has line breaks."""
    if "\n" not in value:
        return '"' + _SINGLE_LINE.sub(_escape, value) + '"'
    # The line break right after the opening quotes is not part of the value (TOML).
    return '"""\n' + _MULTI_LINE.sub(_escape, value) + '"""'


def header(path: str) -> str:
    return (
        f"# The secrets of {path}, decrypted. This file is private and is removed when the\n"
        "# editor closes. Change, add or remove lines; save and close to apply, or close\n"
        '# without saving to change nothing. One secret per entry: NAME = "value", or\n'
        '# NAME = """ on one line, then the lines of a multi-line value, then """.\n\n'
    )


def render_document(values: Mapping[str, str], path: str) -> str:
    return header(path) + "".join(
        f"{name} = {toml_string(value)}\n" for name, value in values.items()
    )


def with_error(text: str, error: str) -> str:
    """``text`` with ``error`` as a comment block on top (replacing an earlier one)."""
    block = "".join(
        f"{ERROR_MARK}{line}\n"
        for line in [
            f"Not saved: {error}",
            "Fix it and save, or close without changing anything to give up.",
        ]
    )
    return block + without_error(text)


def without_error(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(ERROR_MARK):
        lines.pop(0)
    return "".join(lines)


def parse_document(text: str) -> dict[str, str]:
    """The ``NAME -> value`` pairs of a saved document; `DocumentError` when invalid."""
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages name a position, never the text there.
        raise DocumentError(f"this is not valid TOML: {exc}.") from None
    values: dict[str, str] = {}
    for name, value in document.items():
        if not is_valid_name(name):
            raise DocumentError(
                "a name is not a valid secret name (use letters, digits and _, not starting "
                "with a digit): " + (name if len(name) <= 40 else name[:40] + "...")
            )
        if isinstance(value, dict):
            raise DocumentError(f'{name} is a table; a secret is a string: {name} = "..."')
        if not isinstance(value, str):
            raise DocumentError(
                f"the value of {name} is not a string (it is a {type(value).__name__}); "
                f'put it in quotes: {name} = "..."'
            )
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_VALUE_BYTES:
            raise DocumentError(
                f"the value of {name} is {size:,} bytes; a secret holds at most "
                f"{MAX_VALUE_BYTES:,} bytes (1 MiB)"
            )
        values[name] = value
    return values
