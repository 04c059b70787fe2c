"""Finding secret values and vault keys in files: the engine of ``pytest-vault scan``.

Values are found with the masking engine (`Masker`), so every form the masking knows is
found (escaped forms, each line of a multi-line value, runs of 10 characters or more),
plus base64 forms: of the value, and of the value after any prefix such as ``user:`` in
HTTP Basic credentials. Base64 writes 3 bytes as 4 characters, so what a value becomes
depends on how many bytes precede it modulo 3; for each of the 3 alignments the
characters that depend on the value alone (its "core") are searched for, in the standard
and the URL-safe alphabet. Anything shaped like a vault key (its fixed prefix and a body)
is found with or without a key, whichever vault it belongs to.

Files are read in chunks of whole lines, so memory stays bounded and time linear in bytes:
a chunk is masked whole (most have nothing, which the engine decides at C speed), and only
a chunk that holds something is bisected down to the lines that do.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .key import KEY_PREFIX
from .masking import Masker

CHUNK_BYTES = 4 * 1024 * 1024
OVERLAP_BYTES = 64 * 1024
"""A line longer than a chunk is cut; the next piece repeats this much of the last one."""
BINARY_SNIFF_BYTES = 8000
"""A NUL byte in this many first bytes makes a file binary (git's rule)."""
MIN_BASE64_CORE = 12
"""Shorter base64 cores are not searched for: they would match by chance."""
KEY_NAME = "key"
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + r"[A-Z2-7]{16,}", re.IGNORECASE)
_TOKEN = re.compile(r"<vault:([^<>\s]+)>")
_FORM_SEPARATOR = "."


class Finding(NamedTuple):
    path: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: <vault:{self.name}>"


def base64_cores(value: str) -> list[str]:
    """The parts of the base64 forms of ``value`` that do not depend on what surrounds it."""
    data = value.encode("utf-8")
    cores: list[str] = []
    for skipped in range(3):
        total = skipped + len(data)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * skipped + data).decode("ascii")
            core = encoded[4 if skipped else 0 : 4 * (total // 3)]
            if len(core) >= MIN_BASE64_CORE and core not in cores:
                cores.append(core)
    return cores


class Scanner:
    """Finds the secrets ``values`` (None: no key, keys only) and vault keys in texts."""

    def __init__(self, values: Mapping[str, str] | None) -> None:
        forms: dict[str, str] = {}
        for name, value in (values or {}).items():
            forms[name] = value
            for number, core in enumerate(base64_cores(value)):
                forms[f"{name}{_FORM_SEPARATOR}base64{number}"] = core
        self._masker = Masker(forms) if forms else None

    def names_in(self, text: str) -> set[str]:
        """The secrets (real names) the masking finds in ``text``."""
        if self._masker is None:
            return set()
        masked = self._masker.mask(text)
        if masked is text or masked == text:
            return set()
        # Tokens already in the text (a masked cassette) are not findings.
        found = Counter(_TOKEN.findall(masked)) - Counter(_TOKEN.findall(text))
        return {name.split(_FORM_SEPARATOR)[0] for name in found}

    def findings(self, text: str, first_line: int) -> Iterator[tuple[int, str]]:
        """``(line, name)`` of each secret and key in ``text``, whose first line is
        ``first_line``."""
        for match in _KEY_SHAPE.finditer(text):
            yield first_line + text.count("\n", 0, match.start()), KEY_NAME
        names = self.names_in(text)
        if not names:
            return
        starts = [0, *(match.end() for match in re.finditer("\n", text))]
        if starts[-1] != len(text):
            starts.append(len(text))

        def lines_holding(low: int, high: int, names: set[str]) -> Iterator[tuple[int, str]]:
            """Lines ``low`` to ``high`` (exclusive) hold ``names``: say which lines."""
            if high - low <= 1:
                for name in sorted(names):
                    yield first_line + low, name
                return
            middle = (low + high) // 2
            explained: set[str] = set()
            for part_low, part_high in ((low, middle), (middle, high)):
                found = self.names_in(text[starts[part_low] : starts[part_high]])
                if found:
                    explained |= found
                    yield from lines_holding(part_low, part_high, found)
            # Found only across the halves (a multi-line value matched whole): its first line.
            for name in sorted(names - explained):
                yield first_line + low, name

        yield from lines_holding(0, len(starts) - 1, names)

    def scan_file(self, path: Path, shown: str) -> list[Finding]:
        """Every finding in one file (none for a binary file), by line."""
        try:
            with path.open("rb") as stream:
                head = stream.read(BINARY_SNIFF_BYTES)
                if b"\0" in head:
                    return []
                found = {(line, name) for line, name in self._scan_stream(head, stream)}
        except OSError:
            return []
        return [Finding(shown, line, name) for line, name in sorted(found)]

    def _scan_stream(self, head: bytes, stream: BinaryIO) -> Iterator[tuple[int, str]]:
        pending = head
        line = 1
        at_end = False
        while not at_end:
            data = stream.read(CHUNK_BYTES)
            at_end = not data
            pending += data
            if not at_end and len(pending) < CHUNK_BYTES:
                continue
            if at_end:
                piece, carry = pending, b""
            else:
                cut = pending.rfind(b"\n") + 1
                if cut > 0:
                    piece, carry = pending[:cut], pending[cut:]
                else:  # one line longer than a chunk: cut it, overlapping the next piece
                    piece, carry = pending, pending[-OVERLAP_BYTES:]
            # Whole lines decode alone; a cut line's pieces each decode with a replacement
            # character at worst, and the overlap finds what the cut split.
            yield from self.findings(piece.decode("utf-8", "replace"), line)
            line += piece.count(b"\n")
            pending = carry
