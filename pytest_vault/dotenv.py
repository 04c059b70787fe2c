"""``.env`` files: read them exactly as python-dotenv does, and write them back.

`dotenv_values` gives the same result as ``dotenv.dotenv_values`` of python-dotenv 1.x
(a differential test holds the two together): the same grammar (``export`` prefix, quoted
and unquoted keys and values, inline comments, multi-line quoted values, the escapes of
each quoting style) and the same ``${NAME}`` / ``${NAME:-default}`` expansion, from the
file's earlier entries first, then the environment. python-dotenv is not a dependency: its
grammar is reimplemented here.

`parse_dotenv` is what ``pytest-vault import`` uses: those values, but a line python-dotenv
would skip with a warning, a name without ``=`` or a name that is not a valid secret name
is an error naming the line, never the value.

`render_dotenv` writes values (``pytest-vault export``) so that python-dotenv and
`parse_dotenv` read them back unchanged.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from .errors import VaultError
from .names import is_valid_name

# python-dotenv's regular expressions (dotenv/parser.py), unchanged.
_MULTILINE_WHITESPACE = re.compile(r"\s*", re.MULTILINE)
_WHITESPACE = re.compile(r"[^\S\r\n]*")
_EXPORT = re.compile(r"(?:export[^\S\r\n]+)?")
_SINGLE_QUOTED_KEY = re.compile(r"'([^']+)'")
_UNQUOTED_KEY = re.compile(r"([^=\#\s]+)")
_EQUAL_SIGN = re.compile(r"(=[^\S\r\n]*)")
_SINGLE_QUOTED_VALUE = re.compile(r"'((?:\\.|[^'\\])*)'", re.DOTALL)
_DOUBLE_QUOTED_VALUE = re.compile(r'"((?:\\.|[^"\\])*)"', re.DOTALL)
_UNQUOTED_VALUE = re.compile(r"([^\r\n]*)")
_COMMENT = re.compile(r"(?:[^\S\r\n]*#[^\r\n]*)?")
_END_OF_LINE = re.compile(r"[^\S\r\n]*(?:\r\n|\n|\r|$)")
_REST_OF_LINE = re.compile(r"[^\r\n]*(?:\r|\n|\r\n)?")
_DOUBLE_QUOTE_ESCAPES = re.compile(r"\\[\\'\"abfnrtv]")
_SINGLE_QUOTE_ESCAPES = re.compile(r"\\[\\']")
_INLINE_COMMENT = re.compile(r"\s+#.*")
_NEWLINE = re.compile(r"\r\n|\n|\r")
_VARIABLE = re.compile(r"\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}")


class DotenvError(VaultError):
    """A .env file that cannot be imported."""


class Binding(NamedTuple):
    """One statement of a .env file: a name and its raw value, or a line that failed."""

    name: str | None
    value: str | None  # None: a name without `=`
    line: int
    error: bool


class _Unreadable(Exception):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self.at = 0
        self.line = 1

    def has_next(self) -> bool:
        return self.at < len(self.text)

    def peek(self, count: int) -> str:
        return self.text[self.at : self.at + count]

    def read(self, pattern: re.Pattern[str]) -> tuple[str | None, ...]:
        match = pattern.match(self.text, self.at)
        if match is None:
            raise _Unreadable
        self.line += len(_NEWLINE.findall(self.text, self.at, match.end()))
        self.at = match.end()
        return match.groups()


def _decode_escapes(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda match: codecs.decode(match.group(0), "unicode-escape"), text)


def _value(reader: _Reader) -> str:
    char = reader.peek(1)
    if char == "'":
        (raw,) = reader.read(_SINGLE_QUOTED_VALUE)
        return _decode_escapes(_SINGLE_QUOTE_ESCAPES, raw or "")
    if char == '"':
        (raw,) = reader.read(_DOUBLE_QUOTED_VALUE)
        return _decode_escapes(_DOUBLE_QUOTE_ESCAPES, raw or "")
    if char in ("", "\n", "\r"):
        return ""
    (raw,) = reader.read(_UNQUOTED_VALUE)
    return _INLINE_COMMENT.sub("", raw or "").rstrip()


def _binding(reader: _Reader) -> Binding:
    reader.read(_MULTILINE_WHITESPACE)
    line = reader.line
    if not reader.has_next():
        return Binding(None, None, line, error=False)
    try:
        reader.read(_EXPORT)
        name: str | None = None
        if reader.peek(1) == "'":
            (name,) = reader.read(_SINGLE_QUOTED_KEY)
        elif reader.peek(1) != "#":
            (name,) = reader.read(_UNQUOTED_KEY)
        reader.read(_WHITESPACE)
        value: str | None = None
        if reader.peek(1) == "=":
            (equals,) = reader.read(_EQUAL_SIGN)
            # `KEY= # comment` is empty; `KEY=#x` is the value "#x" (python-dotenv's rule).
            value = "" if len(equals or "") > 1 and reader.peek(1) == "#" else _value(reader)
        reader.read(_COMMENT)
        reader.read(_END_OF_LINE)
        return Binding(name, value, line, error=False)
    except _Unreadable:
        # Like python-dotenv: skip the rest of the line where reading failed.
        reader.read(_REST_OF_LINE)
        return Binding(None, None, line, error=True)


def bindings(text: str) -> Iterator[Binding]:
    """Every statement of a .env text, in order (python-dotenv's ``parse_stream``)."""
    reader = _Reader(text)
    while reader.has_next():
        yield _binding(reader)


def expand(value: str, known: Mapping[str, str | None]) -> str:
    """``${NAME}`` and ``${NAME:-default}`` replaced from ``known`` (missing: the default)."""

    def replace(match: re.Match[str]) -> str:
        default = match["default"] if match["default"] is not None else ""
        found = known.get(match["name"], default)
        return found if found is not None else ""

    return _VARIABLE.sub(replace, value)


def dotenv_values(
    text: str, environ: Mapping[str, str] | None = None, *, interpolate: bool = True
) -> dict[str, str | None]:
    """What python-dotenv's ``dotenv_values`` returns for a file holding ``text``.

    ``text`` as Python reads a file in text mode (universal newlines). Names without ``=``
    map to None; lines python-dotenv cannot read are skipped, as it does.
    """
    environment: Mapping[str, str] = os.environ if environ is None else environ
    values: dict[str, str | None] = {}
    for binding in bindings(text):
        if binding.name is None:
            continue
        value = binding.value
        if interpolate and value is not None:
            value = expand(value, {**environment, **values})
        values[binding.name] = value
    return values


def parse_dotenv(
    text: str, source: str = ".env file", environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The ``NAME -> value`` pairs of a .env text, in file order; later names win.

    Values are python-dotenv's; anything python-dotenv would skip or leave without a value
    is an error here (an import must not quietly lose a secret). Errors name the line.
    """
    environment: Mapping[str, str] = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for binding in bindings(text):
        where = f"Line {binding.line} of {source}"
        if binding.error:
            raise DotenvError(
                f"{where} is not a NAME=value line python-dotenv can read (look for "
                "stray words or an unclosed quote); nothing was imported."
            )
        if binding.name is None:
            continue
        if not is_valid_name(binding.name):
            raise DotenvError(
                f"{where}: the name is not a valid secret name (letters, digits and _, "
                "not starting with a digit)."
            )
        if binding.value is None:
            # Not named: a line without `=` is as likely a value pasted on its own.
            raise DotenvError(
                f"{where} has no `=`, so it is not a NAME=value line (not repeated here in "
                "case it is a value); nothing was imported."
            )
        values[binding.name] = expand(binding.value, {**environment, **values})
    return values


def read_dotenv(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read and parse a .env file (UTF-8, universal newlines, as python-dotenv opens it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DotenvError(f"There is no file {path} to import.") from None
    except (OSError, UnicodeDecodeError):
        raise DotenvError(f"Cannot read {path} as UTF-8 text.") from None
    return parse_dotenv(text, str(path), environ)


# -- writing ----------------------------------------------------------------------------------

_ESCAPED = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}
_TO_ESCAPE = re.compile(r'[\\"\n\r\t\a\b\f\v]|\$(?=\{)')


def quote_value(value: str) -> str:
    """``value`` as a double-quoted .env value that python-dotenv reads back unchanged.

    Line breaks and the other characters python-dotenv unescapes are escaped. ``${`` would
    start a variable, and double quotes have no escape for ``$``, so it is written as
    ``${:-$}{``: a variable with an empty name (which no environment holds) whose default
    is ``$``.
    """
    return '"' + _TO_ESCAPE.sub(lambda m: _ESCAPED.get(m.group(), "${:-$}"), value) + '"'


def render_dotenv(values: Mapping[str, str]) -> str:
    """One ``NAME="value"`` line per secret."""
    return "".join(f"{name}={quote_value(value)}\n" for name, value in values.items())
