"""How a secret is written when escaped: the forms the masking looks for besides the value.

Every escaping here maps a text character by character, so the escaped form of a part of a
value is the matching part of the value's escaped form, and one ``str.translate`` table
per escaping writes a whole value. The forms:

* ``repr()`` in both quote styles (the choice depends on the whole string a value sits
  in), ``ascii()``, the ``repr()`` of its UTF-8 bytes (both quote styles);
* JSON strings, with ``ensure_ascii`` true and false;
* URL quoting as ``urllib.parse.quote`` (``safe="/"`` and ``safe=""``), ``quote_plus``
  and ``requests`` write it (``requote_uri``: ``safe="!#$%&'()*+,/:;=?@[]~"``, or without
  ``%`` when the URL holds a broken escape);
* XML and HTML escaping (JUnit XML, HTML reports).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote, quote_plus

__all__ = ["BIG_REGION", "escaped_forms", "neighbourhood_forms"]

BIG_REGION = 65_536
"""Texts longer than this get their escaped forms only around the characters escaping
changes (see `neighbourhood_forms`)."""

_REQUESTS_SAFE = "!#$%&'()*+,/:;=?@[]~"
_XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_HTML = {**_XML, "'": "&#x27;"}


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


def _url_path(char: str) -> str:
    return quote(char, errors="surrogatepass")


def _url(char: str) -> str:
    return quote(char, safe="", errors="surrogatepass")


def _url_plus(char: str) -> str:
    return quote_plus(char, safe="", errors="surrogatepass")


def _requests(char: str) -> str:
    return quote(char, safe=_REQUESTS_SAFE, errors="surrogatepass")


def _requests_without_percent(char: str) -> str:
    return quote(char, safe=_REQUESTS_SAFE.replace("%", ""), errors="surrogatepass")


def _xml(char: str) -> str:
    return _XML.get(char, char)


def _html(char: str) -> str:
    return _HTML.get(char, char)


_CharEscape = Callable[[str], str]

TEXT_ESCAPES: tuple[_CharEscape, ...] = (
    _repr_single,
    _repr_double,
    _ascii_single,
    _ascii_double,
    _bytes_single,
    _bytes_double,
    _json_ascii,
    _json_unicode,
)
"""The escapings of Python and JSON: any value, any length."""

MARKUP_ESCAPES: tuple[_CharEscape, ...] = (
    _url_path,
    _url,
    _url_plus,
    _requests,
    _requests_without_percent,
    _xml,
    _html,
)
"""URL quoting and XML/HTML escaping."""

_ALL = (*TEXT_ESCAPES, *MARKUP_ESCAPES)

# Characters that no escaping here changes: a text made only of them (most API tokens) is
# its only form, and needs no translation tables.
_UNESCAPED = re.compile(r"[A-Za-z0-9_.~-]*\Z")


@lru_cache(maxsize=4096)
def _escaped(char: str) -> tuple[str, ...]:
    """``char`` under each escaping of `_ALL`."""
    return tuple(escape(char) for escape in _ALL)


def _tables(text: str, kinds: range) -> list[dict[int, str]]:
    """The distinct, non-empty ``str.translate`` tables of the escapings ``kinds``."""
    escaped = [(ord(char), _escaped(char)) for char in set(text)]
    tables: list[dict[int, str]] = []
    for kind in kinds:
        table = {code: forms[kind] for code, forms in escaped if forms[kind] != chr(code)}
        if table and table not in tables:
            tables.append(table)
    return tables


def escaped_forms(text: str, *, markup: bool = True) -> list[str]:
    """``text`` and each distinct escaped form of it, ``text`` first (without the URL and
    XML forms unless ``markup``)."""
    if _UNESCAPED.match(text):
        return [text]
    forms = [text]
    for table in _tables(text, range(len(_ALL) if markup else len(TEXT_ESCAPES))):
        form = text.translate(table)
        if form not in forms:
            forms.append(form)
    return forms


def neighbourhood_forms(text: str, margin: int) -> list[str]:
    """For a big text: the text, and its escaped forms only around changed characters.

    Away from the characters an escaping changes, an escaped form equals the text, so every
    run of ``margin + 1`` characters of an escaped form lies either in the text or within
    ``margin`` characters of a changed one. The Python and JSON forms are always kept (they
    are at most 12 times the text); the URL and XML forms only while they add no more than
    the text's length, which keeps the memory linear in the secrets' size.
    """
    forms = [text]
    if _UNESCAPED.match(text):
        return forms
    seen: set[str] = set()
    budget = len(text)
    spans_of: dict[frozenset[int], list[tuple[int, int]]] = {}
    text_kinds = range(len(TEXT_ESCAPES))
    for kind_range, limited in ((text_kinds, False), (range(len(TEXT_ESCAPES), len(_ALL)), True)):
        for table in _tables(text, kind_range):
            changed = frozenset(table)
            spans = spans_of.get(changed)
            if spans is None:
                spans = spans_of[changed] = _spans_around(text, changed, margin)
            pieces = [text[start:end].translate(table) for start, end in spans]
            size = sum(map(len, pieces))
            if limited and size > budget:
                continue
            for piece in pieces:
                if piece not in seen:
                    seen.add(piece)
                    forms.append(piece)
                    if limited:
                        budget -= len(piece)
    return forms


def _spans_around(text: str, changed: frozenset[int], margin: int) -> list[tuple[int, int]]:
    pattern = re.compile("[" + "".join(re.escape(chr(code)) for code in changed) + "]+")
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        start = max(match.start() - margin, 0)
        end = match.end() + margin
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
