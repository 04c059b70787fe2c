"""Figure 4: what masking costs, and pytest-vault against pytest-mask-secrets 1.7.

* masking on / ``vault_mask = false``: the suite of ``bench_masking.py`` (1,000 failing
  tests each printing ~10 KB, 100 secrets), built and run with that module's own
  functions, alternately.
* pytest-vault / pytest-mask-secrets: the same suite plus a few tests that put a secret
  where reports carry it besides captured output (a skip reason, an xfail reason, a
  warning, an assertion diff of a long value), run in the benchmark virtual environment
  with one plugin or the other (``-p no:...`` the other). For pytest-mask-secrets the
  ``vault`` fixture is a conftest fixture reading ``os.environ``, the secrets are
  environment variables and ``MASK_SECRETS`` names them all. Leaks are counted in the
  output of one run of each: occurrences of a whole value, of a value's first 10 or of its
  last 10 characters (truncated reprs and diff tails).

Run alone: ``python benchmarks/bench_peers.py``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import bench_masking
from _common import (
    BENCH_VENV,
    Comparison,
    Row,
    Timing,
    alternate,
    base_env,
    run_timed,
    status_line,
)

TESTS = 1_000
FRAGMENT = 10

LEAK_MODULE = """
import warnings

import pytest


def test_skip_reason(vault):
    pytest.skip(f"the staging API refused {vault['SECRET_007']}")


def test_xfail_reason(vault):
    pytest.xfail(f"flaky with token {vault['SECRET_008']}")


def test_warning(vault):
    warnings.warn(f"token {vault['SECRET_009']} expires soon")


def test_long_diff(vault):
    assert vault["SECRET_010"] * 3 == "sk-" + "x" * 150


def test_dict_diff(vault):
    assert {"token": vault["SECRET_011"], "user": "alice"} == {"token": "", "user": "bob"}
"""

ENV_FIXTURE = '''
import os

import pytest


class Secrets:
    """The secrets from environment variables; its repr shows no value (a failing test
    prints its arguments), so that only the leak tests can leak."""

    def __getitem__(self, name):
        return os.environ[name]

    def __repr__(self):
        return "<secrets>"


@pytest.fixture(scope="session")
def vault():
    return Secrets()
'''


def _python() -> Path:
    return BENCH_VENV / "bin" / "python"


def _command(*extra: str) -> list[str]:
    # As bench_masking.command(), in the benchmark environment; -rsx lists skip and xfail
    # reasons, where pytest-mask-secrets does not look.
    return [str(_python()), "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rsx",
            *extra]  # fmt: skip


def masking_cost(root: Path, runs: int) -> tuple[Comparison, str]:
    """bench_masking's suite and runs: masking on over vault_mask = false."""
    project = root / "masking"
    key, values = bench_masking.make_project(project, TESTS)
    env = bench_masking.environment(key)
    env = {**base_env(), **env}  # no PYTHONDONTWRITEBYTECODE, byte-code out of the tree
    bench_masking.check_masking(project, env, values)

    def side(*extra: str):
        def run() -> Timing:
            wall, cpu = bench_masking.timed_run(project, env, *extra)
            return Timing(wall, cpu)

        return run

    status_line("figure 4: bench_masking.py, masking on vs vault_mask=false")
    first, second = alternate(
        [("masking", side()), ("vault_mask=false", side("-o", "vault_mask=false"))], runs
    )
    return Comparison(first, second), key


def _leaks(text: str, values: dict[str, str]) -> int:
    count = 0
    for value in values.values():
        whole = text.count(value)
        count += whole
        for part in (value[:FRAGMENT], value[-FRAGMENT:]):
            count += text.count(part) - whole
    return count


def against_mask_secrets(root: Path, runs: int) -> list[Row]:
    if not _python().exists():
        return [
            Row(
                "4. pytest-vault / pytest-mask-secrets 1.7",
                "n/a",
                "< 1, no leaks",
                None,
                f"benchmark environment {BENCH_VENV} missing: run_all.py --setup-tools",
            )
        ]
    ours = root / "peers_vault"
    key, values = bench_masking.make_project(ours, TESTS)
    (ours / "test_leaks.py").write_text(LEAK_MODULE, encoding="utf-8")
    theirs = root / "peers_mask_secrets"
    shutil.copytree(ours, theirs)
    (theirs / "secrets.vault.toml").unlink()
    (theirs / "conftest.py").write_text(ENV_FIXTURE, encoding="utf-8")
    our_env = base_env(PYTEST_VAULT_KEY=key)
    their_env = base_env(MASK_SECRETS=",".join(values), **values)
    our_args = ("-p", "no:mask_secrets")
    their_args = ("-p", "no:vault")

    def output(project: Path, env: dict[str, str], args: tuple[str, ...]) -> str:
        _, done = run_timed(_command(*args), cwd=project, env=env, expect=(1,), capture=True)
        return done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")

    our_text = output(ours, our_env, our_args)
    their_text = output(theirs, their_env, their_args)
    for text in (our_text, their_text):  # the same suite ran in both
        if not all(f" {n} " in text for n in ("1002 failed,", "1 passed,", "1 skipped,")):
            raise RuntimeError(f"unexpected outcome: {text[-600:]}")
    our_leaks, their_leaks = _leaks(our_text, values), _leaks(their_text, values)

    def side(project: Path, env: dict[str, str], args: tuple[str, ...]):
        def run() -> Timing:
            timing, _ = run_timed(_command(*args), cwd=project, env=env, expect=(1,))
            return timing

        return run

    status_line("figure 4: the same leak-heavy suite, pytest-vault vs pytest-mask-secrets")
    first, second = alternate(
        [
            ("pytest-vault", side(ours, our_env, our_args)),
            ("pytest-mask-secrets", side(theirs, their_env, their_args)),
        ],
        runs,
    )
    comparison = Comparison(first, second)
    return [
        Row(
            "4. same leak-heavy suite: pytest-vault / pytest-mask-secrets 1.7",
            f"{comparison.ratio:.3f}",
            "< 1",
            comparison.ratio < 1,
            comparison.describe(),
        ),
        Row(
            "4. leaked secret occurrences in that output: pytest-vault vs pytest-mask-secrets",
            f"{our_leaks} vs {their_leaks}",
            "0 for pytest-vault",
            our_leaks == 0,
            f"whole values or their first/last {FRAGMENT} characters, in {len(our_text):,} "
            f"and {len(their_text):,} characters of output",
        ),
    ]


PEER_RUNS = 3
"""Runs per side of figure 4 (its suites take several seconds a run)."""


def rows(root: Path, runs: int) -> list[Row]:
    runs = min(runs, PEER_RUNS)
    comparison, _ = masking_cost(root, runs)
    result = [
        Row(
            "4. masking: bench_masking.py suite, masking on / vault_mask=false",
            f"{comparison.ratio:.3f}",
            f"<= {bench_masking.GOAL:.2f}",
            comparison.ratio <= bench_masking.GOAL,
            comparison.describe(),
        )
    ]
    return result + against_mask_secrets(root, runs)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        for row in rows(Path(folder), int(sys.argv[1]) if len(sys.argv) > 1 else 5):
            print(
                f"{row.figure}: {row.measured} (goal {row.goal}: {row.verdict})\n    {row.detail}"
            )
