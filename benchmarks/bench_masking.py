"""Issue 4's measure: what masking costs a failing suite. ``python benchmarks/bench_masking.py``.

1,000 failing tests, each printing about 10 KB (every 10th also prints a secret), with a
vault of 100 secrets: the wall time of the run with masking over the same run with
``vault_mask = false``. Medians of alternating runs (A B A B ..., one warm-up each); the
goal is a ratio of 1.10 or less. CPU time (user + system) is printed beside it, and the
median of the ratios of adjacent runs (steadier when the machine's load drifts).

Options: ``--runs N`` (per side, default 5, at least 3), ``--tests N``, ``--keep DIR``
(build the project in DIR and keep it, e.g. to profile one run by hand), ``--callgrind``
(instead: count the instructions of one run of each side under valgrind, a figure the
machine's load does not move; about 10 minutes for 1,000 tests, the two sides in parallel).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

SECRETS = 100
TEXT_SIZE = 10 * 1024
GOAL = 1.10

TEST_MODULE = """
import random

import pytest

_rng = random.Random(4)
_WORDS = ["assert", "def", "self", "return", "None", "==", "client.py:42:", "0x7f3a9c2e",
          "AssertionError", "{{'key': 1}}", "tests/test_api.py::test_login", "PASSED", "x",
          "42", "response", "status_code", "200", "json", "payload", "user_id", "token"]
_CORPUS = " ".join(_rng.choice(_WORDS) for _ in range(60_000))


@pytest.mark.parametrize("n", range({tests}))
def test_failing(n, vault):
    start = (n * 7919) % (len(_CORPUS) - {size})
    print(_CORPUS[start : start + {size}])
    if n % 10 == 0:
        print("calling the API with", vault["SECRET_{secret:03d}"])
    assert n < 0
"""


def secret_values(count: int) -> dict[str, str]:
    rng = random.Random(8)
    alphabet = string.ascii_letters + string.digits + "-_"
    return {
        f"SECRET_{index:03d}": "sk-"
        + "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))
        for index in range(count)
    }


def make_project(root: Path, tests: int) -> tuple[str, dict[str, str]]:
    """The project and its vault in ``root``; the key's text and the secrets."""
    from pytest_vault.key import VaultKey
    from pytest_vault.vault import create_vault, set_secrets

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    source = TEST_MODULE.format(tests=tests, size=TEXT_SIZE, secret=42)
    (root / "test_bench.py").write_text(source, encoding="utf-8")
    values = secret_values(SECRETS)
    key = VaultKey.generate()
    create_vault(root / "secrets.vault.toml", key)
    set_secrets(root / "secrets.vault.toml", key, values)
    return key.text(), values


def environment(key: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CI", "GITHUB_ACTIONS")
    }
    env["PYTEST_VAULT_KEY"] = key
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["PYTHONHASHSEED"] = "0"
    return env


def command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *extra]


def timed_run(root: Path, env: dict[str, str], *extra: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run; its output goes where a CI log would: a pipe."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        command(*extra), cwd=root, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 1:  # every test fails
        sys.exit(f"unexpected exit status {done.returncode}: {done.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def count_instructions(root: Path, env: dict[str, str]) -> None:
    """Instructions executed by each side, under valgrind's callgrind (deterministic)."""
    if shutil.which("valgrind") is None:
        sys.exit("--callgrind needs valgrind")
    sides = {"masking": (), "vault_mask=false": ("-o", "vault_mask=false")}
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    running = {
        name: subprocess.Popen(
            [*valgrind, *command(*extra)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, extra in sides.items()
    }
    counts = {}
    for name, process in running.items():
        _, err = process.communicate()
        found = _common.collected(err)  # the pytest process's, not a forked child's
        if found is None:
            sys.exit(f"no instruction count from valgrind: {err.decode()[-2000:]}")
        counts[name] = found
    for name, count in counts.items():
        print(f"  {name:18} {count / 1e9:8.3f} G instructions")
    ratio = counts["masking"] / counts["vault_mask=false"]
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"masking / vault_mask=false: instructions {ratio:.3f} (goal <= {GOAL:.2f}: {verdict})")


def check_masking(root: Path, env: dict[str, str], values: dict[str, str]) -> None:
    """The measured run does mask (and the other does not): not a vacuous comparison."""
    for extra, masked in (((), True), (("-o", "vault_mask=false"), False)):
        done = subprocess.run(command(*extra), cwd=root, env=env, capture_output=True, check=False)
        out = done.stdout.decode("utf-8", "replace")
        assert ("<vault:SECRET_042>" in out) is masked, extra
        assert (values["SECRET_042"] in out) is not masked, extra
        assert out.count("Captured stdout call") > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--callgrind", action="store_true")
    options = parser.parse_args()
    runs = max(3, options.runs)
    root = options.keep or Path(tempfile.mkdtemp(prefix="bench-masking-")) / "project"
    try:
        key, values = make_project(root, options.tests)
        env = environment(key)
        check_masking(root, env, values)
        if options.callgrind:
            print(
                f"{options.tests} failing tests x {TEXT_SIZE // 1024} KB printed, {SECRETS} secrets"
            )
            count_instructions(root, {**env, "PYTHONHASHSEED": "0"})
            return 0
        sides = {"masking": (), "vault_mask=false": ("-o", "vault_mask=false")}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for extra in sides.values():  # warm-up: byte-code, page cache
            timed_run(root, env, *extra)
        for _ in range(runs):
            for name, extra in sides.items():
                samples[name].append(timed_run(root, env, *extra))
        wall = {name: statistics.median(w for w, _ in runs_) for name, runs_ in samples.items()}
        cpu = {name: statistics.median(c for _, c in runs_) for name, runs_ in samples.items()}
        ratio = wall["masking"] / wall["vault_mask=false"]
        cpu_ratio = cpu["masking"] / cpu["vault_mask=false"]
        # Each A run next to its B run: the median of those ratios resists load that drifts.
        paired = statistics.median(
            a[0] / b[0]
            for a, b in zip(samples["masking"], samples["vault_mask=false"], strict=True)
        )
        print(
            f"{options.tests} failing tests x {TEXT_SIZE // 1024} KB printed, {SECRETS} secrets, "
            f"medians of {runs} alternating runs each"
        )
        for name in sides:
            print(f"  {name:18} wall {wall[name]:7.3f} s   cpu {cpu[name]:7.3f} s")
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"masking / vault_mask=false: wall {ratio:.3f} (goal <= {GOAL:.2f}: {verdict}), "
              f"cpu {cpu_ratio:.3f}, median of paired wall ratios {paired:.3f}")  # fmt: skip
        return 0
    finally:
        if options.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
