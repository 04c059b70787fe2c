""".env files for `pytest-vault import`: what is accepted, and errors that never show a value."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_vault.dotenv import DotenvError, dotenv_values, parse_dotenv, read_dotenv, render_dotenv
from pytest_vault.errors import VaultError

PEM_LINES = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAwJ2h3yY8Ch0a9sBn3RkzPq1E7ZH4b9dPg6V3mWqk0+zJ2x1Y",
    "-----END RSA PRIVATE KEY-----",
]
PEM = "\n".join(PEM_LINES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("API_TOKEN=abc123", {"API_TOKEN": "abc123"}),
        ("API_TOKEN = abc123", {"API_TOKEN": "abc123"}),
        ("  API_TOKEN=abc123  ", {"API_TOKEN": "abc123"}),
        ("export API_TOKEN=abc123", {"API_TOKEN": "abc123"}),
        ("export   API_TOKEN = abc123", {"API_TOKEN": "abc123"}),
        ("EMPTY=", {"EMPTY": ""}),
        ("EMPTY=''", {"EMPTY": ""}),
        ('EMPTY=""', {"EMPTY": ""}),
        ("URL=https://x.test/?a=1&b=2", {"URL": "https://x.test/?a=1&b=2"}),
        ("HASH=abc#def", {"HASH": "abc#def"}),
        ("A=value # a comment", {"A": "value"}),
        ("A=value\t# a comment", {"A": "value"}),
        ("A='value # not a comment'", {"A": "value # not a comment"}),
        ('A="value # not a comment"', {"A": "value # not a comment"}),
        ("A='quoted' # comment", {"A": "quoted"}),
        ('A="quoted"   # comment', {"A": "quoted"}),
        ("A='  spaces kept  '", {"A": "  spaces kept  "}),
        ("A='single \\n \\t $HOME \"x\"'", {"A": 'single \\n \\t $HOME "x"'}),
        ('A="tab\\there"', {"A": "tab\there"}),
        ('A="new\\nline"', {"A": "new\nline"}),
        ('A="cr\\rhere"', {"A": "cr\rhere"}),
        ('A="quote \\" inside"', {"A": 'quote " inside'}),
        ('A="back\\\\slash"', {"A": "back\\slash"}),
        # python-dotenv's escapes only: `\$` and `\q` stay as written.
        ('A="dollar \\$HOME"', {"A": "dollar \\$HOME"}),
        ('A="unknown \\q escape"', {"A": "unknown \\q escape"}),
        ('A="it\'s"', {"A": "it's"}),
        ("A='say \"hi\"'", {"A": 'say "hi"'}),
        ("A=pässwörd-🔑", {"A": "pässwörd-🔑"}),
        ("_PRIVATE=1\nX9=2", {"_PRIVATE": "1", "X9": "2"}),
        ("A=1\nA=2", {"A": "2"}),
    ],
)
def test_accepted_lines(text: str, expected: dict[str, str]) -> None:
    assert parse_dotenv(text) == expected


def test_comments_and_blank_lines_are_skipped() -> None:
    text = "# leading comment\n\n   # indented comment\nA=1\n\n\t\nB=2 # trailing\n#C=3\n"
    assert parse_dotenv(text) == {"A": "1", "B": "2"}


def test_values_keep_file_order() -> None:
    assert list(parse_dotenv("Z=1\nA=2\nM=3")) == ["Z", "A", "M"]


@pytest.mark.parametrize("quote", ['"', "'"])
def test_multi_line_quoted_pem(quote: str) -> None:
    text = f"BEFORE=1\nPEM_KEY={quote}{PEM}\n{quote}\nAFTER=2\n"
    assert parse_dotenv(text) == {"BEFORE": "1", "PEM_KEY": PEM + "\n", "AFTER": "2"}


def test_multi_line_double_quoted_with_escaped_newlines() -> None:
    escaped = "\\n".join(PEM_LINES)
    assert parse_dotenv(f'PEM_KEY="{escaped}"') == {"PEM_KEY": PEM}


def test_crlf_line_endings_of_a_file(tmp_path: Path) -> None:
    # Read as python-dotenv opens a file: universal newlines, so a quoted PEM's CRLF is LF.
    text = "A=one\r\nB='two'\r\nPEM_KEY=\"" + PEM.replace("\n", "\r\n") + '"\r\nC=3\r\n'
    path = tmp_path / ".env"
    path.write_bytes(text.encode("utf-8"))
    assert read_dotenv(path) == {"A": "one", "B": "two", "PEM_KEY": PEM, "C": "3"}


def test_unclosed_quote_names_the_line_and_never_the_value() -> None:
    value = "s3cr3t-value-never-shown"
    text = f"A=1\n\nB='{value}\nC=3\n"
    with pytest.raises(DotenvError) as info:
        parse_dotenv(text, "prod.env")
    message = str(info.value)
    assert message.startswith("Line 3 of prod.env is not a NAME=value line")
    assert "unclosed quote" in message
    assert value not in message
    assert "s3cr3t" not in message


def test_unclosed_double_quote_ending_in_an_escaped_quote() -> None:
    with pytest.raises(DotenvError, match=r"Line 1 of \.env file is not a NAME=value line"):
        parse_dotenv('A="value-xyz\\"')


def test_text_after_a_quoted_value_is_an_error_without_the_value() -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv("A=1\nTOKEN='hidden-value' trailing-junk\n")
    message = str(info.value)
    assert "Line 2" in message
    assert "is not a NAME=value line" in message
    assert "hidden-value" not in message
    assert "trailing-junk" not in message


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("1ABC=value-hidden", 1),
        ("API-TOKEN=value-hidden", 1),
        ("ÄPFEL=value-hidden", 1),
        ("A.B=value-hidden", 1),
        ("export $X=value-hidden", 1),
    ],
)
def test_invalid_names_name_the_line(line: str, number: int) -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv(line)
    message = str(info.value)
    assert f"Line {number} of .env file: the name is not a valid secret name" in message
    assert "value-hidden" not in message


@pytest.mark.parametrize(
    "line", ["just some words", "=value-hidden", "NAME value-hidden", "A B=value-hidden"]
)
def test_lines_that_are_not_assignments(line: str) -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv(f"OK=1\n{line}\n")
    assert str(info.value).startswith("Line 2 of .env file is not a NAME=value line")
    assert "value-hidden" not in str(info.value)


@pytest.mark.parametrize("line", ["LONE_WORD", "export LONE_WORD", "LONE_WORD # comment"])
def test_a_name_without_a_value_is_an_error(line: str) -> None:
    # python-dotenv maps it to None; an import must not invent a value or drop it quietly.
    with pytest.raises(DotenvError) as info:
        parse_dotenv(f"OK=1\n{line}\n")
    assert str(info.value).startswith("Line 2 of .env file has no `=`")
    assert "LONE_WORD" not in str(info.value)


def test_read_dotenv_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\r\nB='x y'\r\n")
    assert read_dotenv(path) == {"A": "1", "B": "x y"}


def test_read_dotenv_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.env"
    path.write_text("A='open\n", encoding="utf-8")
    with pytest.raises(DotenvError, match=f"Line 1 of {path}"):
        read_dotenv(path)


def test_read_dotenv_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DotenvError, match=r"There is no file .* to import"):
        read_dotenv(tmp_path / "missing.env")
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(DotenvError, match=r"Cannot read .* as UTF-8 text"):
        read_dotenv(binary)
    with pytest.raises(DotenvError, match="Cannot read"):
        read_dotenv(tmp_path)


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
@example("A='")
@example('A="\\')
@example("export")
@example('A="x"\'')
@example("\x00=\x00")
@example("A=\ud800")
def test_parse_raises_nothing_but_dotenv_errors(text: str) -> None:
    error: DotenvError | None = None
    try:
        result = parse_dotenv(text)
    except DotenvError as exc:
        error = exc
    if error is None:
        assert all(isinstance(v, str) for v in result.values())
    else:
        assert isinstance(error, VaultError)
        assert str(error).startswith("Line ")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from("ab=#'\"\\ \t\n\r$xyz"),
        max_size=40,
    )
)
def test_parse_survives_dotenv_punctuation(text: str) -> None:
    with contextlib.suppress(DotenvError):
        parse_dotenv("NAME=" + text)


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: name != "export"
)


def _double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
    return f'"{escaped}"'


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(NAMES, st.text(st.characters(exclude_characters="$"), max_size=30), max_size=5)
)
def test_double_quoted_values_round_trip(values: dict[str, str]) -> None:
    text = "\n".join(f"{name}={_double_quoted(value)}" for name, value in values.items())
    assert parse_dotenv(text, environ={}) == values


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        NAMES, st.text(st.characters(exclude_characters="\r$"), max_size=30), max_size=5
    )
)
def test_single_quoted_values_round_trip(values: dict[str, str]) -> None:
    # python-dotenv's single quotes know two escapes: \\ and \'.
    quoted = {
        name: value.replace("\\", "\\\\").replace("'", "\\'") for name, value in values.items()
    }
    text = "\n".join(f"{name}='{value}'" for name, value in quoted.items())
    assert parse_dotenv(text, environ={}) == values


# -- the same results as python-dotenv (a differential test) ---------------------------------

# Text made of .env punctuation, so that the generated files exercise every rule of the
# grammar: quotes, escapes, comments, `export`, `=`, line breaks of each kind, variables.
DOTENV_ALPHABET = st.sampled_from(
    [*"ab=#'\"\\ \t\n\r${}:-_xAZ9é", "export ", "${a}", "${b:-d}", "\r\n", "'a'", '"b"']
)
DOTENV_TEXTS = st.lists(DOTENV_ALPHABET, max_size=40).map("".join)
ENVIRONMENT = {"a": "from-env", "HOME": "/home/someone"}


def python_dotenv_values(text: str, environ: dict[str, str]) -> dict[str, str | None]:
    import io
    import logging

    import dotenv

    logging.getLogger("dotenv.main").disabled = True
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            patch.delenv(name)
        for name, value in environ.items():
            patch.setenv(name, value)
        return dict(dotenv.dotenv_values(stream=io.StringIO(text)))


@settings(max_examples=1000, deadline=None)
@given(DOTENV_TEXTS)
@example("A=${a}\nB=${A}-${b:-d}")
@example("export A='x\\'y' # c\nB=\"1\\n2\"\rC")
@example('A="x\ny" junk\nB=1')
@example("A= #c\nB=#x\n'q k'=v")
def test_values_are_python_dotenvs(text: str) -> None:
    assert dotenv_values(text, ENVIRONMENT) == python_dotenv_values(text, ENVIRONMENT)


@settings(max_examples=200, deadline=None)
@given(DOTENV_TEXTS)
def test_import_takes_python_dotenvs_values_or_refuses(text: str) -> None:
    try:
        values = parse_dotenv(text, environ=ENVIRONMENT)
    except DotenvError:
        return
    expected = python_dotenv_values(text, ENVIRONMENT)
    assert values == expected


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, st.text(max_size=40) | DOTENV_TEXTS, max_size=6))
@example({"A": "${HOME}", "B": "$", "C": "${", "D": "\\${x}"})
def test_written_values_read_back_the_same_by_python_dotenv_and_import(
    values: dict[str, str],
) -> None:
    text = render_dotenv(values)
    assert python_dotenv_values(text, ENVIRONMENT) == values
    assert parse_dotenv(text, environ=ENVIRONMENT) == values


def test_written_values_read_back_from_a_file(tmp_path: Path) -> None:
    values = {"PEM_KEY": PEM + "\r\n", "QUOTES": 'it\'s "x"', "VAR": "${HOME}x"}
    path = tmp_path / ".env"
    path.write_text(render_dotenv(values), encoding="utf-8")
    import dotenv

    assert dotenv.dotenv_values(path) == values
    assert read_dotenv(path) == values
