"""The gram index: finding, in linear time, where a text shares runs with secret forms.

Texts and forms are compared as UTF-16 code units, so four characters pack into one 64-bit
integer (a *gram*) that ``memoryview.cast("Q")`` produces at C speed.

Every form (a *piece*) is laid out in one corpus, each starting at a multiple of
`Layout.period`. The index maps the grams found at every `Layout.stride`-th unit of each
piece to where they are; a text is probed at every `Layout.text_step`-th unit. The two
steps are chosen so that every common run of `FRAGMENT_LENGTH` units holds a probe that
the index holds at the matching place (one solution of two congruences in any 7
consecutive positions):

* dense (pieces up to `DENSE_MAX_UNITS`): forms indexed every 3 units, text probed every 2;
* sparse (bigger pieces, such as a PEM key of a mebibyte): forms indexed every 7 units,
  text probed at every unit.

A probe that hits is extended left and right against the piece it aligns with (slice
comparisons, galloping), which yields the maximal common run in one go; each diagonal is
extended once, so the work stays linear in the text's length. The `Masker` then decides,
by the piece's kind, whether the run counts.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from .limits import FRAGMENT_LENGTH

__all__ = [
    "DENSE",
    "DENSE_MAX_UNITS",
    "SPARSE",
    "Acceptor",
    "GramIndex",
    "Layout",
    "Piece",
    "Run",
    "encode",
]

GRAM = 4
"""UTF-16 code units per gram: one 64-bit integer."""

DENSE_MAX_UNITS = 4096
"""Pieces up to this many units go to the dense index, bigger ones to the sparse one."""

MAX_POSITIONS = 32
"""A gram found at more places than this is aligned by searching the corpus instead."""

CHUNK_GRAMS = 1024
"""Probes taken at once (keeps the work per unit constant on long texts)."""

FEW_GRAMS = 8
"""Up to this many distinct grams hit in a chunk are located by searching for them."""

_PAD = "\uffff".encode("utf-16-le")

Piece = tuple[str, int, int]
"""A form, its owner (index of the secret) and its kind (see `Masker`)."""

Run = tuple[int, int, int]
"""A common run: start and end (exclusive, in units of the text) and the piece's number."""

Acceptor = Callable[[int, int, int, int, int], "tuple[int, int] | None"]
"""Decides whether a common run counts: ``accept(start, end, piece, before, after)``, where
``before`` and ``after`` are the units of the piece left out before and after the run,
returns the span to mask (maybe trimmed) or None."""


class Layout:
    """How a gram index samples its pieces and probes texts."""

    __slots__ = ("byte_offsets", "period", "stride", "text_offsets")

    def __init__(self, stride: int, text_offsets: tuple[int, ...]) -> None:
        #: Grams are indexed at every ``stride``-th unit of a piece.
        self.stride = stride
        #: A text is probed at units ``offset + 4 k``, for each of these offsets.
        self.text_offsets = text_offsets
        #: Pieces start at multiples of this (``stride`` and ``GRAM`` both divide it).
        self.period = stride * GRAM
        #: ``text_offsets`` in bytes of UTF-16.
        self.byte_offsets = tuple(2 * offset for offset in text_offsets)


DENSE = Layout(stride=3, text_offsets=(0, 2))
SPARSE = Layout(stride=7, text_offsets=(0, 1, 2, 3))


def encode(text: str) -> bytes:
    """``text`` as UTF-16 code units (lone surrogates kept)."""
    return text.encode("utf-16-le", "surrogatepass")


def _grams(data: bytes, offset: int) -> tuple[range, memoryview]:
    """The grams of ``data`` at units offset, offset+4, ... (as integers), and where."""
    view = memoryview(data)[2 * offset :]
    count = len(view) // 8
    return range(offset, offset + GRAM * count, GRAM), view[: count * 8].cast("Q")


def common_forward(text: bytes, at: int, corpus: bytes, to: int, limit: int) -> int:
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


def common_backward(text: bytes, at: int, corpus: bytes, to: int, limit: int) -> int:
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


class GramIndex:
    """Where the grams of some pieces are, and the common runs of a text with them."""

    __slots__ = (
        "_corpus",
        "_ends",
        "_grams",
        "_layout",
        "_more",
        "_starts",
        "kinds",
        "owners",
    )

    def __init__(self, pieces: Sequence[Piece], layout: Layout) -> None:
        self._layout = layout
        self.owners = array("q", [owner for _, owner, _ in pieces])
        self.kinds = array("b", [kind for _, _, kind in pieces])
        chunks = [form.encode("utf-16-le", "surrogatepass") for form, _, _ in pieces]
        period = layout.period
        starts: list[int] = []
        ends: list[int] = []
        position = 0
        for index, data in enumerate(chunks):
            units = len(data) // 2
            starts.append(position)
            ends.append(position + units)
            padded = -(-(units + 1) // period) * period  # one pad unit at least
            chunks[index] = data + _PAD * (padded - units)
            position += padded
        self._starts = array("q", starts)
        self._ends = array("q", ends)
        self._corpus = b"".join(chunks)
        self._grams: dict[int, int] = {}
        self._more: dict[int, list[int] | None] = {}
        self._build()

    def _sampled(self) -> list[tuple[range, memoryview]]:
        """The grams at every stride-th unit of the corpus (pieces start at multiples)."""
        stride = self._layout.stride
        inverse = pow(GRAM, -1, stride)
        sampled = []
        for offset in range(GRAM):
            positions, view = _grams(self._corpus, offset)
            first = (-offset * inverse) % stride  # (offset + 4 k) % stride == 0
            sampled.append((positions[first::stride], view[first::stride]))
        return sampled

    def _build(self) -> None:
        grams = self._grams
        sampled = self._sampled()
        total = 0
        for positions, view in sampled:
            grams.update(zip(view, positions, strict=True))  # at C speed; the last place wins
            total += len(positions)
        if len(grams) == total:
            return
        # Some grams occur more than once: list their places (rare, and only those).
        more: dict[int, list[int] | None] = {}
        for positions, view in sampled:
            for gram, at in zip(view, positions, strict=True):
                if grams[gram] != at:
                    places = more.get(gram, [])
                    if places is not None:
                        places.append(at)
                        more[gram] = places if len(places) < MAX_POSITIONS else None
        for gram, places in more.items():
            if places is not None:
                places.append(grams[gram])
        self._more = more

    def __bool__(self) -> bool:
        return bool(self._grams)

    def piece_span(self, piece: int) -> tuple[int, int]:
        """Where piece number ``piece`` lies in the corpus (units)."""
        return self._starts[piece], self._ends[piece]

    def surely_clean(self, text: bytes) -> bool:
        """Whether no probe of ``text`` is a gram of the index (then it shares no run)."""
        keys = self._grams.keys()
        view = memoryview(text)
        size = len(text)
        for offset in self._layout.byte_offsets:
            end = size - (size - offset) % 8
            if end > offset and not keys.isdisjoint(view[offset:end].cast("Q")):
                return False
        return True

    def _hits(self, text: bytes) -> list[tuple[int, int]]:
        """(unit position, gram) of each probe of ``text`` that the index holds, in order."""
        keys = self._grams.keys()
        hits: list[tuple[int, int]] = []
        for offset in self._layout.text_offsets:
            positions, view = _grams(text, offset)
            for chunk in range(0, len(view), CHUNK_GRAMS):
                grams = view[chunk : chunk + CHUNK_GRAMS]
                if keys.isdisjoint(grams):
                    continue
                values: list[int] = grams.tolist()
                common = keys & values
                first = positions[chunk]
                if len(common) > FEW_GRAMS:
                    hits.extend(
                        (first + GRAM * index, gram)
                        for index, gram in enumerate(values)
                        if gram in common
                    )
                    continue
                # A few chance hits (the usual case in a clean text): find them in C.
                low, high = 2 * first, 2 * (first + GRAM * len(values))
                for gram in common:
                    pattern = gram.to_bytes(8, "little")
                    found = text.find(pattern, low, high)
                    while found != -1:
                        if found % 8 == (2 * offset) % 8:
                            hits.append((found // 2, gram))
                        found = text.find(pattern, found + 2, high)
        hits.sort()
        return hits

    def runs(self, text: bytes, accept: Acceptor, *, first: bool) -> list[Run]:
        """The accepted maximal common runs of ``text`` with the pieces (one if ``first``).

        ``accept`` says whether a common run counts (see `Acceptor`).
        """
        found: list[Run] = []
        length = len(text) // 2
        if length < FRAGMENT_LENGTH:  # every piece is at least this long
            return found
        reach = FRAGMENT_LENGTH - GRAM
        covered_start, covered_end = 0, -1
        extended: dict[int, int] = {}  # diagonal (text - corpus position) -> end of its run
        searched: dict[bytes, list[int]] = {}
        hits = self._hits(text)
        index = 0
        while index < len(hits):
            at, gram = hits[index]
            if covered_start <= at - reach and at + FRAGMENT_LENGTH <= covered_end:
                # Every run through this probe, and the next ones up to the end of the
                # accepted run, lies inside that run.
                index = bisect_left(hits, (covered_end - FRAGMENT_LENGTH + 1, -1), lo=index + 1)
                continue
            index += 1
            places = self._more.get(gram, ()) if self._more else ()
            if places is None:
                alignments = self._search(text, at, length, searched)
            elif places:
                alignments = [(at, to) for to in places]
            else:
                alignments = [(at, self._grams[gram])]
            for text_at, corpus_at in alignments:
                diagonal = text_at - corpus_at
                if extended.get(diagonal, -1) >= text_at + GRAM:
                    continue
                piece = bisect_right(self._starts, corpus_at) - 1
                start, end, corpus_start = self._extend(text, length, text_at, corpus_at, piece)
                extended[diagonal] = end
                piece_start, piece_end = self._starts[piece], self._ends[piece]
                corpus_end = corpus_start + end - start
                span = accept(start, end, piece, corpus_start - piece_start, piece_end - corpus_end)
                if span is not None:
                    start, end = span
                    found.append((start, end, piece))
                    if first:
                        return found
                    if end > covered_end:
                        covered_start, covered_end = start, end
        return found

    def _search(
        self, text: bytes, at: int, length: int, searched: dict[bytes, list[int]]
    ) -> list[tuple[int, int]]:
        """Alignments for a too common gram: look up each window of the text through it."""
        alignments: list[tuple[int, int]] = []
        corpus = self._corpus
        low = max(0, at - (FRAGMENT_LENGTH - GRAM))
        high = min(at, length - FRAGMENT_LENGTH)
        for start in range(low, high + 1):
            window = text[2 * start : 2 * (start + FRAGMENT_LENGTH)]
            places = searched.get(window)
            if places is None:
                places = searched[window] = []
                found = corpus.find(window)
                while found != -1 and len(places) < MAX_POSITIONS:
                    if found % 2 == 0:
                        piece = bisect_right(self._starts, found // 2) - 1
                        if found // 2 + FRAGMENT_LENGTH <= self._ends[piece]:
                            places.append(found // 2)
                    found = corpus.find(window, found + 1)
            alignments.extend((start, place) for place in places)
        return alignments

    def _extend(
        self, text: bytes, length: int, at: int, to: int, piece: int
    ) -> tuple[int, int, int]:
        """The maximal common run through text unit ``at`` aligned with corpus unit ``to``:
        its start and end in the text, and its start in the corpus."""
        piece_start, piece_end = self._starts[piece], self._ends[piece]
        if to >= piece_end:
            return at, at, to
        back = common_backward(text, at, self._corpus, to, min(at, to - piece_start))
        forward = common_forward(text, at, self._corpus, to, min(length - at, piece_end - to))
        return at - back, at + forward, to - back
