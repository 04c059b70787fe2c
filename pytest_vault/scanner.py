"""Finding secret values and vault keys in files: the engine of ``pytest-vault scan``.

Values are found with the masking engine (`Masker`), so every form the masking knows is
found (escaped forms, each line of a multi-line value, runs of 10 characters or more of
its sensitive regions, what truncation leaves of it),
plus base64 forms: of the value, and of the value after any prefix such as ``user:`` in
HTTP Basic credentials. Base64 writes 3 bytes as 4 characters, so what a value becomes
depends on how many bytes precede it modulo 3; for each of the 3 alignments the
characters that depend on the value alone (its "core") are searched for, in the standard
and the URL-safe alphabet. Anything shaped like a vault key (its fixed prefix and a body)
is found with or without a key, whichever vault it belongs to.

Files are read in chunks of whole lines, so memory stays bounded and time linear in bytes:
each chunk goes once through the engine's `Masker.find`, whose spans give the lines.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .key import KEY_PREFIX
from .masking import KEY_NAME, Masker

CHUNK_BYTES = 4 * 1024 * 1024
OVERLAP_BYTES = 64 * 1024
"""A line longer than a chunk is cut; the next piece repeats this much of the last one."""
BINARY_SNIFF_BYTES = 8000
"""A NUL byte in this many first bytes makes a file binary (git's rule)."""
MIN_BASE64_CORE = 12
"""Shorter base64 cores are not searched for: they would match by chance."""
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + r"[A-Z2-7]{16,}", re.IGNORECASE)


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
        self._masker: Masker | None = None
        if values:
            cores = {name: base64_cores(value) for name, value in values.items()}
            self._masker = Masker(values, extra_forms=cores)

    def findings(self, text: str, first_line: int) -> Iterator[tuple[int, str]]:
        """``(line, name)`` of each secret and key in ``text``, whose first line is
        ``first_line``. Tokens already in the text (``<vault:NAME>``) are not findings."""
        for match in _KEY_SHAPE.finditer(text):
            yield first_line + text.count("\n", 0, match.start()), KEY_NAME
        if self._masker is None:
            return
        line, at = first_line, 0
        for start, _, name in self._masker.find(text):  # sorted by start
            line += text.count("\n", at, start)
            at = start
            yield line, name

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
