"""`pytest-vault scan` beside detect-secrets on one generated repository.

``python benchmarks/bench_scan.py [--files 10000] [--megabytes 100] [--secrets 100]``

Generates a git repository of FILES text files (source code, JSON, logs, recorded HTTP
cassettes: words, hex digests, UUIDs, base64 blobs) totalling MEGABYTES, and a vault of
SECRETS secrets, each planted once in some file in one of the forms a leak takes (an
assignment, a JSON string, a URL's password, an ``Authorization: Basic`` header, a
``repr()`` with escapes, a multi-line PEM key). Then runs, on the same tree, each once:

* ``pytest-vault scan`` (the files in git's index), and
* ``detect-secrets scan`` (detect-secrets 1.x, also git's files; install it with
  ``pip install -e '.[bench]'``),

and reports each one's wall-clock and CPU time, how many of the planted secrets it found
(a finding on the planted line), and how many findings were elsewhere. detect-secrets
guesses by pattern and entropy; pytest-vault knows the values.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORDS = [
    "def",
    "return",
    "self",
    "assert",
    "import",
    "from",
    "class",
    "None",
    "True",
    "False",
    "value",
    "result",
    "config",
    "request",
    "response",
    "status",
    "header",
    "body",
    "client",
    "server",
    "test",
    "fixture",
    "user",
    "account",
    "token",
    "session",
    "cache",
    "database",
    "query",
    "record",
    "error",
    "warning",
    "info",
    "debug",
    "trace",
    "path",
    "file",
    "line",
]


def _random(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def line_pool(rng: random.Random, count: int = 20_000) -> list[str]:
    """Lines shaped like what repositories hold; random-looking ones included."""
    hex_chars = "0123456789abcdef"
    b64 = string.ascii_letters + string.digits + "+/"
    pool = []
    for index in range(count):
        kind = index % 8
        words = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
        if kind == 0:
            pool.append(f"    {words} = {rng.randint(0, 10**6)}")
        elif kind == 1:
            pool.append(f'  "{rng.choice(WORDS)}": "{words}",')
        elif kind == 2:
            pool.append(f"commit {_random(rng, hex_chars, 40)} {words}")
        elif kind == 3:
            identifier = uuid.UUID(int=rng.getrandbits(128))
            pool.append(f"2026-01-0{rng.randint(1, 9)} INFO {words} id={identifier}")
        elif kind == 4:
            pool.append(f"      string: {_random(rng, b64, rng.randint(40, 76))}")
        elif kind == 5:
            pool.append(f"# {words}")
        elif kind == 6:
            pool.append(f"sha256:{_random(rng, hex_chars, 64)}  {rng.choice(WORDS)}.tar.gz")
        else:
            pool.append(f"def {rng.choice(WORDS)}_{rng.choice(WORDS)}({rng.choice(WORDS)}):")
    return pool


def make_secrets(rng: random.Random, count: int) -> dict[str, str]:
    alnum = string.ascii_letters + string.digits
    makers = [
        lambda: "ghp_" + _random(rng, alnum, 36),
        lambda: "sk_live_" + _random(rng, alnum, 24),
        lambda: _random(rng, alnum + "!#%&*-_", rng.randint(12, 24)),  # a password
        lambda: _random(rng, alnum + "/+", 40),  # an AWS-style secret key
        lambda: _random(rng, "0123456789abcdef", 32),  # an API key in hex
        lambda: (
            "-----BEGIN PRIVATE KEY-----\n"
            + "\n".join(_random(rng, alnum + "+/", 64) for _ in range(4))
            + "\n-----END PRIVATE KEY-----\n"
        ),
    ]
    return {f"SECRET_{index:03d}": makers[index % len(makers)]() for index in range(count)}


def leak_lines(name: str, value: str, form: int) -> list[str]:
    """How a secret ends up in a file: the lines to insert (the first one holds it)."""
    if "\n" in value:
        return (
            [f"private_key = '''{value.splitlines()[1]}"] if form % 2 else value.splitlines()[1:2]
        )
    forms = [
        f'{name.lower()} = "{value}"',
        json.dumps({"token": value}),
        f"url = https://deploy:{value}@db.internal:5432/app",
        "Authorization: Basic " + base64.b64encode(f"admin:{value}".encode()).decode(),
        f"E       AssertionError: assert {value + chr(10)!r} == 'expected'",
    ]
    return [forms[form % len(forms)]]


def generate(
    folder: Path, files: int, megabytes: int, secrets: dict[str, str], seed: int
) -> list[tuple[str, int, str]]:
    """Write the repository; return where each secret was planted (path, line, name)."""
    rng = random.Random(seed + 1)  # not the secrets' sequence
    pool = line_pool(rng)
    average = megabytes * 1024 * 1024 // files
    line_length = sum(len(line) + 1 for line in pool) / len(pool)
    chosen = rng.sample(range(files), len(secrets))
    plants = dict(zip(chosen, secrets.items(), strict=True))
    planted: list[tuple[str, int, str]] = []
    extensions = [".py", ".json", ".log", ".yaml", ".txt"]
    for index in range(files):
        relative = f"pkg{index % 100:02d}/module_{index}{extensions[index % len(extensions)]}"
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        size = max(200, int(rng.gauss(average, average / 4)))
        lines = rng.choices(pool, k=max(4, round(size / line_length)))
        if index in plants:
            name, value = plants[index]
            at = rng.randrange(len(lines))
            lines[at:at] = leak_lines(name, value, index)
            planted.append((relative, at + 1, name))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return planted


def timed(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--secrets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the generated repository")
    parser.add_argument(
        "--no-detect-secrets", action="store_true", help="time pytest-vault scan alone"
    )
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        rng = random.Random(options.seed)
        secrets = make_secrets(rng, options.secrets)
        started = time.perf_counter()
        planted = generate(folder, options.files, options.megabytes, secrets, options.seed)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VAULT_KEY", "CI")}
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        key = subprocess.run(
            [str(BIN / "pytest-vault"), "init", "--no-keyring"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        env["PYTEST_VAULT_KEY"] = key
        dotenv = "".join(f"{name}={json.dumps(value)}\n" for name, value in secrets.items())
        (folder.parent / f"{folder.name}.env").write_text(dotenv, encoding="utf-8")
        subprocess.run(
            [str(BIN / "pytest-vault"), "import", str(folder.parent / f"{folder.name}.env")],
            cwd=folder,
            env=env,
            capture_output=True,
            check=True,
        )
        (folder.parent / f"{folder.name}.env").unlink()
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run([*git, "init", "-q", "."], cwd=folder, check=True)
        subprocess.run([*git, "add", "."], cwd=folder, check=True)
        size = sum(
            p.stat().st_size for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts
        )
        print(
            f"Repository: {options.files:,} files, {size / 2**20:.0f} MiB, {len(planted)} planted "
            f"secrets (generated in {time.perf_counter() - started:.0f} s)."
        )
        wanted = {(path, line) for path, line, _ in planted}

        wall, cpu, done = timed([str(BIN / "pytest-vault"), "scan"], folder, env)
        assert done.returncode in (0, 1), done.stderr
        found = set()
        for row in done.stdout.splitlines():
            path, line, _ = row.split(":", 2)
            found.add((path, int(line)))
        hits = len(wanted & found)
        print(
            f"pytest-vault scan: {wall:6.1f} s wall, {cpu:6.1f} s CPU; found {hits}/{len(planted)} "
            f"planted secrets; {len(found - wanted)} finding(s) elsewhere."
        )

        detect = BIN / "detect-secrets"
        if options.no_detect_secrets:
            return
        if not detect.exists():
            print("detect-secrets: not installed (pip install -e '.[bench]').")
            return
        wall, cpu, done = timed([str(detect), "scan"], folder, env)
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)["results"]
        found = {(path, item["line_number"]) for path, items in results.items() for item in items}
        hits = len(wanted & found)
        print(
            f"detect-secrets scan: {wall:6.1f} s wall, {cpu:6.1f} s CPU; found "
            f"{hits}/{len(planted)} planted secrets; {len(found - wanted)} finding(s) elsewhere."
        )
    finally:
        if options.keep:
            print(f"Kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
