"""Figures 1 and 2: what the plugin costs a 1,000-test suite, dormant and in use.

1. Dormant: 1,000 tests that never use the vault, with a vault of 50 secrets present and
   ``PYTEST_VAULT_KEY`` set (so the plugin could unlock), against the same run with
   ``-p no:vault``. Also the import cost of ``pytest_vault.plugin`` and a check that
   importing it loads neither ``cryptography`` nor ``keyring`` nor ``tomllib``.
2. In use: the same 1,000 tests each reading a secret from the ``vault`` fixture (100
   secrets, masking on), against the same tests reading it from ``os.environ`` with the
   plugin disabled; and against the same tests getting ``os.environ`` from a conftest
   ``vault`` fixture, which separates the plugin's share from pytest's fixture machinery.

With ``run_all.py --instructions`` the suites also run once each under valgrind, whose
instruction counts resolve the 1 % that CPU time cannot on a busy machine.

Run alone: ``python benchmarks/bench_suites.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from _common import (
    INSTRUCTIONS,
    PYTHON,
    Comparison,
    Row,
    Timing,
    alternate,
    base_env,
    compare,
    count_instructions,
    make_vault,
    pytest_command,
    run_timed,
    secret_values,
    status_line,
    write_project,
)

TESTS = 1_000
MODULES = 10
DORMANT_SECRETS = 50
IN_USE_SECRETS = 100
FORBIDDEN_IMPORTS = ("cryptography", "keyring", "tomllib")


def _modules(body: str, header: str = "") -> dict[str, str]:
    """MODULES test files, TESTS tests in all; ``body`` is formatted with n and i."""
    per_module = TESTS // MODULES
    files: dict[str, str] = {}
    for module in range(MODULES):
        tests = []
        for index in range(per_module):
            n = module * per_module + index
            tests.append(body.format(n=n, i=n % IN_USE_SECRETS))
        files[f"tests/test_part_{module:02d}.py"] = header + "\n".join(tests)
    return files


def dormant(root: Path, runs: int) -> Comparison:
    files = _modules("def test_{n}():\n    assert {n} + 1 == {n} + 1\n")
    project = write_project(root / "dormant", files)
    key = make_vault(project / "secrets.vault.toml", secret_values(DORMANT_SECRETS))
    env = base_env(PYTEST_VAULT_KEY=key)

    def run(*extra: str) -> Timing:
        timing, _ = run_timed(pytest_command(*extra), cwd=project, env=env)
        return timing

    status_line("figure 1: dormant suite, plugin on vs -p no:vault")
    comparison = compare(
        ("vault loaded", run), ("-p no:vault", lambda: run("-p", "no:vault")), runs
    )
    if INSTRUCTIONS[0]:
        status_line("figure 1: the same two runs under valgrind (instructions)")
        comparison.instructions = (
            count_instructions(pytest_command(), cwd=project, env=env),
            count_instructions(pytest_command("-p", "no:vault"), cwd=project, env=env),
        )
    return comparison


ENV_FIXTURE = """
import os

import pytest


@pytest.fixture(scope="session")
def vault():
    return os.environ
"""


def in_use(root: Path, runs: int) -> tuple[Comparison, Comparison]:
    """(vault fixture / os.environ, vault fixture / os.environ through a session fixture)."""
    values = secret_values(IN_USE_SECRETS)
    body = 'def test_{n}(vault):\n    assert vault["SECRET_{i:05d}"].startswith("sk-")\n'
    vault_project = write_project(root / "in_use_vault", _modules(body))
    key = make_vault(vault_project / "secrets.vault.toml", values)
    # The same tests, the secrets from the environment through a fixture: what pytest's
    # fixture machinery costs, whoever provides the fixture.
    fixture_project = write_project(
        root / "in_use_env_fixture", {**_modules(body), "conftest.py": ENV_FIXTURE}
    )
    env_files = _modules(
        'def test_{n}():\n    assert os.environ["SECRET_{i:05d}"].startswith("sk-")\n',
        header="import os\n\n",
    )
    env_project = write_project(root / "in_use_environ", env_files)
    vault_env = base_env(PYTEST_VAULT_KEY=key)
    plain_env = base_env(**values)

    def side(project: Path, env: dict[str, str], *extra: str):
        def run() -> Timing:
            timing, _ = run_timed(pytest_command(*extra), cwd=project, env=env)
            return timing

        return run

    status_line("figure 2: 1,000 tests using the vault fixture vs os.environ")
    with_vault, with_fixture, with_environ = alternate(
        [
            ("vault fixture", side(vault_project, vault_env)),
            ("os.environ fixture", side(fixture_project, plain_env, "-p", "no:vault")),
            ("os.environ", side(env_project, plain_env, "-p", "no:vault")),
        ],
        runs,
    )
    comparisons = Comparison(with_vault, with_environ), Comparison(with_vault, with_fixture)
    if INSTRUCTIONS[0]:
        status_line("figure 2: the same three runs under valgrind (instructions)")
        vault_count = count_instructions(pytest_command(), cwd=vault_project, env=vault_env)
        for comparison, project in zip(comparisons, (env_project, fixture_project), strict=True):
            other = count_instructions(pytest_command("-p", "no:vault"), cwd=project, env=plain_env)
            comparison.instructions = (vault_count, other)
    return comparisons


def _import_lines(code: str) -> list[tuple[str, int]]:
    """(module, self time in µs) of each module ``python -X importtime -c code`` imports."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=base_env(),
    )
    modules = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        modules.append((name.strip(), int(self_us)))
    return modules


def import_cost(runs: int) -> tuple[float, list[str], list[str]]:
    """Median own import time of the plugin (ms), the modules it adds, forbidden ones."""
    own: list[float] = []
    added: list[str] = []
    forbidden: set[str] = set()
    for _ in range(runs):
        pytest_alone = {name for name, _ in _import_lines("import pytest")}
        plugin = _import_lines("import pytest_vault.plugin")
        names = [name for name, _ in plugin]
        forbidden |= {n for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS}
        extra = [(name, us) for name, us in plugin if name not in pytest_alone]
        own.append(sum(us for _, us in extra) / 1000)
        added = [name for name, _ in extra]
    return statistics.median(own), added, sorted(forbidden)


def rows_dormant(root: Path, runs: int) -> list[Row]:
    cost, added, forbidden = import_cost(runs)
    verdict = (
        f"FORBIDDEN: {', '.join(forbidden)}"
        if forbidden
        else f"none of {', '.join(FORBIDDEN_IMPORTS)} imported"
    )
    comparison = dormant(root, runs)
    return [
        Row(
            "1. import pytest_vault.plugin (-X importtime)",
            f"{cost:.1f} ms",
            "no cryptography, keyring, tomllib",
            not forbidden,
            f"{verdict}; modules beyond pytest's own: {', '.join(added)} (sum of their "
            f"self times, median of {runs})",
        ),
        Row(
            "1. dormant: 1,000 tests, 50-secret vault + key, vs -p no:vault",
            f"{comparison.ratio:.3f}",
            "<= 1.01",
            comparison.ratio <= 1.01,
            comparison.describe(),
        ),
        *_instruction_rows("1. dormant", comparison, 1.01),
    ]


def _instruction_rows(figure: str, comparison: Comparison, goal: float) -> list[Row]:
    if comparison.instructions is None:
        return []
    mine, other = comparison.instructions
    return [
        Row(
            f"{figure}, in instructions (valgrind, one run each)",
            f"{mine / other:.3f}",
            f"<= {goal:.2f}",
            mine / other <= goal,
            f"{mine:,} vs {other:,} instructions",
        )
    ]


def rows_in_use(root: Path, runs: int) -> list[Row]:
    comparison, own = in_use(root, runs)
    return [
        Row(
            "2. in use: 1,000 tests with `vault` (100 secrets, masking) vs os.environ",
            f"{comparison.ratio:.3f}",
            "<= 1.05",
            comparison.ratio <= 1.05,
            comparison.describe(),
        ),
        Row(
            "2. the plugin's share: `vault` vs a conftest fixture returning os.environ",
            f"{own.ratio:.3f}",
            "",
            None,
            own.describe()
            + f"; so pytest's fixture machinery alone costs {comparison.ratio / own.ratio:.3f}",
        ),
        *_instruction_rows("2. in use", comparison, 1.05),
        *_instruction_rows("2. the plugin's share", own, 1.05),
    ]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
        for row in rows_dormant(Path(folder), runs) + rows_in_use(Path(folder), runs):
            print(
                f"{row.figure}: {row.measured} (goal {row.goal}: {row.verdict})\n    {row.detail}"
            )
