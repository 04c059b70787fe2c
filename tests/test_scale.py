"""Scale (issue 6): 10,000 secrets and single values of 1 MiB through every command.

The figures (time per command at 10 / 1,000 / 10,000 secrets) come from
``python benchmarks/bench_scale.py``; these tests assert only that everything works and
round-trips exactly at that size. Each command runs once, through the real console script.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
from projects import Project

from pytest_vault.key import VaultKey
from pytest_vault.names import MAX_VALUE_BYTES
from pytest_vault.vaultfile import VaultFile

ENV = "PYTEST_VAULT_KEY"
COUNT = 10_000


def random_values(count: int, seed: int = 10) -> dict[str, str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_.~+/"
    return {
        f"SECRET_{i:05d}": "".join(rng.choice(alphabet) for _ in range(rng.randint(16, 64)))
        for i in range(count)
    }


def one_mebibyte_of_text(seed: int = 1) -> str:
    """Exactly 1 MiB of UTF-8: PEM-like lines, with some two- and four-byte characters."""
    rng = random.Random(seed)
    lines = ["-----BEGIN BIG CERTIFICATE BUNDLE-----"]
    size = len(lines[0].encode()) + 1
    while size < MAX_VALUE_BYTES - 200:
        line = "".join(rng.choice(string.ascii_letters + "+/") for _ in range(63)) + "é🔑"
        lines.append(line)
        size += len(line.encode()) + 1
    text = "\n".join(lines) + "\n"
    text += "x" * (MAX_VALUE_BYTES - len(text.encode()))
    assert len(text.encode()) == MAX_VALUE_BYTES
    return text


def test_ten_thousand_secrets_through_every_command(project: Project, tmp_path: Path) -> None:
    key = project.init()
    values = random_values(COUNT)
    env_file = tmp_path / "many.env"
    env_file.write_text("".join(f"{n}={v}\n" for n, v in values.items()), encoding="utf-8")

    imported = project.cli("import", str(env_file), env={ENV: key})
    assert imported.returncode == 0, imported.stderr
    assert f"Imported {COUNT} secret(s)" in imported.stderr

    listed = project.cli("list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == sorted(values)

    got = project.cli("get", "SECRET_04711", env={ENV: key})
    assert got.stdout == values["SECRET_04711"] + "\n"

    assert project.cli("set", "ADDED", input="added-value-123\n", env={ENV: key}).returncode == 0
    values["ADDED"] = "added-value-123"
    assert project.cli("rm", "SECRET_00000").returncode == 0
    del values["SECRET_00000"]

    rotated = project.cli("rotate", "--no-keyring", env={ENV: key})
    assert rotated.returncode == 0, rotated.stderr
    assert f"{COUNT} secret(s) re-encrypted" in rotated.stderr
    new_key = rotated.stdout.strip()

    check = project.cli("check", env={ENV: new_key})
    assert check.returncode == 0, check.stderr
    assert f"format, header and {COUNT} value(s) well-formed" in check.stderr
    assert project.cli("check", env={ENV: key}).returncode == 1  # the old key is retired

    status = project.cli("status", env={ENV: new_key})
    assert f"Secrets: {COUNT}" in status.stderr
    assert "Opens: yes" in status.stderr

    vault_file = VaultFile.load(project.vault_file)
    assert vault_file.decrypt_all(VaultKey.parse(new_key)) == values
    # One line per secret: the file grows linearly (about 100 bytes a secret).
    lines = project.vault_file.read_text("utf-8").splitlines()
    assert sum(line.startswith("SECRET_") for line in lines) == COUNT - 1


def test_a_one_mebibyte_value_round_trips_exactly(project: Project, tmp_path: Path) -> None:
    key = project.init()
    big = one_mebibyte_of_text()
    source = tmp_path / "bundle.pem"
    source.write_bytes(big.encode("utf-8"))

    stored = project.cli("set", "BUNDLE", "--from-file", str(source), env={ENV: key})
    assert stored.returncode == 0, stored.stderr
    got = project.cli("get", "BUNDLE", env={ENV: key})
    assert got.returncode == 0, got.stderr
    assert got.stdout == big + "\n"

    too_big = tmp_path / "too-big.pem"
    too_big.write_bytes(big.encode("utf-8") + b"!")
    refused = project.cli("set", "BUNDLE", "--from-file", str(too_big), env={ENV: key})
    assert refused.returncode == 1
    assert "1 MiB" in refused.stderr

    rotated = project.cli("rotate", "--no-keyring", env={ENV: key})
    assert rotated.returncode == 0, rotated.stderr
    new_key = VaultKey.parse(rotated.stdout)
    assert VaultFile.load(project.vault_file).decrypt_all(new_key) == {"BUNDLE": big}


def test_a_quoted_value_over_thousands_of_lines_imports_in_one_pass(
    project: Project, tmp_path: Path
) -> None:
    """A 1 MiB multi-line quoted value in a .env file (20,000 lines), and an unclosed quote
    before 10,000 lines: both once took minutes (each line re-scanned the whole value)."""
    key = project.init()
    lines = [f"line {i:05d} of a long certificate bundle, base64: {'Q' * 10}" for i in range(15000)]
    value = "\n".join(lines)
    assert len(value.encode()) < MAX_VALUE_BYTES
    env_file = tmp_path / "bundle.env"
    env_file.write_text(f'BUNDLE="{value}"\nAFTER=after-value-1\n', encoding="utf-8")
    imported = project.cli("import", str(env_file), env={ENV: key})
    assert imported.returncode == 0, imported.stderr
    opened = VaultFile.load(project.vault_file).decrypt_all(VaultKey.parse(key))
    assert opened == {"BUNDLE": value, "AFTER": "after-value-1"}

    unclosed = tmp_path / "unclosed.env"
    unclosed.write_text(
        'BROKEN="never closed\n' + "".join(f"NAME_{i}=value-{i}\n" for i in range(10_000)),
        encoding="utf-8",
    )
    refused = project.cli("import", str(unclosed), env={ENV: key})
    assert refused.returncode == 1
    assert "Line 1 of" in refused.stderr
    assert "is not a NAME=value line" in refused.stderr
    assert "unclosed quote" in refused.stderr


@pytest.mark.slow
def test_a_pytest_run_reads_ten_thousand_secrets(project: Project, tmp_path: Path) -> None:
    """The fixture (and the masking of 10,000 secrets) at full size."""
    import os
    import subprocess
    import sys

    key = project.init()
    values = random_values(COUNT, seed=11)
    env_file = tmp_path / "many.env"
    env_file.write_text("".join(f"{n}={v}\n" for n, v in values.items()), encoding="utf-8")
    assert project.cli("import", str(env_file), env={ENV: key}).returncode == 0
    (project.root / "test_many.py").write_text(
        "def test_many(vault):\n"
        f"    assert len(vault) == {COUNT}\n"
        f"    assert vault['SECRET_09999'] == {values['SECRET_09999']!r}\n"
        "    print(vault['SECRET_00042'])\n"
        "    assert vault['SECRET_00042'] == 'not it'\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", "-q"],
        cwd=project.root,
        env={**os.environ, ENV: key},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert values["SECRET_00042"] not in done.stdout
    assert "<vault:SECRET_00042>" in done.stdout
