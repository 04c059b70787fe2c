"""Figures for vaults of 10 / 1,000 / 10,000 secrets: ``python benchmarks/bench_scale.py``.

For each size it times, in one process (so the interpreter's start-up is not counted):
loading and decrypting the whole file, and each console command run through
``pytest_vault.cli.main`` (``list``, ``get``, ``set``, ``rm``, ``import`` of one more
secret, ``rotate``, ``check``, ``status``). It then prints the cost per secret, which stays
flat when the growth is linear. Separately it times the start-up of the console script
(``pytest-vault --version``) and a ``pytest`` run whose one test reads the vault through
the fixture (which includes building the masker for every secret).

Options: ``--sizes 10,1000,10000`` and ``--repeat N`` (the best of N runs is reported).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pytest_vault import cli
from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

COMMANDS = ("list", "get", "set", "rm", "import", "rotate", "check", "status")


def values(count: int) -> dict[str, str]:
    rng = random.Random(count)
    alphabet = string.ascii_letters + string.digits
    return {
        f"SECRET_{i:05d}": "".join(rng.choice(alphabet) for _ in range(40)) for i in range(count)
    }


@contextlib.contextmanager
def quiet(stdin: bytes = b"") -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), "utf-8")
    sys.stdout = io.TextIOWrapper(io.BytesIO(), "utf-8")
    sys.stderr = io.StringIO()
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def best_of(
    repeat: int, action: Callable[[], object], setup: Callable[[], object] | None = None
) -> float:
    """The shortest of ``repeat`` timings of ``action`` (``setup`` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def run_command(folder: Path, argv: list[str], stdin: bytes = b"") -> None:
    with quiet(stdin):
        status = cli.main([*argv, "--file", str(folder / "secrets.vault.toml"), "--no-keyring"])
    if status != 0:
        raise SystemExit(f"`pytest-vault {' '.join(argv)}` failed with status {status}")


def measure(count: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        path = folder / "secrets.vault.toml"
        key = VaultKey.generate()
        create_vault(path, key)
        set_secrets(path, key, values(count))
        os.environ["PYTEST_VAULT_KEY"] = key.text()
        figures = {
            "load+decrypt": best_of(repeat, lambda: VaultFile.load(path).decrypt_all(key)),
        }
        env_file = folder / "one.env"
        for command in COMMANDS:

            def once(command: str = command) -> None:
                if command == "get":
                    run_command(folder, ["get", "SECRET_00000"])
                elif command == "set":
                    run_command(folder, ["set", "BENCH"], b"bench-value-1")
                elif command == "rm":
                    run_command(folder, ["rm", "BENCH_RM"])
                elif command == "import":
                    env_file.write_text("BENCH_IMPORTED=bench-value-3\n", "utf-8")
                    run_command(folder, ["import", str(env_file), "--force"])
                elif command == "rotate":
                    with quiet():
                        cli.main(["rotate", "--file", str(path), "--no-keyring"])
                        printed = sys.stdout.buffer.getvalue()  # type: ignore[attr-defined]
                    os.environ["PYTEST_VAULT_KEY"] = printed.decode().strip()
                else:
                    run_command(folder, [command])

            def setup(command: str = command) -> None:
                if command == "rm":  # something to remove, put there untimed
                    current = VaultKey.parse(os.environ["PYTEST_VAULT_KEY"])
                    set_secrets(path, current, {"BENCH_RM": "bench-value-2"})

            figures[command] = best_of(repeat, once, setup)
        figures["file MiB"] = path.stat().st_size / 2**20
        figures["pytest run"] = best_of(1, lambda: pytest_run(folder))
        return figures


def pytest_run(folder: Path) -> None:
    (folder / "pytest.ini").write_text("[pytest]\n", "utf-8")
    (folder / "test_reads.py").write_text(
        "def test_reads(vault):\n    assert vault['SECRET_00001']\n", "utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--vault-no-keyring"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the pytest run failed:\n{done.stdout}\n{done.stderr}")


def startup() -> float:
    script = str(Path(sys.executable).parent / "pytest-vault")
    return best_of(
        3, lambda: subprocess.run([script, "--version"], check=True, capture_output=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results = {size: measure(size, args.repeat) for size in sizes}

    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    print(f"console script start-up (pytest-vault --version): {startup() * 1000:.0f} ms\n")
    rows = ["load+decrypt", *COMMANDS, "pytest run"]
    header = "".join(f"{size:>12,} secrets" for size in sizes)
    print(f"{'milliseconds':<14}{header}")
    for row in rows:
        print(f"{row:<14}" + "".join(f"{results[s][row] * 1000:>20.1f}" for s in sizes))
    print(f"{'file MiB':<14}" + "".join(f"{results[s]['file MiB']:>20.2f}" for s in sizes))

    print("\nper secret (microseconds): flat from one size to the next means linear growth")
    print(f"{'':<14}" + "".join(f"{size:>12,} secrets" for size in sizes))
    for row in rows:
        print(f"{row:<14}" + "".join(f"{results[s][row] / s * 1e6:>20.1f}" for s in sizes))
    if len(sizes) > 1:
        small, large = sizes[-2], sizes[-1]
        print(f"\ntime at {large:,} / time at {small:,} secrets (x{large // small} the secrets):")
        print("  ".join(f"{row} x{results[large][row] / results[small][row]:.1f}" for row in rows))


if __name__ == "__main__":
    main()
