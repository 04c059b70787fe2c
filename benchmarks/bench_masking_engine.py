"""Figures for the masking engine: ``python benchmarks/bench_masking_engine.py``.

Masks 1,000 texts of 10 KB against 100 secrets of 20-60 characters (no secret in the texts,
then a few in each), and builds a masker for a 1 MiB PEM-like secret (time and peak memory).
"""

from __future__ import annotations

import base64
import random
import string
import time
import tracemalloc
from collections.abc import Callable

from pytest_vault.masking import Masker

TEXTS = 1_000
TEXT_SIZE = 10 * 1024
SECRETS = 100


def _secret(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))


def _report_text(rng: random.Random) -> str:
    """Text shaped like a pytest report: words, paths, numbers, hex addresses, punctuation."""
    words = [
        "assert",
        "def",
        "test_",
        "self",
        "return",
        "None",
        "==",
        "E",
        ">",
        "in",
        "src/app/client.py:42:",
        "AssertionError",
        "0x7f3a9c2e1b40",
        "{'key': 1}",
        "tests/test_api.py::test_login",
        "PASSED",
        "FAILED",
        "where",
        "=",
        "x",
        "42",
    ]
    parts: list[str] = []
    size = 0
    while size < TEXT_SIZE:
        word = rng.choice(words) if rng.random() < 0.8 else _secret(rng)[:8]
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:TEXT_SIZE]


def _pem(size: int, rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def _time_per_text(function: Callable[[str], object], texts: list[str]) -> float:
    """Seconds per text, best of three rounds (the machine may be shared)."""
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            function(text)
        rounds.append((time.perf_counter() - start) / len(texts))
    return min(rounds)


def main() -> None:
    rng = random.Random(20240501)
    secrets = {f"SECRET_{i}": _secret(rng) for i in range(SECRETS)}
    values = list(secrets.values())

    start = time.perf_counter()
    masker = Masker(secrets)
    print(f"build, {SECRETS} secrets of 20-60 chars: {(time.perf_counter() - start) * 1e3:.1f} ms")

    clean = [_report_text(rng) for _ in range(TEXTS)]
    assert not any(masker.contains_secret(text) for text in clean)
    per_text = _time_per_text(masker.mask, clean)
    print(f"mask, 10 KB text, no secret:      {per_text * 1e6:8.1f} us per text")
    per_text = _time_per_text(masker.contains_secret, clean)
    print(f"contains_secret, no secret:       {per_text * 1e6:8.1f} us per text")

    dirty = []
    for text in clean:
        cut = sorted(rng.sample(range(len(text)), 3))
        dirty.append(
            text[: cut[0]]
            + rng.choice(values)
            + text[cut[0] : cut[1]]
            + repr(rng.choice(values))
            + text[cut[1] : cut[2]]
            + rng.choice(values)[:12]
            + "..."
            + text[cut[2] :]
        )
    assert all(masker.contains_secret(text) for text in dirty)
    per_text = _time_per_text(masker.mask, dirty)
    print(f"mask, 10 KB text, 3 secrets:      {per_text * 1e6:8.1f} us per text")

    pem = _pem(1024 * 1024, rng)
    start = time.perf_counter()
    big = Masker({"PEM": pem, **secrets})
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    Masker({"PEM": pem, **secrets})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"build, 1 MiB PEM + {SECRETS} secrets:  {elapsed:.2f} s, "
        f"peak {peak / 2**20:.1f} MiB traced while building"
    )
    per_text = _time_per_text(big.mask, clean[:200])
    print(f"mask with the PEM, no secret:     {per_text * 1e6:8.1f} us per text")
    start = time.perf_counter()
    masked = big.mask(repr(pem))
    elapsed = time.perf_counter() - start
    print(f"mask repr() of the whole PEM:     {elapsed * 1e3:8.1f} ms -> {masked!r}")


if __name__ == "__main__":
    main()
