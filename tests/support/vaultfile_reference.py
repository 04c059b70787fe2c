"""Helpers for the vault file's tests: the parser without its fast path, sample files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_vault.errors import VaultFileError
from pytest_vault.key import VaultKey
from pytest_vault.vaultfile import VaultFile, VaultHeader, _decode, _toml_document, _validate


def parse_with_tomllib(path: Path, data: bytes) -> VaultFile:
    """`VaultFile.parse` reading every file with ``tomllib`` (never `canonical_document`)."""
    return VaultFile(path, *_validate(path, _toml_document(path, _decode(path, data))))


def parse_outcome(parse: object, path: Path, data: bytes) -> tuple[VaultFile, list[str]] | str:
    """What ``parse`` makes of ``data``: the file and its names in file order, or the
    message of its `VaultFileError`."""
    assert callable(parse)
    try:
        result = parse(path, data)
    except VaultFileError as error:
        return str(error)
    assert isinstance(result, VaultFile)
    return result, list(result.tokens)


def rendered(path: Path, key: VaultKey, count: int, retired: int) -> str:
    """A file as `VaultFile.render` writes it: ``count`` secrets, ``retired`` old key ids."""
    retired_ids = tuple(VaultKey.generate().key_id for _ in range(retired))
    new = VaultHeader.new(key.key_id)
    vault_file = VaultFile(path, VaultHeader(new.vault_id, new.key_id, retired_ids))
    cipher = vault_file.cipher(key)
    names = [f"S_{i:04d}" for i in range(count)]
    vault_file.tokens = {name: cipher.seal(name, f"value {name}") for name in names}
    return vault_file.render()


def rewrite(path: Path, transform: object) -> None:
    assert callable(transform)
    path.write_text(transform(path.read_text(encoding="utf-8")), encoding="utf-8")


def token_line(text: str, name: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} = ")]
    return line


def token_of(text: str, name: str) -> str:
    return token_line(text, name).split(" = ", 1)[1].strip('"')


def assert_file_error(path: Path, data: bytes, phrase: str) -> VaultFileError:
    with pytest.raises(VaultFileError) as info:
        VaultFile.parse(path, data)
    message = str(info.value)
    assert str(path) in message
    assert phrase in message
    return info.value
