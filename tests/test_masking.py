"""The masking engine: what it hides, what it leaves, and what it costs."""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import string
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from unittest import mock
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_vault.masking import (
    FRAGMENT_LENGTH,
    MIN_MASKED_LENGTH,
    Masker,
    github_add_mask_lines,
    short_secret_names,
)
from pytest_vault.masking import index as index_module
from pytest_vault.masking.forms import escaped_forms, neighbourhood_forms
from pytest_vault.masking.regions import carrying_lines, sensitive_regions

TOKEN = re.compile(r"<vault:[A-Za-z_][A-Za-z0-9_]*>")

API_TOKEN = "sk-live-4f9a1c2e7b3d8f60a5c1"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "Zm9v\n"
    "-----END PRIVATE KEY-----"
)


def windows(value: str, length: int = FRAGMENT_LENGTH) -> Iterator[str]:
    """Every run of ``length`` consecutive characters of ``value``."""
    for start in range(len(value) - length + 1):
        yield value[start : start + length]


def leaked_windows(output: str, value: str) -> list[str]:
    return [window for window in windows(value) if window in output]


def repr_inside(value: str) -> str:
    return repr(value)[1:-1]


# --- the literal value and the token ---------------------------------------------------


def test_literal_value_is_replaced_by_its_name() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN})

    assert masker.mask(f"Authorization: Bearer {API_TOKEN}\n") == (
        "Authorization: Bearer <vault:API_TOKEN>\n"
    )


def test_every_occurrence_is_replaced() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN})

    masked = masker.mask(f"{API_TOKEN} == {API_TOKEN},{API_TOKEN}")

    assert masked == "<vault:API_TOKEN> == <vault:API_TOKEN>,<vault:API_TOKEN>"


def test_text_without_a_secret_is_returned_as_the_same_object() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PEM": PEM, "PIN": "482913"})
    text = "E       assert 'sk-live-4' == 'expected'  # nine characters\n" * 200

    assert masker.mask(text) is text
    assert not masker.contains_secret(text)


def test_adjacent_secrets_each_get_a_token() -> None:
    masker = Masker({"A": "first-secret-value", "B": "second-secret-value"})

    assert masker.mask("first-secret-valuesecond-secret-value") == "<vault:A><vault:B>"


def test_two_names_with_the_same_value_are_both_masked_names() -> None:
    masker = Masker({"ONE": API_TOKEN, "TWO": API_TOKEN})

    assert masker.masked_names == {"ONE", "TWO"}
    assert masker.mask(API_TOKEN) == "<vault:ONE>"


# --- escaped forms ---------------------------------------------------------------------

ESCAPED_VALUES = [
    pytest.param('it\'s a "quoted" secret', id="quotes"),
    pytest.param("C:\\Users\\ci\\secret-dir\\key", id="backslashes"),
    pytest.param("line one of it\nline two of it\r\n", id="newlines"),
    pytest.param("pässwörd-Ünïcödé-ключ-密钥", id="non-ascii"),
    pytest.param("tab\tseparated\tsecret\tvalue", id="tabs"),
    pytest.param("ctrl\x00\x1b[31m-bell\x07-secret", id="control-characters"),
]


@pytest.mark.parametrize("value", ESCAPED_VALUES)
@pytest.mark.parametrize(
    "render",
    [
        pytest.param(repr, id="repr"),
        pytest.param(lambda value: repr("\"'" + value), id="repr-in-a-string-with-both-quotes"),
        pytest.param(lambda value: repr('"' + value), id="repr-single-quoted"),
        pytest.param(lambda value: repr("'" + value), id="repr-double-quoted"),
        pytest.param(ascii, id="ascii"),
        pytest.param(lambda value: repr(value.encode()), id="bytes-repr"),
        pytest.param(lambda value: repr({"password": value}), id="repr-in-a-dict"),
        pytest.param(json.dumps, id="json"),
        pytest.param(lambda value: json.dumps(value, ensure_ascii=False), id="json-unicode"),
    ],
)
def test_escaped_forms_are_masked(value: str, render: Callable[[str], str]) -> None:
    rendered = f"E   AssertionError: {render(value)} != None"
    masker = Masker({"SECRET": value})

    masked = masker.mask(rendered)

    assert "<vault:SECRET>" in masked
    assert masked.startswith("E   AssertionError: ")
    assert masked.endswith(" != None")
    for form in (value, repr_inside(value), ascii(value)[1:-1], repr(value.encode())[2:-1]):
        assert leaked_windows(masked, form) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a'b\"c\\", id="quotes-and-backslash"),
        pytest.param("tab\t\n", id="whitespace"),
        pytest.param("clé€", id="non-ascii"),
    ],
)
def test_escaped_forms_of_short_values_are_masked_whole(value: str) -> None:
    masker = Masker({"SHORT": value})
    forms = {repr(value), ascii(value), repr(value.encode()), json.dumps(value)}

    for form in forms:
        masked = masker.mask(f"x = {form}")
        assert "<vault:SHORT>" in masked, form
        assert masked.startswith("x = ")


def test_url_quoted_and_xml_escaped_forms_are_masked() -> None:
    value = "p@ss/w0rd+&<more>?"
    masker = Masker({"PASSWORD": value})

    url = "https://api.example.com/login?password=p%40ss%2Fw0rd%2B%26%3Cmore%3E%3F&x=1"
    xml = '<property name="pw" value="p@ss/w0rd+&amp;&lt;more&gt;?" />'

    assert masker.mask(url) == "https://api.example.com/login?password=<vault:PASSWORD>&x=1"
    assert masker.mask(xml) == '<property name="pw" value="<vault:PASSWORD>" />'


# --- lines of a multi-line value -------------------------------------------------------


def test_each_line_of_a_multi_line_value_that_carries_secret_material_is_masked() -> None:
    masker = Masker({"PEM": PEM})
    body = PEM.splitlines()[1:-1]

    for line in body:
        masked = masker.mask(f"read: {line} (done)")
        assert masked == "read: <vault:PEM> (done)", line
    # The armour carries nothing secret (precision): it stays, as in any PEM file.
    for armour in ("-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"):
        assert masker.mask(f"read: {armour}") == f"read: {armour}"


def test_a_line_with_surrounding_whitespace_is_masked_stripped() -> None:
    masker = Masker({"CONFIG": "[auth]\n  user = ci-bot\n  pin=9988\n"})

    assert masker.mask("pin=9988") == "<vault:CONFIG>"
    assert masker.mask("log: pin=9988.") == "log: <vault:CONFIG>."


def test_multi_line_value_in_its_repr_is_masked_whole() -> None:
    masker = Masker({"PEM": PEM})

    assert masker.mask(f"key = {PEM!r}") == "key = '<vault:PEM>'"


def test_lines_shorter_than_the_minimum_are_not_masked() -> None:
    masker = Masker({"MULTI": "ab\nmiddle-line-long-enough\ncd"})

    assert masker.mask("ab cd") == "ab cd"


def test_lines_of_mostly_whitespace_are_not_masked() -> None:
    value = '{\n  "type": "service_account",\n    ],\n        \n  "key": "k-93jd02kd"\n}'
    masker = Masker({"JSON_KEY": value})
    traceback = "x = [\n    ],\ny = 1\n"  # shares "\n    ],\n" (8 characters) with it

    assert masker.mask(traceback) is traceback
    assert masker.mask('"key": "k-93jd02kd"') == "<vault:JSON_KEY>"


# --- fragments ---------------------------------------------------------------------------


def test_fragment_in_a_truncated_repr_is_masked() -> None:
    value = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
    masker = Masker({"ALPHABET": value})
    truncated = f"assert '{value[:16]}...{value[-12:]}' == 'x'"

    masked = masker.mask(truncated)

    assert masked == "assert '<vault:ALPHABET>...<vault:ALPHABET>' == 'x'"


def test_fragment_in_a_diff_tail_is_masked() -> None:
    value = "token-3f8a9b2c1d7e6f5a4b3c"
    masker = Masker({"TOKEN": value})
    diff = (
        "E       AssertionError: assert 'token-3f8a9b2c1d7e6f5a4b3c' == 'token-3f8a9b2c1d7e0000'\n"
        "E         Skipping 15 identical leading characters in diff, use -v to show\n"
        "E         - c1d7e0000\n"
        "E         + c1d7e6f5a4b3c\n"
    )

    masked = masker.mask(diff)

    assert leaked_windows(masked, value) == []
    assert "E         - c1d7e0000\n" in masked  # nine characters: below the fragment length
    assert "E         + <vault:TOKEN>\n" in masked


def test_fragment_is_replaced_as_a_maximal_run_keeping_its_neighbours() -> None:
    value = "0123456789abcdefghij"
    masker = Masker({"S": value})

    assert masker.mask("xx3456789abcdeyy") == "xx<vault:S>yy"
    assert masker.mask("x456789abc") == "x456789abc"  # a run of nine survives


def test_fragment_of_an_escaped_form_is_masked() -> None:
    value = 'quote"d\\and\nnewline-secret-tail'
    masker = Masker({"S": value})
    form = repr_inside(value)

    masked = masker.mask(f"...{form[3:17]}...")

    assert masked == "...<vault:S>..."


def test_values_of_four_to_nine_characters_are_matched_only_whole() -> None:
    masker = Masker({"PIN": "12345678"})

    assert masker.mask("pin 12345678 ok") == "pin <vault:PIN> ok"
    assert masker.mask("pin 1234567 ok") == "pin 1234567 ok"


def test_long_values_of_low_entropy_are_masked() -> None:
    value = "ab" * 100  # one gram occurring a hundred times
    masker = Masker({"REPEAT": value})

    assert masker.mask("xx" + "ab" * 6 + "yy") == "xx<vault:REPEAT>yy"
    assert masker.mask("ab" * 4 + "a") == "ab" * 4 + "a"


def test_a_masked_run_never_splits_a_character() -> None:
    # 😀 and 😁 share their first UTF-16 code unit: the common run ends inside 😁.
    masker = Masker({"S": "abcdefghi😀xyz"})

    masked = masker.mask("-abcdefghi😁-")

    assert masked == "-<vault:S>-"
    masked.encode("utf-8")  # no lone surrogate left behind


def test_a_masked_run_starting_inside_a_character_takes_the_whole_character() -> None:
    # U+10600 and U+1F600 share their second UTF-16 code unit.
    masker = Masker({"S": "xyz\U00010600abcdefghi"})

    masked = masker.mask("-\U0001f600abcdefghi-")

    assert masked == "-<vault:S>-"


def test_non_bmp_characters_keep_positions_right() -> None:
    value = "geheim-🔑-schlüssel-🗝️-2024"
    masker = Masker({"KEY": value})
    text = f"🙂 before {value[2:15]} middle 😀 {value} after 🙃"

    masked = masker.mask(text)

    assert masked == "🙂 before <vault:KEY> middle 😀 <vault:KEY> after 🙃"


# --- overlapping secrets ------------------------------------------------------------------


@pytest.mark.parametrize("order", ["short-first", "long-first"])
def test_longer_secret_is_masked_before_a_shorter_one_it_contains(order: str) -> None:
    secrets = {"SHORT": "abc123xyz0", "LONG": "abc123xyz0-tail-more"}
    if order == "long-first":
        secrets = dict(reversed(secrets.items()))
    masker = Masker(secrets)

    assert masker.mask("v=abc123xyz0-tail-more;") == "v=<vault:LONG>;"
    assert masker.mask("v=abc123xyz0;") == "v=<vault:SHORT>;"


def test_short_secret_inside_a_long_one_does_not_split_it() -> None:
    masker = Masker({"PIN": "4711", "URL": "https://user:4711@db.example.com"})

    assert masker.mask("dsn https://user:4711@db.example.com") == "dsn <vault:URL>"
    assert masker.mask("pin 4711") == "pin <vault:PIN>"


def test_overlapping_short_secrets_are_both_hidden() -> None:
    masker = Masker({"A": "abcd", "B": "bcdefgh"})

    assert masker.mask("xabcdefghx") == "x<vault:B>x"  # B covers more of the run than A


# --- what is not masked --------------------------------------------------------------------


def test_values_shorter_than_four_characters_are_ignored() -> None:
    masker = Masker({"TINY": "abc", "ONE": "x"})

    assert not masker
    assert masker.masked_names == frozenset()
    text = "abc x abcabc"
    assert masker.mask(text) is text
    assert not masker.contains_secret(text)


def test_empty_value_never_corrupts_text() -> None:
    masker = Masker({"EMPTY": "", "API_TOKEN": API_TOKEN})
    text = f"plain text, {API_TOKEN}, more text"

    masked = masker.mask(text)

    assert masked == "plain text, <vault:API_TOKEN>, more text"
    assert "EMPTY" not in masked
    assert masker.masked_names == {"API_TOKEN"}


def test_empty_masker_is_falsy_and_returns_text_unchanged() -> None:
    masker = Masker({})

    assert not masker
    assert masker.mask("anything at all") == "anything at all"
    assert not masker.contains_secret("anything at all")


# --- idempotence and tokens ---------------------------------------------------------------


def test_masking_is_idempotent() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PEM": PEM, "PIN": "4711"})
    text = f"{API_TOKEN[:12]}... {PEM!r} pin=4711 {API_TOKEN}"

    once = masker.mask(text)

    assert masker.mask(once) == once
    assert not masker.contains_secret(once)


def test_tokens_are_not_masked_again_by_short_secrets_matching_them() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "WORD": "vault", "NAME": "TOKEN"})

    once = masker.mask(f"{API_TOKEN} vault TOKEN")

    assert once == "<vault:API_TOKEN> <vault:WORD> <vault:NAME>"
    assert masker.mask(once) == once


def test_secret_next_to_a_token_is_still_masked() -> None:
    masker = Masker({"A": API_TOKEN, "B": "another-secret-value"})

    assert masker.mask(f"<vault:A>{API_TOKEN}another-secret-value<vault:B>") == (
        "<vault:A><vault:A><vault:B><vault:B>"
    )


# --- the small API ---------------------------------------------------------------------------


def test_repr_shows_the_count_never_a_value() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PIN": "4711", "TINY": "ab"})

    assert repr(masker) == "Masker(2 secrets)"
    assert repr(Masker({"ONE": API_TOKEN})) == "Masker(1 secret)"
    assert API_TOKEN not in repr(masker)


def test_masked_names_are_those_of_four_characters_or_more() -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PIN": "4711", "TINY": "abc", "EMPTY": ""})

    assert masker.masked_names == frozenset({"API_TOKEN", "PIN"})
    assert masker


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"x{API_TOKEN}x", True),
        (API_TOKEN[5:15], True),
        (API_TOKEN[5:14], False),
        ("pin 4711", True),
        ("pin 471", False),
        ("<vault:API_TOKEN>", False),
        ("", False),
    ],
)
def test_contains_secret_follows_the_same_rules_as_mask(text: str, expected: bool) -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PIN": "4711"})

    assert masker.contains_secret(text) is expected
    assert (masker.mask(text) != text) is expected


def test_short_secret_names_lists_values_of_one_to_three_characters() -> None:
    secrets = {"B": "ab", "EMPTY": "", "A": "x", "OK": "abcd", "C": "xyz"}

    assert short_secret_names(secrets) == ["A", "B", "C"]


def test_github_add_mask_lines_cover_values_and_lines_escaped() -> None:
    secrets = {
        "TOKEN": API_TOKEN,
        "PEM": "-----BEGIN KEY-----\r\nabc%def\n\nxy\n  }\n-----END KEY-----",
        "TINY": "ab",
        "EMPTY": "",
        "SAME": API_TOKEN,
    }

    assert github_add_mask_lines(secrets) == [
        f"::add-mask::{API_TOKEN}",
        "::add-mask::-----BEGIN KEY-----%0D%0Aabc%25def%0A%0Axy%0A  }%0A-----END KEY-----",
        "::add-mask::-----BEGIN KEY-----",
        "::add-mask::abc%25def",
        "::add-mask::-----END KEY-----",
    ]


def test_github_add_mask_lines_never_emit_a_raw_line_break() -> None:
    lines = github_add_mask_lines({"S": "a\rb\nc%d\r\n" * 3})

    assert all("\n" not in line and "\r" not in line for line in lines)


# --- properties ------------------------------------------------------------------------------

SECRET_ALPHABET = "ab01'\"\\\n\t é€-"
TEXT_ALPHABET = SECRET_ALPHABET + "xyz.:()[]+…"

secret_values = st.text(SECRET_ALPHABET + "🔑", min_size=FRAGMENT_LENGTH, max_size=40)

#: Parts of structured values: words, JSON keys, punctuation, URLs, armour and random-looking
#: tokens, so that values have sensitive regions and ordinary parts.
STRUCTURED_PARTS = [
    "{",
    '"type": "service_account",',
    "\n",
    "postgres://app:",
    "@db.example.com",
    "Xk9mQ2vL7pR4sT6w",
    "7c4a8d09ca3762af61e5",
    "-----BEGIN KEY-----",
    "ab",
    "é",
    "'",
    "\\",
    '"password": "pw-',
]
structured_values = st.lists(st.sampled_from(STRUCTURED_PARTS), min_size=2, max_size=8).map("".join)


@st.composite
def texts_with(draw: st.DrawFn, secrets: list[str]) -> str:
    """Random text with secrets, their escaped forms, fragments and truncations mixed in."""
    parts: list[str] = []
    kinds = ["noise", "value", "repr", "fragment", "repr-fragment", "prefix", "suffix", "tail"]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(kinds))
        if kind == "noise" or not secrets:
            parts.append(draw(st.text(TEXT_ALPHABET, max_size=15)))
            continue
        value = draw(st.sampled_from(secrets))
        form = value if kind in ("value", "fragment", "tail") else repr_inside(value)
        cut = draw(st.integers(0, len(form)))
        if kind.endswith("fragment"):
            form = form[cut : draw(st.integers(cut, len(form)))]
        elif kind == "prefix":
            form = form[:cut] + draw(st.sampled_from(["...", "…"]))
        elif kind == "suffix":
            form = draw(st.sampled_from(["...", "…"])) + form[cut:]
        elif kind == "tail":
            form = "\nE    " + draw(st.sampled_from(["- ", "+ "])) + form[cut:]
        parts.append(form)
    return "".join(parts)


@given(data=st.data(), values=st.lists(secret_values, min_size=1, max_size=4))
@settings(max_examples=200, deadline=None)
def test_no_fragment_of_a_secret_survives(data: st.DataObject, values: list[str]) -> None:
    # Values without structure are sensitive as a whole: no run of 10 of them survives.
    masker = Masker({f"S{index}": value for index, value in enumerate(values)})
    text = data.draw(texts_with(values))

    masked = masker.mask(text)

    for value in values:
        assert leaked_windows(masked, value) == []
        assert leaked_windows(masked, repr_inside(value)) == []
    assert masker.mask(masked) == masked
    assert not masker.contains_secret(masked)
    assert masker.contains_secret(text) is (masked != text)


@given(text=st.text("xyz.:()[] \n", max_size=300), values=st.lists(secret_values, max_size=4))
@settings(max_examples=100, deadline=None)
def test_text_without_secret_characters_is_unchanged(text: str, values: list[str]) -> None:
    # The text shares only " " and "\n" with the secrets, so no run of four can match.
    masker = Masker({f"S{index}": value for index, value in enumerate(values)})

    assert masker.mask(text) is text


# --- the index machinery against brute force -------------------------------------------------

ELLIPSES = ("...", "…")


def _occurrences(text: str, form: str) -> Iterator[int]:
    found = text.find(form)
    while found != -1:
        yield found
        found = text.find(form, found + 1)


def _common_prefix(text: str, at: int, form: str) -> int:
    length = 0
    while at + length < len(text) and length < len(form) and text[at + length] == form[length]:
        length += 1
    return length


def _common_suffix(text: str, end: int, form: str) -> int:
    length = 0
    while length < end and length < len(form) and text[end - length - 1] == form[-length - 1]:
        length += 1
    return length


def _cut_before(text: str, start: int) -> bool:
    """An ellipsis, or a diff line's marker, right before ``start``."""
    if any(text[:start].endswith(dots) for dots in ELLIPSES):
        return True
    return text[start - 2 : start] in ("- ", "+ ") and (start == 2 or text[start - 3] in " \n\t")


def _fragment_runs(text: str, fragments: list[str]) -> Iterator[tuple[int, int]]:
    """Each maximal common run of FRAGMENT_LENGTH or more of ``text`` with a fragment form,
    without the line breaks at its ends."""
    for form in fragments:
        for at in range(len(text) - FRAGMENT_LENGTH + 1):
            window = text[at : at + FRAGMENT_LENGTH]
            for to in _occurrences(form, window):
                if at and to and text[at - 1] == form[to - 1]:
                    continue  # not where the run starts
                start = at
                end = at + _common_prefix(text, at, form[to:])
                while text[start] in "\r\n":
                    start += 1
                while text[end - 1] in "\r\n":
                    end -= 1
                yield start, end


def brute_force_shape(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with each masked stretch as one "#", computed the slow and obvious way
    from the documented rule (regions.py, forms.py), without the index."""
    covered = [False] * len(text)

    def cover(start: int, end: int) -> None:
        covered[start:end] = [True] * (end - start)

    for value in secrets.values():
        if len(value) < MIN_MASKED_LENGTH:
            continue
        if len(value) < FRAGMENT_LENGTH:
            for form in escaped_forms(value):
                for at in _occurrences(text, form):
                    cover(at, at + len(form))
            continue
        regions = sensitive_regions(value)
        fragments = []
        for start, end in regions:
            fragments.extend(escaped_forms(value[start:end]))
            if "%" in value[start:end]:
                fragments.extend(escaped_forms(unquote(value[start:end])))
        for start, end in _fragment_runs(text, fragments):
            cover(start, end)
        lines = [line for line, _ in carrying_lines(value, regions)]
        for line in {*lines, *(line.strip() for line in lines)}:
            if len(line.strip()) >= MIN_MASKED_LENGTH:
                for at in _occurrences(text, line):
                    cover(at, at + len(line))
        if regions == [(0, len(value))]:
            continue
        for form in escaped_forms(value):
            for at in _occurrences(text, form):
                cover(at, at + len(form))
            for at in range(len(text)):
                length = _common_prefix(text, at, form)
                end = at + length
                if FRAGMENT_LENGTH <= length < len(form) and text.startswith(ELLIPSES, end):
                    cover(at, end)
            for end in range(len(text) + 1):
                length = _common_suffix(text, end, form)
                if FRAGMENT_LENGTH <= length < len(form) and _cut_before(text, end - length):
                    cover(end - length, end)
    shape = "".join("#" if hidden else char for char, hidden in zip(text, covered, strict=True))
    return re.sub("#+", "#", shape)


def masked_shape(masked: str) -> str:
    return re.sub("#+", "#", TOKEN.sub("#", masked))


@contextmanager
def index_mode(mode: str) -> Iterator[None]:
    """Put every piece into the dense index, or into the sparse one."""
    if mode == "dense":
        yield
    else:
        with mock.patch.object(index_module, "DENSE_MAX_UNITS", 0):
            yield


# Short values and values with more repetition than the texts above, for overlaps.
brute_force_values = st.one_of(
    st.text("ab'\\\n é", min_size=MIN_MASKED_LENGTH - 1, max_size=30), structured_values
)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@given(data=st.data(), values=st.lists(brute_force_values, min_size=1, max_size=4))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_masking_equals_brute_force(mode: str, data: st.DataObject, values: list[str]) -> None:
    secrets = {f"S{index}": value for index, value in enumerate(values)}
    with index_mode(mode):
        masker = Masker(secrets)
    text = data.draw(texts_with([value for value in values if value]))

    masked = masker.mask(text)

    assert masked_shape(masked) == brute_force_shape(text, secrets)
    assert masker.contains_secret(text) is (masked != text)
    spans = masker.find(text)
    assert spans == sorted(spans)
    assert all(end <= start for (_, end, _), (start, _, _) in itertools.pairwise(spans))


@given(value=st.text(string.ascii_letters + "'\"\\\n\t/+é", min_size=FRAGMENT_LENGTH, max_size=80))
@settings(max_examples=200, deadline=None)
def test_neighbourhood_forms_hold_every_run_of_an_escaped_form(value: str) -> None:
    pieces = neighbourhood_forms(value, FRAGMENT_LENGTH - 1)

    for form in (repr_inside(value), ascii(value)[1:-1], json.dumps(value)[1:-1]):
        for window in windows(form):
            assert any(window in piece for piece in pieces)


# --- big secrets ---------------------------------------------------------------------------


def pem_of(size: int, seed: int) -> str:
    rng = random.Random(seed)
    body = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    lines = [body[start : start + 64] for start in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def test_big_secret_fragments_are_masked() -> None:
    pem = pem_of(40_000, seed=1)
    low_entropy = "ab" * 3000 + pem_of(2_000, seed=2)
    masker = Masker({"PEM": pem, "LOW": low_entropy, "API_TOKEN": API_TOKEN})
    rng = random.Random(3)
    escaped = repr_inside(pem)
    starts = (40, 999, 20_000)  # inside the base64 body: its runs are sensitive
    pieces = [escaped[start : start + rng.randint(10, 300)] for start in starts]
    pieces += [pem[start : start + rng.randint(10, 300)] for start in (30, 7_777, 39_000)]
    pieces += [API_TOKEN]
    text = " | ".join(pieces)

    masked = masker.mask(text)

    assert masked.count(" | ") == len(pieces) - 1
    assert all(piece.startswith("<vault:") for piece in masked.split(" | ")), masked[:300]
    body = "".join(pem.splitlines()[1:-1])
    assert leaked_windows(masked, body) == []
    assert masker.mask(f"key = {pem!r}") == "key = '<vault:PEM>'"
    assert masker.mask(f"key = {repr(pem)[:300]}...") == "key = '<vault:PEM>..."
    assert masker.mask(f"key = ...{repr(pem)[-300:]}") == "key = ...<vault:PEM>'"
    # A line of it printed alone: the armour carries nothing secret.
    assert masker.mask(pem.splitlines()[0]) == pem.splitlines()[0]


def test_one_mebibyte_secret_builds_in_bounded_memory() -> None:
    pem = pem_of(1024 * 1024, seed=4)
    secrets = {"PEM": pem, "API_TOKEN": API_TOKEN}

    tracemalloc.start()
    try:
        masker = Masker(secrets)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 64 * 1024 * 1024
    lines = pem.splitlines()
    text = f"line {lines[5000]}; repr {repr_inside(pem)[400_000:400_050]}; tail {pem[-40:]!r}"
    masked = masker.mask(text)
    assert masked == (
        "line <vault:PEM>; repr <vault:PEM>; tail '<vault:PEM>\\n-----END PRIVATE KEY-----\\n'"
    )
    assert masker.mask(pem) == "<vault:PEM>"
    clean = "E   assert response.status_code == 200\n" * 300
    assert masker.mask(clean) is clean


# --- fast paths: short texts and long texts taken a chunk at a time ---------------------------


@pytest.mark.parametrize("padding", range(8))
def test_every_fragment_in_a_short_ascii_text_is_masked(padding: int) -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PIN": "4821", "WORD": "hunter22"})
    for window in windows(API_TOKEN):
        text = "x" * padding + window + "y"
        assert masker.mask(text) == "x" * padding + "<vault:API_TOKEN>y"
        assert masker.contains_secret(text)
    for value, name in (("4821", "PIN"), ("hunter22", "WORD")):
        text = "x" * padding + repr(value)
        assert masker.mask(text) == "x" * padding + f"'<vault:{name}>'"
        assert masker.contains_secret(text)


@pytest.mark.parametrize("length", [4, 9, 10, 63, 64, 255, 256, 257])
def test_clean_short_text_is_returned_as_the_same_object(length: int) -> None:
    masker = Masker({"API_TOKEN": API_TOKEN, "PIN": "4821"})
    text = ("E   assert x == 42 " * 20)[:length]
    assert masker.mask(text) is text
    assert not masker.contains_secret(text)


@pytest.mark.parametrize("chunk", [1, 2, 3, 1024])
@given(data=st.data(), values=st.lists(brute_force_values, min_size=1, max_size=4))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_masking_in_small_chunks_equals_brute_force(
    chunk: int, data: st.DataObject, values: list[str]
) -> None:
    secrets = {f"S{index}": value for index, value in enumerate(values)}
    masker = Masker(secrets)
    text = data.draw(texts_with([value for value in values if value]))
    expected = brute_force_shape(text, secrets)

    with mock.patch.object(index_module, "CHUNK_GRAMS", chunk):
        masked = masker.mask(text)

    assert masked_shape(masked) == expected
    assert masker.contains_secret(text) is (masked != text)


def test_long_text_with_secrets_across_chunks_is_masked() -> None:
    values = [f"{API_TOKEN}{index:02d}" for index in range(12)]
    masker = Masker({f"S{index}": value for index, value in enumerate(values)})
    filler = "E   assert response.status_code == 200\n"
    pieces = [filler * (index * 37 % 200) + value for index, value in enumerate(values)] * 20
    text = "".join(pieces) + filler

    masked = masker.mask(text)

    assert masked.count("<vault:") == len(pieces)
    assert all(leaked_windows(masked, value) == [] for value in values)
