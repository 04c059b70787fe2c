"""A lenient, line-by-line reading of a vault file that the strict parser refuses.

`VaultFile.parse` refuses a file with merge conflict markers or a secret written twice,
as it must. To say *where* and *which secrets*, this module reads the lines loosely:
conflict regions (``<<<<<<<`` ... ``=======`` ... ``>>>>>>>``, with git's optional
``|||||||`` base section) and the secret names inside them, and names defined more than
once, each with its line numbers. It never interprets a value and never returns one.
"""

from __future__ import annotations

import hashlib
from typing import Final

_MARKERS: Final = {"<": "start", "|": "base", "=": "middle", ">": "end"}


def _marker(line: str) -> str | None:
    """The kind of conflict marker ``line`` is (7 or more of one character), else None."""
    head = line[:1]
    if head not in _MARKERS:
        return None
    run = len(line) - len(line.lstrip(head))
    if run < 7:
        return None
    rest = line[run:]
    if head == "=":
        return "middle" if not rest.strip() else None
    return _MARKERS[head] if not rest or rest[0] in " \t" else None


def secret_name(line: str) -> str | None:
    """The name a ``NAME = ...`` line defines (bare names only, as pytest-vault writes them)."""
    name, separator, _ = line.partition("=")
    name = name.strip()
    if not separator or not name or not (name.isascii() and name.isidentifier()):
        return None
    return name


class Conflict:
    """One conflict region: its marker lines and the secrets inside it."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.middle: int | None = None
        self.end: int | None = None
        self.names: list[str] = []


class Reading:
    """What a lenient reading found."""

    def __init__(self) -> None:
        self.conflicts: list[Conflict] = []
        #: name -> the line numbers defining it in [secrets], outside conflict regions.
        self.definitions: dict[str, list[int]] = {}

    @property
    def duplicates(self) -> dict[str, list[int]]:
        return {name: lines for name, lines in self.definitions.items() if len(lines) > 1}

    def problems(self) -> list[str]:
        """One sentence per problem, with line numbers and names."""
        found: list[str] = []
        for conflict in self.conflicts:
            markers = [str(n) for n in (conflict.start, conflict.middle, conflict.end) if n]
            over = (
                f"around the secret(s) {', '.join(dict.fromkeys(conflict.names))}"
                if conflict.names
                else "around the header"
            )
            ending = "" if conflict.end else " (its closing >>>>>>> line is missing)"
            found.append(
                f"Line {conflict.start}: unresolved merge conflict markers {over} (marker "
                f"lines {', '.join(markers)}){ending}."
            )
        for name, lines in sorted(self.duplicates.items()):
            found.append(
                f"{name} is defined {len(lines)} times (lines {', '.join(map(str, lines))}): "
                "a secret has one line; keep the one you want and delete the other(s)."
            )
        return found


def read_leniently(text: str) -> Reading:
    """Find the conflict regions and duplicated names of a vault file's text."""
    reading = Reading()
    section = ""
    current: Conflict | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        kind = _marker(line)
        if kind == "start":
            current = Conflict(number)
            reading.conflicts.append(current)
            continue
        if kind in ("base", "middle") and current is not None:
            if kind == "middle":
                current.middle = number
            continue
        if kind == "end" and current is not None:
            current.end = number
            current = None
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            continue
        name = secret_name(line)
        if name is None or section != "[secrets]":
            continue
        if current is not None:
            current.names.append(name)
        else:
            reading.definitions.setdefault(name, []).append(number)
    return reading


def safe_lines(text: str) -> list[str]:
    """The lines of a file that cannot be parsed, safe to show (textconv of a broken file).

    Conflict markers, table headers and the header table are kept; a secret's line keeps
    its name and shows a digest of its sealed value, or nothing when the value does not
    look sealed (a value typed there in clear text by mistake is never shown, not even
    hashed); comments and anything else are not shown.
    """
    shown: list[str] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        name = secret_name(line)
        if _marker(line) is not None or not stripped:
            shown.append(line)
        elif stripped.startswith("[") and name is None:
            section = stripped
            shown.append(line)
        elif stripped.startswith("#"):
            shown.append("# (a comment, not shown)")
        elif section == "[vault]":
            shown.append(line)
        elif name is not None:
            value = line.partition("=")[2].strip()
            token = value[1:-1] if len(value) > 2 and value[0] == value[-1] == '"' else ""
            # Sealed values are base64 of at least nonce + tag (28 bytes): 40 characters.
            if len(token) >= 40 and len(token) % 4 == 0 and _BASE64.issuperset(token):
                digest = hashlib.sha256(token.encode("ascii")).hexdigest()[:12]
                shown.append(f"{name} = sealed:{digest}")
            else:
                shown.append(f"{name} = (not a sealed value; not shown)")
        else:
            shown.append("(a line not shown)")
    return shown


_BASE64: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
