"""Figures for the masking engine, in one run: ``python benchmarks/bench_masking_engine.py``.

* precision: the false masks of the precision suite (ordinary text changed; goal 0) and its
  leaks (sensitive runs left in masked renderings; goal 0);
* worst case: masking the real ``pytest -vv`` output of a failed comparison of a
  5,000-character non-ASCII secret (goal < 0.5 s);
* build: `Masker` cost per secret at 1,000 secrets, in instructions (valgrind's callgrind,
  when the machine has it) and CPU time (goal <= 60 k instructions);
* scale: masking a 16 KB clean text with 5,000 secrets vs 500 (interleaved CPU time, median
  of rounds; goal <= 1.2), and memory kept by a masker of 10,000 secrets.
"""

from __future__ import annotations

import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _common import collected  # noqa: E402

from pytest_vault.masking import Masker  # noqa: E402

ALPHABET = string.ascii_letters + string.digits + "-_"


def _secrets(count: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    return {
        f"SECRET_{index}": "".join(rng.choice(ALPHABET) for _ in range(rng.randint(20, 60)))
        for index in range(count)
    }


def _clean_text(size: int) -> str:
    line = "E   assert response.status_code == 200  # tests/test_api.py::test_login 0x7f3a9c2e\n"
    return (line * (size // len(line) + 1))[:size]


def precision() -> tuple[int, int, int]:
    """(false masks, leaks, outputs checked) of the precision suite's texts."""
    import test_precision as suite

    false_masks = sum(suite.MASKER.mask(text) != text for text in suite.ORDINARY.values())
    leaks = 0
    checked = 0
    for name, value in suite.SECRETS.items():
        for render in suite.RENDERINGS.values():
            for output in render(value):
                checked += 1
                leaks += bool(suite.leaks(suite.MASKER.mask(output)))
        del name
    return false_masks, leaks, checked


def worst_case_seconds() -> tuple[float, int]:
    """Seconds to mask the real -vv output of a 5,000-character non-ASCII secret's diff."""
    rng = random.Random(5000)
    secret = "".join(rng.choice("абвгдеёжзийклмнопрстуфхцчшщэюяüéß€Ω") for _ in range(5000))
    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "test_big.py"
        test.write_text(
            textwrap.dedent(
                f"""
                SECRET = {secret!r}

                def test_big():
                    assert SECRET == SECRET[:2500] + "X" + SECRET[2501:]
                """
            ),
            encoding="utf-8",
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-vv",
                "-p",
                "no:vault",
                "-p",
                "no:cacheprovider",
                str(test),
            ],
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=folder,
            check=False,
        )
    output = result.stdout
    masker = Masker({"BIG": secret})
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        masked = masker.mask(output)
        best = min(best, time.process_time() - start)
    assert not any(secret[at : at + 10] in masked for at in range(len(secret) - 9))
    return best, len(output)


_BUILD = """
import random, string, sys
from pytest_vault.masking import Masker
rng = random.Random(1)
alphabet = string.ascii_letters + string.digits + "-_"
secrets = {f"S{i}": "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))
           for i in range(int(sys.argv[1]))}
if sys.argv[2] == "build":
    Masker(secrets)
"""


def _instructions(*args: str) -> int | None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    result = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            _BUILD,
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return collected(result.stderr.encode())


def build_per_secret(count: int = 1000) -> tuple[float, float | None]:
    """(CPU seconds, instructions or None) per secret for building a masker of ``count``."""
    secrets = _secrets(count, seed=1)
    rounds = []
    for _ in range(5):
        start = time.process_time()
        Masker(secrets)
        rounds.append(time.process_time() - start)
    with_build = _instructions(str(count), "build")
    without = _instructions(str(count), "none")
    instructions = None
    if with_build is not None and without is not None:
        instructions = (with_build - without) / count
    return statistics.median(rounds) / count, instructions


def scale_ratio(rounds: int = 15) -> tuple[float, float, float]:
    """(ratio, seconds with 500, seconds with 5,000) for masking a 16 KB clean text."""
    text = _clean_text(16 * 1024)
    small, large = Masker(_secrets(500, seed=2)), Masker(_secrets(5000, seed=3))
    assert small.mask(text) is text
    assert large.mask(text) is text
    times: dict[int, list[float]] = {500: [], 5000: []}
    for _ in range(rounds):
        for count, masker in ((500, small), (5000, large)):
            start = time.process_time()
            for _ in range(20):
                masker.mask(text)
            times[count].append((time.process_time() - start) / 20)
    low, high = statistics.median(times[500]), statistics.median(times[5000])
    return high / low, low, high


def memory_of(count: int) -> float:
    """MiB kept by a masker of ``count`` secrets (traced allocations)."""
    secrets = _secrets(count, seed=4)
    tracemalloc.start()
    masker = Masker(secrets)
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del masker
    return kept / 2**20


def main() -> None:
    false_masks, leaks, checked = precision()
    print(
        f"precision suite: {false_masks} false masks (goal 0), {leaks} leaking outputs of {checked}"
    )
    seconds, size = worst_case_seconds()
    print(
        f"-vv diff of a 5,000-char non-ASCII secret ({size:,} chars of output): "
        f"{seconds:.3f} s CPU to mask (goal < 0.5 s)"
    )
    per_secret, instructions = build_per_secret()
    shown = f"{instructions / 1000:.0f} k instructions" if instructions else "no valgrind"
    print(
        f"Masker build at 1,000 secrets: {per_secret * 1e6:.1f} us CPU, {shown} per secret "
        "(goal <= 60 k)"
    )
    ratio, low, high = scale_ratio()
    print(
        f"16 KB clean text, 5,000 vs 500 secrets: {ratio:.2f} "
        f"({high * 1e6:.0f} vs {low * 1e6:.0f} us; goal <= 1.2)"
    )
    print(f"memory kept by a masker of 10,000 secrets: {memory_of(10_000):.1f} MiB")


if __name__ == "__main__":
    main()
