"""Build a masker and mask a clean text in one process: run under valgrind by bench_goals.py.

``python _masker_worker.py SECRETS BUILD MASKS``: generate SECRETS secrets (the same ones
every run: names SECRET_00000..., values of 20 to 60 characters), build a warm-up masker of
one other secret (so that imports and first-use costs are paid by both sides of a
comparison), then, if BUILD is 1, a masker of the SECRETS secrets, and, if MASKS is not 0,
mask a 16 KB clean report-like text once (warm, and checked unchanged) and MASKS - 1 more
times. Two runs that differ only in BUILD (or only in MASKS) differ by exactly the build
(or the masking), counted in instructions.
"""

from __future__ import annotations

import random
import sys

from _common import secret_values

TEXT_SIZE = 16 * 1024

_WORDS = (
    "assert", "def", "self", "return", "None", "==", "E", ">", "in", "where", "=", "x", "42",
    "src/app/client.py:42:", "AssertionError", "0x7f3a9c2e1b40", "{'key': 1}", "PASSED",
    "tests/test_api.py::test_login", "FAILED", "response", "status_code", "200", "json",
    "payload", "user_id", "token", "Traceback", "(most", "recent", "call", "last):",
)  # fmt: skip


def clean_text(size: int = TEXT_SIZE, seed: int = 16) -> str:
    """A pytest-report-like text of ``size`` characters with no secret in it."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


def main() -> None:
    count, build, masks = (int(arg) for arg in sys.argv[1:4])
    from pytest_vault.masking import Masker

    secrets = secret_values(count)
    text = clean_text()
    warm = Masker({"WARM_UP": "warm-up-value-Zq8mX2vLp9"})
    warm.mask(text)
    if not build:
        return
    masker = Masker(secrets)
    if not masks:
        return
    if masker.mask(text) != text:  # a clean text: nothing to mask, or the figure is wrong
        raise SystemExit("the clean text was changed by the masker")
    for _ in range(masks - 1):
        masker.mask(text)


if __name__ == "__main__":
    main()
