"""Reading ``.env``-style files for ``pytest-vault import``.

Accepted: ``NAME=value`` lines, an optional ``export`` prefix, blank lines, ``#``
comments (whole lines, or after an unquoted value following a space), single-quoted
values taken literally, double-quoted values with ``\\n \\t \\" \\\\`` escapes, and quoted
values that span several lines (PEM keys). Errors name the line, never the value.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import VaultError
from .names import check_name

_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([^=\s]+)\s*=\s*(.*)\Z", re.DOTALL)
_DOUBLE_QUOTED_RUN = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(VaultError):
    """A .env file that cannot be read."""


def parse_dotenv(text: str, source: str = ".env file") -> dict[str, str]:
    """The ``NAME -> value`` pairs of a .env text, in file order; later names win."""
    values: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            raise DotenvError(f"Line {number} of {source} is not a NAME=value line.")
        name, rest = match.group(1), match.group(2)
        try:
            check_name(name)
        except VaultError:
            raise DotenvError(
                f"Line {number} of {source}: the name is not a valid secret name "
                "(letters, digits and _, not starting with a digit)."
            ) from None
        quote = rest[:1]
        if quote in ("'", '"'):
            # Scan each line once (a value may span thousands of lines: a PEM bundle).
            segments = [rest[1:]]
            end, resume = _closing_quote(segments[0], quote)
            while end < 0:
                if index >= len(lines):
                    raise DotenvError(
                        f"Line {number} of {source}: the quoted value of {name} is never closed."
                    )
                segments.append("\n" + lines[index])
                index += 1
                end, resume = _closing_quote(segments[-1], quote, resume)
            end += sum(len(segment) for segment in segments[:-1])
            body = "".join(segments)
            trailer = body[end + 1 :].strip()
            if trailer and not trailer.startswith("#"):
                raise DotenvError(
                    f"Line {number} of {source}: unexpected text after the quoted value of {name}."
                )
            raw = body[:end]
            values[name] = _unescape(raw) if quote == '"' else raw
        else:
            values[name] = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
    return values


def _closing_quote(text: str, quote: str, start: int = 0) -> tuple[int, int]:
    """Where the closing quote is in ``text``, from ``start`` (-1: not there); and where to
    resume in the next line's text (``"\\n" + line``): 1 when ``text`` ends in a backslash
    that escapes the line break."""
    if quote == "'":
        return text.find("'", start), 0
    match = _DOUBLE_QUOTED_RUN.match(text, start)
    end = match.end() if match else start
    if end < len(text) and text[end] == '"':
        return end, 0
    return -1, (1 if end < len(text) else 0)


def _unescape(raw: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw, flags=re.DOTALL
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """Read and parse a .env file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DotenvError(f"There is no file {path} to import.") from None
    except (OSError, UnicodeDecodeError):
        raise DotenvError(f"Cannot read {path} as UTF-8 text.") from None
    return parse_dotenv(text, str(path))
