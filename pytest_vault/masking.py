"""The masking engine: replace every secret value in a text with ``<vault:NAME>``.

Pure Python, no pytest import. A `Masker` is built once from the opened vault and then
called on every piece of text pytest is about to print or write.

What counts as a secret occurrence (the contract in ``interface.md``):

* the literal value and the forms it takes when escaped: inside ``repr()`` (both quote
  styles), ``ascii()``, the ``repr()`` of its UTF-8 bytes, JSON strings, and, for values up
  to `_FULL_FORMS_MAX_LENGTH` characters, URL quoting and XML escaping;
* every line of a multi-line value (lines of `MIN_MASKED_LENGTH` characters or more
  besides surrounding whitespace), as written, with and without that whitespace;
* fragments: no run of `FRAGMENT_LENGTH` or more consecutive characters of any of those
  forms survives, because pytest truncates long reprs and diffs show only a differing tail.
  A run is replaced as a whole, so the text around it survives;
* values shorter than `FRAGMENT_LENGTH` (and short lines) only whole; values shorter than
  `MIN_MASKED_LENGTH` not at all; when matches overlap, the secret that covers most of the
  run names it, longer secrets first.

How (linear in the text's length, memory linear in the secrets' size):

* Texts and secret forms are compared as UTF-16 code units, so four characters pack into
  one 64-bit integer that ``memoryview.cast("Q")`` produces at C speed.
* Dense index, for ordinary secrets: every 4-unit gram of every form, mapped to where it
  occurs. A run of 10 units always contains a gram that starts at a multiple of 4, so the
  text is probed only at those (one set lookup per 4 characters; a text without secrets
  costs an ``encode`` and a ``set.isdisjoint``).
* Sparse index, for big secrets (a PEM key of a mebibyte): only grams that start at
  multiples of 7 in each form, and the text probed at every position; a run of 10 always
  holds one of those grams. The escaped forms are indexed only around the characters that
  escaping changes (elsewhere they equal the literal), so a 1 MiB PEM costs ~1.35 M units.
* A probe hit is checked by extending the match left and right against the indexed form
  (slice comparisons, galloping), which yields the maximal run in one go.
* Values up to 9 characters (and short lines) are matched whole by one compiled regular
  expression built as a trie, longest match first.
"""

from __future__ import annotations

import json
import re
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TypeAlias
from urllib.parse import quote, quote_plus

from .key import KEY_PREFIX

__all__ = [
    "FRAGMENT_LENGTH",
    "KEY_NAME",
    "MIN_MASKED_LENGTH",
    "Masker",
    "github_add_mask_lines",
    "short_secret_names",
]

MIN_MASKED_LENGTH = 4
"""Values (and lines of values) shorter than this are not masked: they would garble text."""

KEY_NAME = "key"
"""The name a vault key is masked under: ``<vault:key>``."""

FRAGMENT_LENGTH = 10
"""No run of this many consecutive characters of a secret survives masking."""

_GRAM = 4
"""UTF-16 code units per probe gram: one 64-bit integer."""

_DENSE_STRIDE = _GRAM
"""Text probe stride against the dense index (grams cast at C speed, non-overlapping)."""

_SPARSE_STRIDE = FRAGMENT_LENGTH - _GRAM + 1
"""Index stride of the sparse index: every run of FRAGMENT_LENGTH holds one sampled gram."""

_SPARSE_STEP = pow(_GRAM, -1, _SPARSE_STRIDE)
"""Picks, in a list of grams at positions o, o+4, o+8, ..., those at multiples of 7."""

_FULL_FORMS_MAX_LENGTH = 4096
"""Values up to this length are indexed densely, with every escaped form in full."""

_DENSE_BUDGET_UNITS = 131_072
"""Code units the dense index may hold (~100 bytes each); further secrets go sparse."""

_SPARSE_ESCAPE_BUDGET = (2, 65_536)
"""A big secret's escaped-form regions may add this many times its length (or this many)."""

_MAX_POSITIONS = 32
"""A gram occurring more often than this is verified by searching the index instead."""

_OVERFLOW = -1

_FEW_GRAMS = 8
"""Up to this many distinct grams per probe list found in a text are located by searching."""

_CHUNK_GRAMS = 1024
"""Probes taken at once when matching a text (keeps the work per unit constant)."""

_QUICK_LENGTH = 256
"""Texts shorter than this (and ASCII) are first checked against a set of str grams."""

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


# --- how a value is written when escaped: each escaping maps character by character ---


def _repr_single(char: str) -> str:
    return "\\'" if char == "'" else repr(char)[1:-1]


def _repr_double(char: str) -> str:
    return repr(char)[1:-1]


def _ascii_single(char: str) -> str:
    return "\\'" if char == "'" else ascii(char)[1:-1]


def _ascii_double(char: str) -> str:
    return ascii(char)[1:-1]


def _bytes_single(char: str) -> str:
    data = char.encode("utf-8", "surrogatepass")
    return "".join("\\'" if byte == 0x27 else repr(bytes((byte,)))[2:-1] for byte in data)


def _bytes_double(char: str) -> str:
    data = char.encode("utf-8", "surrogatepass")
    return "".join(repr(bytes((byte,)))[2:-1] for byte in data)


def _json_ascii(char: str) -> str:
    return json.dumps(char)[1:-1]


def _json_unicode(char: str) -> str:
    return json.dumps(char, ensure_ascii=False)[1:-1]


def _url(char: str) -> str:
    return quote(char, safe="", errors="surrogatepass")


def _url_path(char: str) -> str:
    return quote(char, errors="surrogatepass")


def _url_plus(char: str) -> str:
    return quote_plus(char, safe="", errors="surrogatepass")


def _xml(char: str) -> str:
    return _XML_ESCAPES.get(char, char)


_CharEscape = Callable[[str], str]

# repr() puts a value in single quotes unless it holds ' and no "; inside a longer string
# the choice depends on the whole string, so both styles are covered.
_ESCAPES: tuple[_CharEscape, ...] = (
    _repr_single,
    _repr_double,
    _ascii_single,
    _ascii_double,
    _bytes_single,
    _bytes_double,
    _json_ascii,
    _json_unicode,
)
_ALL_ESCAPES: tuple[_CharEscape, ...] = (*_ESCAPES, _url, _url_path, _url_plus, _xml)


@lru_cache(maxsize=4096)
def _escaped(char: str) -> tuple[str, ...]:
    """``char`` under each of `_ALL_ESCAPES`."""
    return tuple(escape(char) for escape in _ALL_ESCAPES)


def _translations(value: str, count: int) -> list[dict[int, str]]:
    """The distinct, non-empty ``str.translate`` tables of the first ``count`` escapings."""
    escaped = [(ord(char), _escaped(char)) for char in set(value)]
    tables: list[dict[int, str]] = []
    for kind in range(count):
        table = {code: forms[kind] for code, forms in escaped if forms[kind] != chr(code)}
        if table and table not in tables:
            tables.append(table)
    return tables


# Characters that no escaping here changes (repr, ascii, bytes, JSON, URL, XML): a value
# made only of them (most API tokens) is its only form, and needs no translation tables.
_UNESCAPED = re.compile(r"[A-Za-z0-9_.~-]*\Z")


def _whole_forms(value: str) -> list[str]:
    """The value and each distinct escaped form of it, the value first."""
    if _UNESCAPED.match(value):
        return [value]
    forms = [value]
    for table in _translations(value, len(_ALL_ESCAPES)):
        form = value.translate(table)
        if form not in forms:
            forms.append(form)
    return forms


def _escaped_regions(value: str) -> list[str]:
    """For a big value: the escaped forms only around the characters escaping changes.

    Away from those characters an escaped form equals the value, so every run of
    FRAGMENT_LENGTH characters of an escaped form lies either in the value or within
    FRAGMENT_LENGTH - 1 characters of a changed one. Escapings whose regions would exceed
    the budget (say ``ascii()`` of a mebibyte of Cyrillic) are left out.
    """
    factor, least = _SPARSE_ESCAPE_BUDGET
    budget = max(factor * len(value), least)
    margin = FRAGMENT_LENGTH - 1
    spans_of: dict[frozenset[int], list[tuple[int, int]]] = {}
    seen: set[str] = set()
    regions: list[str] = []
    for table in _translations(value, len(_ESCAPES)):
        changed = frozenset(table)
        spans = spans_of.get(changed)
        if spans is None:
            pattern = re.compile("[" + "".join(re.escape(chr(code)) for code in changed) + "]+")
            spans = spans_of[changed] = []
            for match in pattern.finditer(value):
                start, end = match.span()
                start = start - margin if start > margin else 0
                end += margin
                if spans and start <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((start, end))
        pieces: list[str] = []
        size = 0
        for start, end in spans:
            pieces.append(value[start:end].translate(table))
            size += len(pieces[-1])
            if size > budget:
                break
        if size > budget:
            continue
        for piece in pieces:
            if piece not in seen:
                seen.add(piece)
                regions.append(piece)
                budget -= len(piece)
    return regions


# --- whole matching of short values: one regular expression shaped as a trie ---

_Trie: TypeAlias = dict[str, "_Trie"]


def _trie_pattern(words: Sequence[str]) -> str:
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


# --- fragment matching: grams of UTF-16 code units ---


def _encode(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


def _grams(data: bytes, offset: int) -> tuple[range, memoryview]:
    """The 4-unit grams of ``data`` at units offset, offset+4, ... (as integers); where."""
    view = memoryview(data)[2 * offset :]
    count = len(view) // 8
    return range(offset, offset + _GRAM * count, _GRAM), view[: count * 8].cast("Q")


def _common_forward(text: bytes, at: int, corpus: bytes, to: int, limit: int) -> int:
    """How many code units ``text[at:]`` and ``corpus[to:]`` share (at most ``limit``)."""
    at, to, limit = 2 * at, 2 * to, 2 * limit  # in bytes from here on
    done = 0
    step = 2
    while done < limit:
        size = step if step < limit - done else limit - done
        if text[at + done : at + done + size] == corpus[to + done : to + done + size]:
            done += size
            step = 2 * size  # gallop
        elif size == 2:
            break
        else:
            step = size // 4 * 2  # halve, in whole code units
    return done // 2


def _common_backward(text: bytes, at: int, corpus: bytes, to: int, limit: int) -> int:
    """How many code units end both ``text[:at]`` and ``corpus[:to]`` (at most ``limit``)."""
    at, to, limit = 2 * at, 2 * to, 2 * limit
    done = 0
    step = 2
    while done < limit:
        size = step if step < limit - done else limit - done
        if text[at - done - size : at - done] == corpus[to - done - size : to - done]:
            done += size
            step = 2 * size
        elif size == 2:
            break
        else:
            step = size // 4 * 2
    return done // 2


_Interval = tuple[int, int, int]
"""start, end (exclusive) and owner index of one match."""


class _GramIndex:
    """Where the grams of some secret forms occur, and matching a text against them.

    Dense: every gram of every form is indexed and the text is probed every 4 units.
    Sparse: grams at multiples of 7 within each form, and the text probed at every unit.
    Either way every common run of FRAGMENT_LENGTH units contains a probed gram that the
    index holds at the matching place.
    """

    __slots__ = ("_corpus", "_ends", "_grams", "_owners", "_sparse", "_starts")

    def __init__(self, forms: Sequence[tuple[str, int]], *, sparse: bool) -> None:
        self._sparse = sparse
        self._starts = array("q")
        self._ends = array("q")
        self._owners = array("q")
        self._grams: dict[int, int | list[int]] = {}
        chunks: list[bytes] = []
        position = 0
        for form, owner in forms:
            data = _encode(form)
            units = len(data) // 2
            if units < FRAGMENT_LENGTH:
                continue
            self._starts.append(position)
            self._ends.append(position + units)
            self._owners.append(owner)
            self._add_grams(data, position)
            chunks.append(data)
            chunks.append(b"\0\0")  # keeps forms apart for the searching fallback
            position += units + 1
        self._corpus = b"".join(chunks)

    def __bool__(self) -> bool:
        return bool(self._grams)

    def _add_grams(self, data: bytes, base: int) -> None:
        grams = self._grams
        for offset in range(_GRAM):
            positions, view = _grams(data, offset)
            values: list[int] = view.tolist()
            if self._sparse:
                first = (-offset * _SPARSE_STEP) % _SPARSE_STRIDE
                positions = positions[first::_SPARSE_STRIDE]
                values = values[first::_SPARSE_STRIDE]
            for relative, gram in zip(positions, values, strict=True):
                at = base + relative
                known = grams.get(gram)
                if known is None:
                    grams[gram] = at
                elif isinstance(known, int):
                    if known != _OVERFLOW:
                        grams[gram] = [known, at]
                elif len(known) < _MAX_POSITIONS:
                    known.append(at)
                else:
                    grams[gram] = _OVERFLOW

    def _hits(self, text: bytes) -> list[tuple[int, int]]:
        """(unit position, gram) of each probe of ``text`` that the index holds, in order.

        The probes are taken a chunk at a time, so a long text costs no more per unit than
        a short one: the searching fallback scans only the chunk a common gram was seen in.
        """
        keys = self._grams.keys()
        hits: list[tuple[int, int]] = []
        for offset in range(_GRAM) if self._sparse else (0,):
            positions, view = _grams(text, offset)
            for chunk in range(0, len(view), _CHUNK_GRAMS):
                grams = view[chunk : chunk + _CHUNK_GRAMS]
                if keys.isdisjoint(grams):
                    continue
                values: list[int] = grams.tolist()
                common = keys & values
                first = positions[chunk]
                if len(common) <= _FEW_GRAMS:
                    low, high = 2 * first, 2 * (first + _GRAM * len(values))
                    for gram in common:  # bytes.find runs at C speed
                        pattern = gram.to_bytes(8, sys.byteorder)
                        found = text.find(pattern, low, high)
                        while found != -1:
                            if found % 2 == 0 and (found // 2 - first) % _GRAM == 0:
                                hits.append((found // 2, gram))
                            found = text.find(pattern, found + 1, high)
                else:
                    hits.extend(
                        (first + _GRAM * index, gram)
                        for index, gram in enumerate(values)
                        if gram in common
                    )
        hits.sort()
        return hits

    def find(self, text: bytes, found: list[_Interval], *, first: bool) -> None:
        """Append to ``found`` each maximal common run of FRAGMENT_LENGTH units or more."""
        length = len(text) // 2
        if length < FRAGMENT_LENGTH:
            return
        reach = FRAGMENT_LENGTH - _GRAM
        covered_start, covered_end = 0, -1
        hits = self._hits(text)
        index = 0
        while index < len(hits):
            at, gram = hits[index]
            if covered_start <= at - reach and at + FRAGMENT_LENGTH <= covered_end:
                # Every run through this probe, and through the next ones up to the end of
                # the covered run, lies inside the run already found.
                limit = (covered_end - FRAGMENT_LENGTH + 1, -1)
                index = bisect_left(hits, limit, lo=index + 1)
                continue
            index += 1
            known = self._grams[gram]
            if isinstance(known, list):
                alignments = [(at, to) for to in known]
            elif known == _OVERFLOW:
                alignments = self._search(text, at, length)
            else:
                alignments = [(at, known)]
            for text_at, corpus_at in alignments:
                start, end, owner = self._extend(text, length, text_at, corpus_at)
                if end - start >= FRAGMENT_LENGTH:
                    found.append((start, end, owner))
                    if first:
                        return
                    if end > covered_end:
                        covered_start, covered_end = start, end

    def _search(self, text: bytes, at: int, length: int) -> list[tuple[int, int]]:
        """Alignments for a too common gram: look up each window through it."""
        alignments: list[tuple[int, int]] = []
        corpus = self._corpus
        low = max(0, at - (FRAGMENT_LENGTH - _GRAM))
        high = min(at, length - FRAGMENT_LENGTH)
        for start in range(low, high + 1):
            window = text[2 * start : 2 * (start + FRAGMENT_LENGTH)]
            found = corpus.find(window)
            while found != -1:
                if found % 2 == 0:
                    piece = bisect_right(self._starts, found // 2) - 1
                    if found // 2 + FRAGMENT_LENGTH <= self._ends[piece]:
                        alignments.append((start, found // 2))
                        break
                found = corpus.find(window, found + 1)
        return alignments

    def _extend(self, text: bytes, length: int, at: int, to: int) -> _Interval:
        piece = bisect_right(self._starts, to) - 1
        piece_start, piece_end = self._starts[piece], self._ends[piece]
        back = _common_backward(text, at, self._corpus, to, min(at, to - piece_start))
        forward = _common_forward(text, at, self._corpus, to, min(length - at, piece_end - to))
        return at - back, at + forward, self._owners[piece]


def _to_characters(text: str, found: list[_Interval]) -> list[_Interval]:
    """Unit intervals to character intervals (they differ after a non-BMP character)."""
    # UTF-16 start of each astral character: its index plus the astral ones before it.
    ends = [match.start() + count + 1 for count, match in enumerate(_ASTRAL.finditer(text))]
    return [
        (start - bisect_right(ends, start), end - bisect_left(ends, end), owner)
        for start, end, owner in found
    ]


class Masker:
    """Replaces every occurrence of a secret value in a text with ``<vault:NAME>``."""

    __slots__ = (
        "_dense",
        "_forms",
        "_keys",
        "_names",
        "_owners",
        "_quick",
        "_short",
        "_short_pattern",
        "_sparse",
        "_token",
    )

    def __init__(self, secrets: Mapping[str, str], *, keys: Iterable[str] = ()) -> None:
        names_of: dict[str, list[str]] = {}
        for name, value in secrets.items():
            if len(value) >= MIN_MASKED_LENGTH:
                names_of.setdefault(value, []).append(name)
        # Vault keys are masked like secrets, whole and as fragments, as ``<vault:key>``;
        # fragments of the body only: the prefix every key shares names no key.
        whole_keys: list[str] = []
        for key in keys:
            body = key[len(KEY_PREFIX) :] if key.upper().startswith(KEY_PREFIX) else key
            if len(body) >= MIN_MASKED_LENGTH:
                names_of.setdefault(body, []).append(KEY_NAME)
                whole_keys.append(key)
        self._keys: re.Pattern[str] | None = None
        if whole_keys:
            self._keys = re.compile("|".join(map(re.escape, whole_keys)), re.IGNORECASE)
        self._names = frozenset(name for names in names_of.values() for name in names)
        # Owners sorted longest value first: the index is the last tie-breaker.
        owners = sorted(((min(names), value) for value, names in names_of.items()), key=_longest)
        self._owners: tuple[tuple[str, str], ...] = tuple(owners)
        self._forms: dict[int, frozenset[str]] = {}
        # Whole-matched forms, by priority: short values, short lines, then escaped forms
        # (an escaped form or a line equal to another secret's value belongs to that one).
        short: tuple[list[tuple[str, int]], ...] = ([], [], [])
        dense: list[tuple[str, int]] = []
        sparse: list[tuple[str, int]] = []
        dense_units = 0
        for owner, (_, value) in enumerate(owners):
            if len(value) < FRAGMENT_LENGTH:
                forms = _whole_forms(value)
                short[0].append((forms[0], owner))
                short[2].extend((form, owner) for form in forms[1:])
                continue
            # A line counts by its content: masking "    ]," everywhere would garble reports.
            lines = [line for line in value.splitlines() if _content(line) >= MIN_MASKED_LENGTH]
            for line in dict.fromkeys([*lines, *(line.strip() for line in lines)]):
                if len(line) < FRAGMENT_LENGTH:
                    short[1].append((line, owner))
            if len(value) <= _FULL_FORMS_MAX_LENGTH:
                forms = _whole_forms(value)
                self._forms[owner] = frozenset(forms)
                units = sum(len(_encode(form)) // 2 for form in forms)
                if dense_units + units <= _DENSE_BUDGET_UNITS:
                    dense_units += units
                    dense.extend((form, owner) for form in forms)
                else:
                    sparse.extend((form, owner) for form in forms)
            else:
                sparse.append((value, owner))
                sparse.extend((region, owner) for region in _escaped_regions(value))
        self._short: dict[str, int] = {}
        for form, owner in (entry for entries in short for entry in entries):
            self._short.setdefault(form, owner)
        self._dense = _GramIndex(dense, sparse=False)
        self._sparse = _GramIndex(sparse, sparse=True)
        # Fast "no secret here" for short ASCII texts: every 4-character piece of every
        # densely indexed form (a run of FRAGMENT_LENGTH holds a piece at a multiple of 4).
        self._quick: frozenset[tuple[str, ...]] | None = None
        if not self._sparse:
            self._quick = frozenset(
                tuple(form[at : at + _GRAM])
                for form, _ in dense
                if len(_encode(form)) // 2 >= FRAGMENT_LENGTH
                for at in range(len(form) - _GRAM + 1)
            )
        self._short_pattern: re.Pattern[str] | None = None
        if self._short:
            self._short_pattern = re.compile(_trie_pattern(list(self._short)))
        # Tokens this masker writes are left alone, which keeps masking idempotent.
        self._token: re.Pattern[str] | None = None
        if self._names:
            self._token = re.compile(
                "<vault:(?:" + "|".join(sorted(map(re.escape, self._names))) + ")>"
            )

    @property
    def masked_names(self) -> frozenset[str]:
        """Names of the secrets this masker hides (those of MIN_MASKED_LENGTH chars or more)."""
        return self._names

    def __bool__(self) -> bool:
        return bool(self._names)

    def __repr__(self) -> str:
        count = len(self._names)
        return f"Masker({count} secret{'' if count == 1 else 's'})"

    def _surely_clean(self, text: str) -> bool:
        """Whether a short ASCII ``text`` certainly holds no secret (a cheap check)."""
        quick = self._quick
        if quick is None or len(text) >= _QUICK_LENGTH or not text.isascii():
            return False
        # zip() of one iterator 4 times yields the 4-character pieces at multiples of 4.
        chars = iter(text)
        pieces = zip(chars, chars, chars, chars, strict=False)
        if len(text) >= FRAGMENT_LENGTH and not quick.isdisjoint(pieces):
            return False
        short = self._short_pattern
        return short is None or short.search(text) is None

    def mask(self, text: str) -> str:
        """``text`` with every secret occurrence replaced; ``text`` itself if it holds none."""
        quick = self._quick
        if (  # `_surely_clean`, inlined: most texts pytest prints are short and clean
            quick is not None
            and len(text) < _QUICK_LENGTH
            and text.isascii()
            and (
                len(text) < FRAGMENT_LENGTH
                or quick.isdisjoint(zip(chars := iter(text), chars, chars, chars, strict=False))
            )
            and (self._short_pattern is None or self._short_pattern.search(text) is None)
        ):
            return text
        if self._token is None or len(text) < MIN_MASKED_LENGTH:
            return text
        if self._keys is not None:  # a whole key, prefix included
            text = self._keys.sub(f"<vault:{KEY_NAME}>", text)
        if "<vault:" not in text:
            return self._mask_between_tokens(text)
        parts: list[str] = []
        changed = False
        last = 0
        for token in self._token.finditer(text):
            between = text[last : token.start()]
            masked = self._mask_between_tokens(between)
            changed = changed or masked is not between
            parts.append(masked)
            parts.append(token.group())
            last = token.end()
        between = text[last:]
        masked = self._mask_between_tokens(between)
        if not changed and masked is between:
            return text
        parts.append(masked)
        return "".join(parts)

    def contains_secret(self, text: str) -> bool:
        """Whether `mask` would change ``text``."""
        if self._token is None or len(text) < MIN_MASKED_LENGTH or self._surely_clean(text):
            return False
        pieces = self._token.split(text) if "<vault:" in text else (text,)
        return any(self._find(piece, first=True) for piece in pieces)

    def _mask_between_tokens(self, text: str) -> str:
        found = self._find(text, first=False)
        if not found:
            return text
        found.sort(key=lambda match: (match[0], -match[1]))
        parts: list[str] = []
        last = 0
        index = 0
        while index < len(found):
            start, end, _ = found[index]
            group = index
            index += 1
            while index < len(found) and found[index][0] < end:
                end = max(end, found[index][1])
                index += 1
            parts.append(text[last:start])
            parts.append(f"<vault:{self._name_for(text[start:end], found[group:index])}>")
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _find(self, text: str, *, first: bool) -> list[_Interval]:
        """Character intervals of every secret occurrence in ``text`` (one if ``first``)."""
        found: list[_Interval] = []
        if self._short_pattern is not None:
            short = self._short_pattern
            for match in short.finditer(text):
                found.append((match.start(), match.end(), self._short[match.group()]))
                if first:
                    return found
                # finditer resumes after the match: look for overlapping ones reaching beyond.
                for inside in range(match.start() + 1, match.end()):
                    overlap = short.match(text, inside)
                    if overlap is not None and overlap.end() > match.end():
                        found.append((inside, overlap.end(), self._short[overlap.group()]))
        if len(text) >= FRAGMENT_LENGTH and (self._dense or self._sparse):
            data = _encode(text)
            in_units: list[_Interval] = []
            for index in (self._dense, self._sparse):
                if index and not (first and in_units):
                    index.find(data, in_units, first=first)
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
            exact = run == self._owners[owner][1] or run in self._forms.get(owner, ())
            return covered, exact, -owner

        return self._owners[max(owners, key=rank)][0]


def _longest(owner: tuple[str, str]) -> tuple[int, str]:
    return -len(owner[1]), owner[0]


def _content(line: str) -> int:
    """Characters of ``line`` other than surrounding whitespace."""
    return len(line.strip())


def _secret_lines(value: str) -> Iterator[str]:
    yield value
    lines = value.splitlines()
    if len(lines) > 1:
        yield from lines


def short_secret_names(secrets: Mapping[str, str]) -> list[str]:
    """Names whose values are 1 to 3 characters: too short to mask (``set`` warns)."""
    return sorted(name for name, value in secrets.items() if 0 < len(value) < MIN_MASKED_LENGTH)


def github_add_mask_lines(secrets: Mapping[str, str]) -> list[str]:
    """``::add-mask::`` workflow commands for every value and each line of a multi-line one.

    Values and lines of fewer than MIN_MASKED_LENGTH characters besides surrounding
    whitespace are skipped; the data is escaped the way the runner unescapes workflow
    commands.
    """
    commands: list[str] = []
    seen: set[str] = set()
    for value in secrets.values():
        if len(value) < MIN_MASKED_LENGTH:
            continue
        for text in _secret_lines(value):
            if _content(text) < MIN_MASKED_LENGTH or text in seen:
                continue
            seen.add(text)
            escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            commands.append(f"::add-mask::{escaped}")
    return commands
