"""Which parts of a secret value are sensitive: the precision rule of the masking.

A value's *sensitive regions* are the parts whose every run of `FRAGMENT_LENGTH` characters
is masked wherever it appears. Everything else of a value (words, JSON keys, punctuation,
PEM armour, a URL's scheme and host) is masked only as part of the whole value, of a line
of it that carries secret material, or of what pytest's truncation shows of it.

The rule, in order (``docs/masking.md`` explains it with examples):

1. A key is sensitive as a whole.
2. A single-line value that is not structured (no ``://``, not starting with ``{``, ``[``
   or ``<``) is sensitive as a whole: passwords, passphrases, API tokens, JWTs.
3. Otherwise the sensitive regions are:

   * random-looking *compounds*. A compound is a run of *pieces* (runs of letters and
     digits) joined by at most three of ``+/=_-.~\\`` and line breaks: base64 bodies,
     hex digests, tokens, JWTs. A piece is random-looking when it has 8 characters or
     more and is a number of 12+ digits, or mixes letters with digits (or upper- with
     lower-case letters) so that the kind of character changes between at least a fifth
     of its neighbouring pairs (a third without digits): words, ``snake_case``,
     ``CamelCase`` and ``x509`` are not. The region runs from the first to the last
     random-looking piece of a compound, with the neighbours that are not plain words or
     numbers (a base64 body's short last line, but not ``services`` in
     ``/services/T024BE7LD/...``);
   * a URL's password (``scheme://user:PASSWORD@host``);
   * the value of a field whose name says it holds a credential (``password``, ``passwd``,
     ``pwd``, ``secret``, ``token``, ``api_key``, ``apikey``, ``credential``), written
     ``name = value``, ``name: value`` or ``"name": "value"`` (not a URL, not PEM armour).

4. A structured value in which none of that is found is sensitive as a whole.

The rule looks only at the value, so what is masked never depends on the text being masked
or on which test ran first.
"""

from __future__ import annotations

import re

__all__ = ["Region", "carrying_lines", "sensitive_regions"]

Region = tuple[int, int]
"""start and end (exclusive) of a sensitive region in its value."""

_PIECE_MIN = 8
_DIGITS_MIN = 12
_SWITCH_RATE = 0.2
_SWITCH_RATE_LETTERS = 1 / 3

# A compound: letters and digits joined by runs of at most three joiners. Found as a run of
# both, split where four joiners or more follow each other (no nested repetition: linear).
_RUN = re.compile(r"[A-Za-z0-9+/=_.~\\\r\n-]+")
_LONG_JOIN = re.compile(r"[+/=_.~\\\r\n-]{4,}")
_PIECE = re.compile(r"[A-Za-z0-9]+")
# Both start at a literal (``://``, a credential word), so finding them stays linear.
_URL_PASSWORD = re.compile(r"://[^\s:/?#@]*:([^\s@/?#]+)@")
_CREDENTIAL_FIELD = re.compile(
    r"(?i)(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|credential)[\w.-]*"
    r"""["']?[ \t]*[:=][ \t]*["']?([^\s"',;{}\[\]<>]+)"""
)
_KIND = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "U" * 26 + "l" * 26 + "d" * 10,
)


def _random_piece(piece: str) -> bool:
    """Whether a run of letters and digits looks random rather than like a word or number."""
    if len(piece) < _PIECE_MIN:
        return False
    if piece.isdigit():
        return len(piece) >= _DIGITS_MIN
    kinds = piece.translate(_KIND)
    # The number of kind changes between neighbours: "Ul" or "dl" pairs and so on.
    switches = sum(kinds.count(pair) for pair in ("Ul", "lU", "Ud", "dU", "ld", "dl"))
    # Exact: two occurrences of a pair of different kinds can never overlap.
    has_digit = "d" in kinds
    if not has_digit and ("U" not in kinds or "l" not in kinds):
        return False
    rate = _SWITCH_RATE if has_digit else _SWITCH_RATE_LETTERS
    return switches >= rate * (len(piece) - 1)


def _plain(piece: str) -> bool:
    """A word in one case (or capitalised), or a number."""
    if piece.isdigit():
        return True
    return piece.isalpha() and (piece.islower() or piece.isupper() or piece.istitle())


def _structured(value: str) -> bool:
    return "\n" in value or "\r" in value or "://" in value or value.lstrip()[:1] in ("{", "[", "<")


def sensitive_regions(value: str, *, whole: bool = False) -> list[Region]:
    """The sensitive regions of ``value``, sorted and disjoint (see the module's rule)."""
    if not value:
        return []
    if whole or not _structured(value):
        return [(0, len(value))]
    found: list[Region] = []
    for run in _RUN.finditer(value):
        for start, compound in _split(run.start(), run.group()):
            _add_compound(start, compound, found)
    for match in _URL_PASSWORD.finditer(value):
        found.append(match.span(1))
    for match in _CREDENTIAL_FIELD.finditer(value):
        text = match.group(1)
        if "://" not in text and not text.startswith("-----"):
            found.append(match.span(1))
    if not found:
        return [(0, len(value))]
    return _merged(found)


def _split(start: int, run: str) -> list[tuple[int, str]]:
    """The compounds of a run of letters, digits and joiners, with where they start."""
    compounds: list[tuple[int, str]] = []
    last = 0
    for join in _LONG_JOIN.finditer(run):
        compounds.append((start + last, run[last : join.start()]))
        last = join.end()
    compounds.append((start + last, run[last:]))
    return compounds


def _add_compound(start: int, compound: str, found: list[Region]) -> None:
    """Add the random-looking part of one compound to ``found``, if it has one."""
    pieces = list(_PIECE.finditer(compound))
    random = [index for index, piece in enumerate(pieces) if _random_piece(piece.group())]
    if not random:
        return
    first, last = random[0], random[-1]
    # Take in the neighbours that are not plain words or numbers (a base64 body's
    # short last line, say), but not "services" in "/services/T024BE7LD/...".
    while first > 0 and not _plain(pieces[first - 1].group()):
        first -= 1
    while last < len(pieces) - 1 and not _plain(pieces[last + 1].group()):
        last += 1
    found.append((start + pieces[first].start(), start + pieces[last].end()))


def _merged(regions: list[Region]) -> list[Region]:
    regions.sort()
    merged: list[Region] = []
    for start, end in regions:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def carrying_lines(value: str, regions: list[Region]) -> list[tuple[str, bool]]:
    """The lines of a multi-line ``value`` that overlap a sensitive region, each with
    whether it lies wholly inside one (then its every run is a fragment already)."""
    if "\n" not in value and "\r" not in value:
        return []
    lines: list[tuple[str, bool]] = []
    start = 0
    index = 0
    for line in value.splitlines(keepends=True):
        end = start + len(line)
        while index < len(regions) and regions[index][1] <= start:
            index += 1
        if index < len(regions) and regions[index][0] < end:
            text = line.rstrip("\r\n")
            region_start, region_end = regions[index]
            lines.append((text, region_start <= start and start + len(text) <= region_end))
        start = end
    return lines
