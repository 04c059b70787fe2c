"""The fast reader (`canonical_reader`) against tomllib: the differential tests it lives by.

`VaultFile.parse` reads a file in the exact layout `VaultFile.render` writes without
tomllib. These tests check that it reads such files exactly as tomllib does, that every
other layout goes to tomllib, and that tomllib then refuses what it always refused.
`tests/test_fuzz.py` adds property tests and every single-character change of a file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from vaultfile_reference import (
    assert_file_error,
    parse_outcome,
    parse_with_tomllib,
    rendered,
    rewrite,
    token_line,
    token_of,
)

from pytest_vault import vaultfile
from pytest_vault.canonical_reader import canonical_document
from pytest_vault.key import VaultKey
from pytest_vault.vaultfile import COMMENT, MAX_NAME_LENGTH, VaultFile


def refuse_tomllib(path: Path, text: str) -> object:
    raise AssertionError("the tomllib path was taken")


@pytest.mark.parametrize("retired", [0, 1, 3])
@pytest.mark.parametrize("count", [0, 1, 250])
def test_fast_path_reads_rendered_files_as_tomllib_does(
    path: Path, key: VaultKey, monkeypatch: pytest.MonkeyPatch, count: int, retired: int
) -> None:
    text = rendered(path, key, count, retired)
    if retired:
        assert "retired_key_ids = [\n    " in text  # tomli_w writes one id a line
    if not count:
        assert text.endswith("\n[secrets]\n")
    expected = parse_with_tomllib(path, text.encode())
    assert len(expected.tokens) == count
    assert len(expected.header.retired_key_ids) == retired
    monkeypatch.setattr(vaultfile, "_toml_document", refuse_tomllib)
    for data in (text, text.removeprefix(COMMENT)):
        fast = parse_outcome(VaultFile.parse, path, data.encode())
        assert fast == (expected, list(expected.tokens))


def test_a_rendered_file_is_read_without_importing_tomllib(path: Path, key: VaultKey) -> None:
    path.write_text(rendered(path, key, 3, 2), encoding="utf-8")
    program = (
        "import sys; from pathlib import Path; from pytest_vault.vaultfile import VaultFile; "
        "vault_file = VaultFile.load(Path(sys.argv[1])); "
        "print(len(vault_file.tokens), 'tomllib' in sys.modules)"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", program, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    assert run() == "3 False"
    rewrite(path, lambda t: t.replace("[secrets]\n", "[secrets]  # hand edit\n"))
    assert run() == "3 True"  # the check can see tomllib


def test_invalid_contents_in_the_canonical_layout_go_to_tomllib(path: Path, key: VaultKey) -> None:
    # The fast path leaves malformed ids and values to tomllib, or reads them as tomllib
    # does; either way _validate refuses them with the same message.
    text = rendered(path, key, 2, 1)
    token = token_of(text, "S_0000")
    long_name = "N" * (MAX_NAME_LENGTH + 1)
    edits = [
        ("format = 1", "format = 7", "newer than this pytest-vault"),
        ("format = 1", "format = 0", "format version 0 does not exist"),
        ('id = "v_', 'id = "x_', "vault id is missing or malformed"),
        ('key_id = "k_', 'key_id = "', "key id is missing or malformed"),
        ('cipher = "AES-256-GCM"', 'cipher = "ROT13"', "cipher is not AES-256-GCM"),
        ('    "k_', '    "no', "retired key ids is malformed"),
        (token, "QUJD", "value of S_0000 is not a well-formed"),
        (token, "", "value of S_0000 is not a well-formed"),
        (token, "not base64!", "value of S_0000 is not a well-formed"),
        (token, "é" * 40, "value of S_0000 is not a well-formed"),
        ("S_0001 =", f"{long_name} =", "invalid name"),
    ]
    for old, new, phrase in edits:
        assert old in text
        changed = text.replace(old, new, 1)
        assert canonical_document(changed) in (None, tomllib.loads(changed)), new
        message = parse_outcome(VaultFile.parse, path, changed.encode())
        assert isinstance(message, str), new
        assert phrase in message
        assert message == parse_outcome(parse_with_tomllib, path, changed.encode())


def _fallback_cases(text: str) -> list[tuple[str, str]]:
    """(id, changed text) of files the fast path must leave to tomllib."""
    token = token_of(text, "S_0000")
    line = token_line(text, "S_0000")
    retired = re.search(r'\n    "(k_[0-9a-f]+)",\n', text)
    assert retired
    return [
        ("duplicate-name", text + line + "\n"),
        ("duplicate-name-same-value", text.replace(line, f"{line}\n{line}")),
        ("leading-zero-format", text.replace("format = 1", "format = 01")),
        ("underscore-format", text.replace("format = 1", "format = 0_1")),
        ("plus-format", text.replace("format = 1", "format = +1")),
        ("quoted-name", text.replace("S_0000 =", '"S_0000" =')),
        ("literal-string", text.replace(f'"{token}"', f"'{token}'")),
        ("escaped-char", text.replace(f'"{token}"', f'"\\u{ord(token[0]):04x}{token[1:]}"')),
        ("escaped-quote", text.replace(f'"{token}"', f'"{token[:8]}\\"{token[8:]}"')),
        ("backslash", text.replace(f'"{token}"', f'"{token[:8]}\\q{token[8:]}"')),
        ("escaped-backslash", text.replace(f'"{token}"', f'"{token[:8]}\\\\{token[8:]}"')),
        ("tab-in-value", text.replace(f'"{token}"', f'"{token}\t"')),
        ("crlf", text.replace("\n", "\r\n")),
        ("no-final-newline", text.removesuffix("\n")),
        ("trailing-space", text.replace(line, line + " ")),
        ("comment-after-value", text.replace(line, line + " # note")),
        ("comment-line", text.replace("[secrets]\n", "[secrets]\n# note\n")),
        ("blank-line", text + "\n"),
        ("other-comment", "# mine\n" + text),
        ("bom", "\ufeff" + text),
        ("no-spaces", text.replace("S_0000 = ", "S_0000=")),
        ("inline-array", text.replace(f'[\n    "{retired[1]}",\n]', f'["{retired[1]}"]')),
        ("dash-in-name", text.replace("S_0000 =", "S-0000 =")),
        ("digit-first-name", text.replace("S_0000 =", "0S_0000 =")),
        ("dotted-name", text.replace("S_0000 =", "S_0000.x =")),
        ("no-secrets-table", text.split("\n[secrets]\n", maxsplit=1)[0] + "\n"),
        ("secrets-first", text.replace("[secrets]", "[secrets]\n[vault]", 1)),
        ("merge-conflict", text.replace(line, f"<<<<<<< HEAD\n{line}\n=======\n{line}")),
        ("lone-cr", text.replace(line, line + "\r")),
        ("del-char", text.replace(f'"{token}"', f'"{token}\x7f"')),
    ]


def test_anything_but_the_rendered_layout_falls_back_to_tomllib(path: Path, key: VaultKey) -> None:
    text = rendered(path, key, 3, 1)
    for case, changed in _fallback_cases(text):
        assert changed != text, case
        assert canonical_document(changed) is None, case
        data = changed.encode()
        assert parse_outcome(VaultFile.parse, path, data) == parse_outcome(
            parse_with_tomllib, path, data
        ), case


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("duplicate-name", "not TOML"),
        ("duplicate-name-same-value", "not TOML"),
        ("leading-zero-format", "not TOML"),
        ("escaped-quote", "not a well-formed"),
        ("backslash", "not TOML"),
        ("escaped-backslash", "not a well-formed"),
        ("merge-conflict", "merge conflict markers"),
        ("dash-in-name", "invalid name"),
    ],
)
def test_fallback_still_refuses_what_tomllib_refuses(
    path: Path, key: VaultKey, case: str, phrase: str
) -> None:
    changed = dict(_fallback_cases(rendered(path, key, 3, 1)))[case]
    assert_file_error(path, changed.encode(), phrase)


@pytest.mark.parametrize("case", ["quoted-name", "escaped-char", "crlf", "inline-array"])
def test_fallback_reads_equivalent_toml_as_the_same_file(
    path: Path, key: VaultKey, case: str
) -> None:
    text = rendered(path, key, 3, 1)
    changed = dict(_fallback_cases(text))[case]
    assert VaultFile.parse(path, changed.encode()) == VaultFile.parse(path, text.encode())
