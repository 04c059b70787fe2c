"""The `Masker`: replaces what reveals a secret in a text with ``<vault:NAME>``.

Built once from the opened vault (and the vault keys), then called on every text pytest is
about to print or write. What it masks (``docs/masking.md``, "How masking decides"):

* **fragments**: any run of `FRAGMENT_LENGTH` or more characters of a sensitive region of
  a value (`regions`), in any of its forms (`forms`), replaced as a whole maximal run;
* **whole forms**: the value and each escaped form of it; and what pytest's truncation
  shows of one, 10 characters or more: its beginning right before an ellipsis (``...``
  or ``…``), its end right after one or after a diff's ``- `` / ``+ `` marker;
* **lines**: each line of a multi-line value that overlaps a sensitive region, as written
  and without its surrounding whitespace (lines of 4 characters or more besides it);
* **extra forms** handed in by the caller (``scan``'s base64 forms), whole;
* values of 4 to 9 characters only whole (as any of their forms). Values shorter than
  `MIN_MASKED_LENGTH` are not masked.

When matches overlap they are replaced together, named after the secret covering most of
the run (then an exact form, then the longer value). ``<vault:NAME>`` tokens of this
masker's names are left alone, which keeps masking idempotent.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import TypeAlias
from urllib.parse import unquote

from pytest_vault.key import KEY_PREFIX

from . import index as _index
from .forms import BIG_REGION, escaped_forms, neighbourhood_forms
from .index import DENSE, SPARSE, Acceptor, GramIndex, Piece, encode
from .limits import FRAGMENT_LENGTH, MIN_MASKED_LENGTH
from .regions import carrying_lines, sensitive_regions

__all__ = ["KEY_NAME", "Masker"]

KEY_NAME = "key"
"""What a vault key is masked as: ``<vault:key>``."""

FRAGMENT, WHOLE, LINE, BIG_FRAGMENT, HEAD, TAIL = range(6)
_KEY_PREFIX_LENGTH = len(KEY_PREFIX)
"""Kinds of piece: any run of FRAGMENT_LENGTH counts; the whole piece or a truncated end
of it counts; only the whole piece counts; a fragment of a big region (sparse index); the
beginning of a big value's form (the whole form from there, or a truncated beginning,
counts); its end (a truncated end counts)."""

_EDGE = 512
"""Characters of a big value's form indexed at each end (pytest shows ~120 of them)."""

_WHOLE_FORMS_MAX_LENGTH = 4096
"""Values up to this length are also matched whole, in every escaped form; longer ones
are masked by their sensitive regions (in every form, whatever their length) and lines."""

_QUICK_LENGTH = 256
"""Texts up to this long are first checked cheaply for a secret (most texts are short)."""

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_.~-]+\Z")
"""A value made only of characters no escaping changes, on one line, without structure."""

_TOKEN = re.compile(r"<vault:([A-Za-z_][A-Za-z0-9_]*)>")

_DOTS = "...".encode("utf-16-le")
_ELLIPSIS = "…".encode("utf-16-le")
_DIFF_MARKERS = ("- ".encode("utf-16-le"), "+ ".encode("utf-16-le"))
_LINE_SPACE = (" ".encode("utf-16-le"), "\n".encode("utf-16-le"), "\t".encode("utf-16-le"))

_LINE_BREAKS = ("\n".encode("utf-16-le"), "\r".encode("utf-16-le"))

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

_Interval: TypeAlias = tuple[int, int, int]
"""start, end (exclusive) and owner index of one match."""

_Trie: TypeAlias = dict[str, "_Trie"]


class Masker:
    """Replaces what reveals a secret value or a vault key in a text with ``<vault:NAME>``.

    ``secrets`` maps names to values; ``keys`` are vault key texts, masked as
    ``<vault:key>`` (whole, and any run of 10 characters of them); ``extra_forms`` maps a
    name to more literal forms of its secret to mask whole (``scan`` adds base64 forms).
    """

    __slots__ = (
        "_dense",
        "_fulls",
        "_names",
        "_owners",
        "_short",
        "_short_pattern",
        "_sparse",
        "_tokens",
    )

    def __init__(
        self,
        secrets: Mapping[str, str],
        *,
        keys: Sequence[str] = (),
        extra_forms: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        owner_of: dict[str, str] = {}  # value -> the name it is masked as
        for name, value in secrets.items():
            if len(value) >= MIN_MASKED_LENGTH and (
                value not in owner_of or name < owner_of[value]
            ):
                owner_of[value] = name
        self._names = frozenset(
            name for name, value in secrets.items() if len(value) >= MIN_MASKED_LENGTH
        )
        # A key is read whatever its case (base32): mask it as written and in either case.
        key_values = {
            form
            for key in keys
            for form in (key, key.upper(), key.lower())
            if len(form) >= MIN_MASKED_LENGTH
        }
        for key in key_values:
            owner_of.setdefault(key, KEY_NAME)
        extras = {
            name: [form for form in forms if len(form) >= MIN_MASKED_LENGTH]
            for name, forms in (extra_forms or {}).items()
        }
        # Owners sorted longest value first: the index is the last tie-breaker.
        owners = sorted(((name, value) for value, name in owner_of.items()), key=_longest)
        present = {name for name, _ in owners}
        owners.extend((name, "") for name in sorted(extras) if extras[name] and name not in present)
        self._owners: tuple[tuple[str, str], ...] = tuple(owners)
        self._tokens = self._names.union(name for name, _ in owners)
        short: tuple[dict[str, int], ...] = ({}, {}, {})  # by priority: values, lines, forms
        pieces: list[Piece] = []
        heads: dict[tuple[int, str], list[bytes]] = {}  # a big value's form's beginning
        owner_index = {name: index for index, (name, _) in enumerate(owners)}
        plain_token = _PLAIN_TOKEN.match
        for owner, (_, value) in enumerate(owners):
            if not value:
                continue
            if len(value) < FRAGMENT_LENGTH:
                forms = escaped_forms(value)
                short[0].setdefault(forms[0], owner)
                for form in forms[1:]:
                    short[2].setdefault(form, owner)
                continue
            if value in key_values and value[:_KEY_PREFIX_LENGTH].upper() == KEY_PREFIX:
                # A key whole, and every run of 10 of its body; the prefix every key
                # shares (``PYTEST-VAULT-KEY-1``) names no key and is left alone.
                pieces.append((value, owner, WHOLE))
                pieces.append((value[_KEY_PREFIX_LENGTH:], owner, FRAGMENT))
            elif plain_token(value):
                # Most secrets (API tokens): sensitive whole, their only form, one line.
                pieces.append((value, owner, FRAGMENT))
            else:
                _add_pieces(
                    value,
                    owner,
                    is_key=value in key_values,
                    pieces=pieces,
                    short_lines=short[1],
                    heads=heads,
                )
        for name, forms in extras.items():
            if not forms:
                continue
            owner = owner_index[name]
            for form in forms:
                if _units(form) < FRAGMENT_LENGTH:
                    short[2].setdefault(form, owner)
                else:
                    pieces.append((form, owner, LINE))
        self._short: dict[str, int] = {}
        for table in short:
            for form, owner in table.items():
                self._short.setdefault(form, owner)
        self._short_pattern = re.compile(_trie_pattern(self._short)) if self._short else None
        dense: list[Piece] = []
        sparse: list[Piece] = []
        # The whole forms a HEAD piece begins, by the piece's number in its index.
        self._fulls: tuple[dict[int, list[bytes]], dict[int, list[bytes]]] = ({}, {})
        for form, owner, kind in pieces:
            big = kind == BIG_FRAGMENT or _units(form) > _index.DENSE_MAX_UNITS
            chosen = sparse if big else dense
            if kind == HEAD:
                self._fulls[big][len(chosen)] = sorted(heads[owner, form], key=len, reverse=True)
            chosen.append((form, owner, FRAGMENT if kind == BIG_FRAGMENT else kind))
        self._dense = GramIndex(dense, DENSE)
        self._sparse = GramIndex(sparse, SPARSE) if sparse else None

    @property
    def masked_names(self) -> frozenset[str]:
        """Names of the secrets this masker hides (those of MIN_MASKED_LENGTH chars or more)."""
        return self._names

    def __bool__(self) -> bool:
        return bool(self._owners)

    def __repr__(self) -> str:
        count = len(self._names)
        return f"Masker({count} secret{'' if count == 1 else 's'})"

    # --- the public questions ------------------------------------------------------------

    def mask(self, text: str) -> str:
        """``text`` with every secret occurrence replaced; ``text`` itself if it holds none."""
        if self._surely_clean(text):
            return text
        found = self._spans(text)
        if not found:
            return text
        parts: list[str] = []
        last = 0
        for start, end, name in found:
            parts.append(text[last:start])
            parts.append(f"<vault:{name}>")
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def contains_secret(self, text: str) -> bool:
        """Whether `mask` would change ``text``."""
        if self._surely_clean(text):
            return False
        return any(self._intervals(piece, first=True) for _, piece in self._segments(text))

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Where `mask` replaces something in ``text``: sorted, non-overlapping
        ``(start, end, name)`` character spans, each replaced by ``<vault:name>``."""
        if self._surely_clean(text):
            return []
        return self._spans(text)

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for offset, segment in self._segments(text):
            found = self._intervals(segment, first=False)
            if not found:
                continue
            found.sort(key=lambda match: (match[0], -match[1]))
            index = 0
            while index < len(found):
                start, end, _ = found[index]
                group = index
                index += 1
                while index < len(found) and found[index][0] < end:
                    end = max(end, found[index][1])
                    index += 1
                name = self._name_for(segment[start:end], found[group:index])
                spans.append((offset + start, offset + end, name))
        return spans

    # --- matching ------------------------------------------------------------------------

    def _surely_clean(self, text: str) -> bool:
        """A cheap check that a short ``text`` holds nothing to mask (most texts pytest
        prints); False for a long one, whose finding costs about the same."""
        if len(text) < MIN_MASKED_LENGTH or not self._owners:
            return True
        if len(text) > _QUICK_LENGTH or "<vault:" in text:
            return False
        short = self._short_pattern
        if short is not None and short.search(text) is not None:
            return False
        if len(text) < FRAGMENT_LENGTH and text.isascii():
            return True  # every indexed piece is longer
        data = text.encode("utf-16-le", "surrogatepass")
        return self._dense.surely_clean(data) and (
            self._sparse is None or self._sparse.surely_clean(data)
        )

    def _segments(self, text: str) -> list[tuple[int, str]]:
        """The parts of ``text`` between this masker's own tokens, with their offsets."""
        if "<vault:" not in text:
            return [(0, text)]
        segments: list[tuple[int, str]] = []
        last = 0
        for token in _TOKEN.finditer(text):
            if token.group(1) in self._tokens:
                segments.append((last, text[last : token.start()]))
                last = token.end()
        segments.append((last, text[last:]))
        return segments

    def _intervals(self, text: str, *, first: bool) -> list[_Interval]:
        """Character intervals of every match in ``text`` (one at least if ``first``)."""
        found: list[_Interval] = []
        short = self._short_pattern
        if short is not None:
            for match in short.finditer(text):
                found.append((match.start(), match.end(), self._short[match.group()]))
                if first:
                    return found
                # finditer resumes after the match: look for overlapping ones reaching beyond.
                for inside in range(match.start() + 1, match.end()):
                    overlap = short.match(text, inside)
                    if overlap is not None and overlap.end() > match.end():
                        found.append((inside, overlap.end(), self._short[overlap.group()]))
        if len(text) * 2 < FRAGMENT_LENGTH:
            return found
        data = encode(text)
        in_units: list[_Interval] = []
        for index, fulls in zip((self._dense, self._sparse), self._fulls, strict=True):
            if index is None or (first and in_units) or index.surely_clean(data):
                continue
            accept = _acceptor(index, data, fulls)
            owners = index.owners
            in_units.extend(
                (start, end, owners[piece])
                for start, end, piece in index.runs(data, accept, first=first)
            )
        if in_units and len(data) // 2 != len(text):
            in_units = _to_characters(text, in_units)
        found.extend(in_units)
        return found

    def _name_for(self, run: str, matches: Sequence[_Interval]) -> str:
        """The secret a masked run is named after: the one covering most of it."""
        owners = {owner for _, _, owner in matches}
        if len(owners) == 1:
            return self._owners[owners.pop()][0]

        def rank(owner: int) -> tuple[int, bool, int]:
            spans = sorted((start, end) for start, end, who in matches if who == owner)
            covered, reach = 0, -1
            for start, end in spans:
                if end > reach:
                    covered += end - max(start, reach)
                    reach = end
            value = self._owners[owner][1]
            exact = run == value or (
                0 < len(value) <= _WHOLE_FORMS_MAX_LENGTH and run in escaped_forms(value)
            )
            return covered, exact, -owner

        return self._owners[max(owners, key=rank)][0]


def _add_pieces(
    value: str,
    owner: int,
    *,
    is_key: bool,
    pieces: list[Piece],
    short_lines: dict[str, int],
    heads: dict[tuple[int, str], list[bytes]],
) -> None:
    """The index pieces of one value of FRAGMENT_LENGTH characters or more."""
    regions = sensitive_regions(value, whole=is_key)
    fragments: set[str] = set()
    for start, end in regions:
        region = value[start:end]
        if len(region) > BIG_REGION:
            forms = neighbourhood_forms(region, FRAGMENT_LENGTH - 1)
        elif "%" in region and (decoded := unquote(region)) != region:
            # A percent-encoded region (a URL's password) is also masked decoded.
            forms = [*escaped_forms(region), *escaped_forms(decoded)]
        else:
            forms = escaped_forms(region)
        # A big region's pieces all go to the sparse index, however small.
        kind = FRAGMENT if len(region) <= BIG_REGION else BIG_FRAGMENT
        for form in forms:
            if form not in fragments and _units(form) >= FRAGMENT_LENGTH:
                fragments.add(form)
                pieces.append((form, owner, kind))
    whole = regions == [(0, len(value))]  # then every run of 10 of it is a fragment
    if whole:
        pass
    elif len(value) <= _WHOLE_FORMS_MAX_LENGTH:
        wholes = escaped_forms(value)
        pieces.extend((form, owner, WHOLE) for form in wholes if form not in fragments)
    else:
        # Indexing a big value whole would double the index: its beginning and end are
        # indexed, and a whole form is recognised from its beginning by one comparison.
        tails: set[str] = set()
        for form in escaped_forms(value, markup=False):
            head, tail = form[:_EDGE], form[-_EDGE:]
            if (owner, head) not in heads:
                heads[owner, head] = []
                pieces.append((head, owner, HEAD))
            heads[owner, head].append(encode(form))
            if tail not in tails:
                tails.add(tail)
                pieces.append((tail, owner, TAIL))
    for line, inside in carrying_lines(value, regions):
        for text in (line, line.strip()) if line != line.strip() else (line,):
            if len(text.strip()) < MIN_MASKED_LENGTH:
                continue
            if _units(text) < FRAGMENT_LENGTH:
                short_lines.setdefault(text, owner)
            elif not (whole or inside or text in fragments):
                pieces.append((text, owner, LINE))


def _acceptor(index: GramIndex, data: bytes, fulls: Mapping[int, list[bytes]]) -> Acceptor:
    """What of a common run of ``data`` with a piece of ``index`` counts, by its kind."""
    kinds = index.kinds

    def accept(start: int, end: int, piece: int, before: int, after: int) -> tuple[int, int] | None:
        kind = kinds[piece]
        if kind == FRAGMENT:
            if end - start < FRAGMENT_LENGTH:
                return None
            # A region's line breaks inside a run are masked, those at its ends are left.
            while data[2 * start : 2 * start + 2] in _LINE_BREAKS:
                start += 1
            while data[2 * end - 2 : 2 * end] in _LINE_BREAKS:
                end -= 1
            return start, end
        if kind == HEAD and before == 0:
            for full in fulls[piece]:  # longest first
                if data.startswith(full, 2 * start):
                    return start, start + len(full) // 2
        elif kind == TAIL:
            if after == 0 and end - start >= FRAGMENT_LENGTH and _ellipsis_before(data, start):
                return start, end
            return None
        elif before == 0 and after == 0:
            return start, end
        if kind == LINE or end - start < FRAGMENT_LENGTH:
            return None
        if before == 0 and _ellipsis_at(data, end):
            return start, end  # a beginning, cut off by an ellipsis
        if (
            kind == WHOLE
            and after == 0
            and (_ellipsis_before(data, start) or _diff_marker_before(data, start))
        ):
            return start, end  # an end, after an ellipsis or as a diff's differing tail
        return None

    return accept


def _ellipsis_at(data: bytes, at: int) -> bool:
    return data[2 * at : 2 * at + 6] == _DOTS or data[2 * at : 2 * at + 2] == _ELLIPSIS


def _ellipsis_before(data: bytes, at: int) -> bool:
    return (at >= 3 and data[2 * at - 6 : 2 * at] == _DOTS) or (
        at >= 1 and data[2 * at - 2 : 2 * at] == _ELLIPSIS
    )


def _diff_marker_before(data: bytes, at: int) -> bool:
    """Whether a diff line's ``- `` or ``+ `` marker (at a line's start, after the report's
    indentation) comes right before unit ``at``: pytest shows a differing tail there."""
    if at < 2 or data[2 * at - 4 : 2 * at] not in _DIFF_MARKERS:
        return False
    return at == 2 or data[2 * at - 6 : 2 * at - 4] in _LINE_SPACE


def _units(text: str) -> int:
    return len(text) if text.isascii() else len(encode(text)) // 2


def _to_characters(text: str, found: list[_Interval]) -> list[_Interval]:
    """Unit intervals to character intervals (they differ after a non-BMP character)."""
    # UTF-16 start of each astral character: its index plus the astral ones before it.
    ends = [match.start() + count + 1 for count, match in enumerate(_ASTRAL.finditer(text))]
    return [
        (start - bisect_right(ends, start), end - bisect_left(ends, end), owner)
        for start, end, owner in found
    ]


def _longest(owner: tuple[str, str]) -> tuple[int, str]:
    return -len(owner[1]), owner[0]


# --- whole matching of short forms: one regular expression shaped as a trie ---


def _trie_pattern(words: Mapping[str, int]) -> str:
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _node_pattern(root)


def _node_pattern(node: _Trie) -> str:
    branches = [re.escape(char) + _node_pattern(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a word ends here; the greedy "?" still tries the longer one first
        return "(?:" + body + ")?"
    return body
