"""Figure 6: the goals of performance round 2 (issue 16), each a ratio measured in this run.

Every row compares two runs made here, side by side. Where the machine has valgrind the
ratio is of instructions (``valgrind --tool=callgrind``, one run a side, the two sides at
once: a count does not move with the machine's load, and resolves about 0.15 %); without
valgrind, or with ``run_all.py --cpu``, of CPU time (alternating runs, see _common.py).
Two rows are neither: peak memory (each run's own maximum resident set size, from a
small wrapper process, ``_maxrss.py``) and the console script against ``sops``, which
the issue sets in CPU time. An A/A row (the same run against itself) shows the noise of
the method.

Rows:

* A/A: the dormant suite of figure 1 against itself.
* dormant, header shown: 1,000 tests that never use the vault, a 50-secret vault and its
  key in ``PYTEST_VAULT_KEY`` (so the header says the key opens it), against
  ``-p no:vault``.
* the plugin's own share in use: 1,000 tests each reading one of 20 secrets from the
  ``vault`` fixture (masking on), against a conftest ``vault`` fixture returning
  ``os.environ`` with the plugin off.
* masking on against ``vault_mask = false``: ``bench_masking.py``'s leak-heavy suite.
* the same suite (and the leak tests of ``bench_peers.py``) against pytest-mask-secrets
  1.7, in the benchmark environment; every secret occurrence left in either output
  counted.
* ``Masker`` build per secret at 1,000 secrets: a process that builds it against one that
  does not (``_masker_worker.py``), divided by 1,000.
* peak RSS of a pytest run opening a 10,000-secret vault, against the same tests with the
  plugin off.
* ``pytest-vault get NAME`` with 10 secrets, a fresh process, against ``sops decrypt
  --extract`` of the same value (CPU time).
* masking one 16 KB clean text with 5,000 secrets against 500 (each: a process masking it
  20 more times against one that does not, so the build cancels out).

Beyond the goals: ``pytest-vault scan`` on a generated repository (``bench_scan.py``'s
generator), and the cold CPU time of ``export``, ``edit`` (an editor that changes
nothing) and ``--version`` beside ``get``, when those commands exist.

Run alone: ``python benchmarks/bench_goals.py [--quick] [--cpu]``.
"""

from __future__ import annotations

import importlib
import json
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _common
import bench_masking
import bench_peers
from _common import (
    BENCH_VENV,
    PYTHON,
    Comparison,
    Row,
    RunFailed,
    Timing,
    alternate,
    base_env,
    count_instructions_many,
    make_vault,
    pytest_command,
    run_timed,
    secret_values,
    status_line,
    write_project,
)

HERE = Path(__file__).resolve().parent
MASKER_WORKER = HERE / "_masker_worker.py"
MAXRSS = HERE / "_maxrss.py"
SCRIPT = Path(PYTHON).parent / "pytest-vault"

TESTS = 1_000
MODULES = 10
DORMANT_SECRETS = 50
SHARE_SECRETS = 20
LEAK_TESTS = 1_000
LEAK_TESTS_QUICK = 200
BUILD_SECRETS = 1_000
RSS_SECRETS = 10_000
RSS_TESTS = 10
RSS_RUNS = 3
GET_SECRETS = 10
GET_RUNS = 15
MASK_SECRETS = (500, 5_000)
MASK_REPEAT = 20
SCAN_FILES, SCAN_MEGABYTES, SCAN_SECRETS = 1_000, 10, 100


@dataclass
class Options:
    """How this figure measures: set by run_all.py (``--cpu``, ``--quick``)."""

    instructions: bool = field(default_factory=lambda: shutil.which("valgrind") is not None)
    quick: bool = False


OPTIONS = Options()


@dataclass
class Side:
    """One side of a comparison: a command, where it runs, its environment."""

    label: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    expect: tuple[int, ...] = (0,)

    def run(self) -> Timing:
        timing, _ = run_timed(self.command, cwd=self.cwd, env=self.env, expect=self.expect)
        return timing

    def output(self) -> str:
        _, done = run_timed(
            self.command, cwd=self.cwd, env=self.env, expect=self.expect, capture=True
        )
        return done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")

    def counted(self) -> tuple[Sequence[str], Path, dict[str, str], tuple[int, ...]]:
        return self.command, self.cwd, self.env, self.expect


def _unit() -> str:
    return "instructions" if OPTIONS.instructions else "CPU time"


def ratio_of(a: Side, b: Side, runs: int) -> tuple[float, str]:
    """A over B in instructions (one run each, at once) or CPU time (alternating runs)."""
    if OPTIONS.instructions:
        mine, other = count_instructions_many([a.counted(), b.counted()])
        return mine / other, f"{a.label} {mine:,} vs {b.label} {other:,} instructions"
    comparison = Comparison(*alternate([(a.label, a.run), (b.label, b.run)], runs))
    return comparison.ratio, comparison.describe()


def _modules(body: str, header: str = "", secrets: int = 1) -> dict[str, str]:
    per_module = TESTS // MODULES
    files: dict[str, str] = {}
    for module in range(MODULES):
        tests = [
            body.format(n=n, i=n % secrets)
            for n in range(module * per_module, (module + 1) * per_module)
        ]
        files[f"tests/test_part_{module:02d}.py"] = header + "\n".join(tests)
    return files


# -- rows ------------------------------------------------------------------------------------


def dormant_rows(root: Path, runs: int) -> list[Row]:
    files = _modules("def test_{n}():\n    assert {n} + 1 == {n} + 1\n")
    project = write_project(root / "goal_dormant", files)
    key = make_vault(project / "secrets.vault.toml", secret_values(DORMANT_SECRETS))
    env = base_env(PYTEST_VAULT_KEY=key)
    on = Side("plugin on", pytest_command(), project, env)
    again = Side("plugin on, again", pytest_command(), project, env)
    off = Side("-p no:vault", pytest_command("-p", "no:vault"), project, env)
    header = on.output()
    if f"{DORMANT_SECRETS} secrets" not in header:
        raise RunFailed(f"the header does not show the vault: {header[:600]}")
    status_line(f"figure 6: dormant suite, A/A and against -p no:vault ({_unit()})")
    if OPTIONS.instructions:
        first, second, other = count_instructions_many(
            [on.counted(), again.counted(), off.counted()]
        )
        aa, aa_detail = first / second, f"{first:,} vs {second:,} instructions"
        ratio, detail = first / other, f"{first:,} vs {other:,} instructions"
    else:
        aa, aa_detail = ratio_of(on, again, runs)
        ratio, detail = ratio_of(on, off, runs)
    return [
        Row(
            f"6. A/A noise: the dormant run against itself ({_unit()})",
            f"{aa:.4f}",
            "1 (what the method resolves)",
            None,
            aa_detail,
        ),
        Row(
            f"6. dormant, header shown (50-secret vault + key) vs -p no:vault ({_unit()})",
            f"{ratio:.3f}",
            "<= 1.005",
            ratio <= 1.005,
            detail,
        ),
    ]


ENV_FIXTURE = """
import os

import pytest


@pytest.fixture(scope="session")
def vault():
    return os.environ
"""


def share_row(root: Path, runs: int) -> Row:
    values = secret_values(SHARE_SECRETS)
    body = 'def test_{n}(vault):\n    assert vault["SECRET_{i:05d}"].startswith("sk-")\n'
    vault_project = write_project(root / "goal_share", _modules(body, secrets=SHARE_SECRETS))
    key = make_vault(vault_project / "secrets.vault.toml", values)
    fixture_project = write_project(
        root / "goal_share_env",
        {**_modules(body, secrets=SHARE_SECRETS), "conftest.py": ENV_FIXTURE},
    )
    status_line(f"figure 6: the plugin's share, vault vs a conftest fixture ({_unit()})")
    ratio, detail = ratio_of(
        Side("vault fixture", pytest_command(), vault_project, base_env(PYTEST_VAULT_KEY=key)),
        Side(
            "os.environ fixture",
            pytest_command("-p", "no:vault"),
            fixture_project,
            base_env(**values),
        ),
        runs,
    )
    return Row(
        "6. plugin's own share in use: `vault` vs conftest os.environ fixture, 1,000 tests, "
        f"20 secrets, masking on ({_unit()})",
        f"{ratio:.3f}",
        "<= 1.02",
        ratio <= 1.02,
        detail,
    )


def _leak_tests() -> int:
    return LEAK_TESTS_QUICK if OPTIONS.quick else LEAK_TESTS


def masking_rows(root: Path, runs: int) -> list[Row]:
    tests = _leak_tests()
    project = root / "goal_masking"
    key, values = bench_masking.make_project(project, tests)
    env = {**base_env(), **bench_masking.environment(key)}
    env["PYTHONPYCACHEPREFIX"] = base_env()["PYTHONPYCACHEPREFIX"]
    bench_masking.check_masking(project, env, values)
    status_line(f"figure 6: leak-heavy suite ({tests:,} tests), masking on vs off ({_unit()})")
    ratio, detail = ratio_of(
        Side("masking", bench_masking.command(), project, env, (1,)),
        Side(
            "vault_mask=false",
            bench_masking.command("-o", "vault_mask=false"),
            project,
            env,
            (1,),
        ),
        runs,
    )
    rows = [
        Row(
            f"6. masking on vs vault_mask=false, leak-heavy suite ({tests:,} failing tests x "
            f"10 KB; {_unit()})",
            f"{ratio:.3f}",
            "<= 1.08",
            ratio <= 1.08,
            detail,
        )
    ]
    return [*rows, _against_mask_secrets(root, runs, tests)]


def _against_mask_secrets(root: Path, runs: int, tests: int) -> Row:
    figure = f"6. same suite vs pytest-mask-secrets 1.7, 0 leaks kept ({_unit()})"
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        return Row(figure, "n/a", "< 1.00", None, f"{BENCH_VENV} missing: run_all.py --setup-tools")
    ours = root / "goal_peers_vault"
    key, values = bench_masking.make_project(ours, tests)
    (ours / "test_leaks.py").write_text(bench_peers.LEAK_MODULE, encoding="utf-8")
    theirs = root / "goal_peers_mask_secrets"
    shutil.copytree(ours, theirs)
    (theirs / "secrets.vault.toml").unlink()
    (theirs / "conftest.py").write_text(bench_peers.ENV_FIXTURE, encoding="utf-8")
    our_side = Side(
        "pytest-vault",
        bench_peers._command("-p", "no:mask_secrets"),
        ours,
        base_env(PYTEST_VAULT_KEY=key),
        (1,),
    )
    their_side = Side(
        "pytest-mask-secrets",
        bench_peers._command("-p", "no:vault"),
        theirs,
        base_env(MASK_SECRETS=",".join(values), **values),
        (1,),
    )
    our_text, their_text = our_side.output(), their_side.output()
    our_leaks = bench_peers._leaks(our_text, values)
    their_leaks = bench_peers._leaks(their_text, values)
    status_line(f"figure 6: leak-heavy suite, pytest-vault vs pytest-mask-secrets ({_unit()})")
    ratio, detail = ratio_of(our_side, their_side, runs)
    return Row(
        figure,
        f"{ratio:.3f}; leaks {our_leaks} vs {their_leaks}",
        "< 1.00, 0 leaks",
        ratio < 1.0 and our_leaks == 0,
        f"{detail}; secret occurrences kept (whole values or their first/last "
        f"{bench_peers.FRAGMENT} characters): pytest-vault {our_leaks}, pytest-mask-secrets "
        f"{their_leaks}",
    )


def _masker_side(label: str, count: int, build: int, masks: int) -> Side:
    return Side(
        label,
        [PYTHON, str(MASKER_WORKER), str(count), str(build), str(masks)],
        HERE,
        base_env(),
    )


def build_row(root: Path, runs: int) -> Row:
    status_line(f"figure 6: Masker build, {BUILD_SECRETS:,} secrets ({_unit()})")
    built = _masker_side("build", BUILD_SECRETS, 1, 0)
    bare = _masker_side("no build", BUILD_SECRETS, 0, 0)
    if OPTIONS.instructions:
        with_build, without = count_instructions_many([built.counted(), bare.counted()])
        per_secret = (with_build - without) / BUILD_SECRETS
        measured = f"{per_secret / 1000:.0f} k instructions"
        detail = f"{with_build:,} - {without:,} instructions, / {BUILD_SECRETS:,}"
        return Row(
            f"6. Masker build per secret, {BUILD_SECRETS:,} secrets (instructions)",
            measured,
            "<= 60 k instructions",
            per_secret <= 60_000,
            detail,
        )
    samples = alternate([("build", built.run), ("no build", bare.run)], runs)
    per_secret = (samples[0].cpu - samples[1].cpu) / BUILD_SECRETS
    return Row(
        f"6. Masker build per secret, {BUILD_SECRETS:,} secrets (CPU time)",
        f"{per_secret * 1e6:.0f} µs",
        "<= 60 k instructions (no valgrind here)",
        None,
        f"medians {samples[0].cpu:.3f} s - {samples[1].cpu:.3f} s, / {BUILD_SECRETS:,}",
    )


def _peak_kib(side: Side) -> int:
    _, done = run_timed(
        [PYTHON, str(MAXRSS), *side.command],
        cwd=side.cwd,
        env=side.env,
        expect=side.expect,
        capture=True,
    )
    return int(done.stdout.decode().strip())


def rss_row(root: Path, runs: int) -> Row:
    values = secret_values(RSS_SECRETS)
    body = 'def test_{n}(vault):\n    assert vault["SECRET_00001"].startswith("sk-")\n'
    tests = {"tests/test_reads.py": "\n".join(body.format(n=n) for n in range(RSS_TESTS))}
    project = write_project(root / "goal_rss", tests)
    key = make_vault(project / "secrets.vault.toml", values)
    plain = write_project(root / "goal_rss_off", {**tests, "conftest.py": ENV_FIXTURE})
    on = Side("plugin on", pytest_command(), project, base_env(PYTEST_VAULT_KEY=key))
    off = Side(
        "plugin off",
        pytest_command("-p", "no:vault"),
        plain,
        base_env(SECRET_00001=values["SECRET_00001"]),
    )
    status_line(f"figure 6: peak RSS, a run opening {RSS_SECRETS:,} secrets vs plugin off")
    on.run()  # byte-code and page cache, as in every comparison
    off.run()
    peaks: dict[str, list[int]] = {on.label: [], off.label: []}
    for _ in range(RSS_RUNS):
        for side in (on, off):
            peaks[side.label].append(_peak_kib(side))
    mine, other = (statistics.median(peaks[s.label]) for s in (on, off))
    return Row(
        f"6. pytest run opening a {RSS_SECRETS:,}-secret vault, peak RSS vs plugin off",
        f"{mine / other:.2f}",
        "<= 1.5",
        mine / other <= 1.5,
        f"peak RSS {mine / 1024:.1f} MiB vs {other / 1024:.1f} MiB (medians of {RSS_RUNS}, "
        f"each run's own maximum, {RSS_TESTS} tests)",
    )


def _get_folder(root: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    folder = root / "goal_get"
    values = secret_values(GET_SECRETS, seed=GET_SECRETS)
    write_project(folder, {})
    key = make_vault(folder / "secrets.vault.toml", values)
    return folder, values, base_env(PYTEST_VAULT_KEY=key)


def get_row(root: Path, runs: int) -> Row:
    figure = "6. `pytest-vault get NAME`, cold, 10 secrets, vs `sops -d --extract` (CPU time)"
    sops = BENCH_VENV / "bin" / "sops"
    if not sops.exists():
        return Row(figure, "n/a", "<= 1.0", None, f"{sops} missing: run_all.py --setup-tools")
    import bench_unlock

    folder, values, env = _get_folder(root)
    secret, recipient = bench_unlock.age_keypair()
    plain = folder / "plain.json"
    plain.write_text(json.dumps(values), encoding="utf-8")
    sops_env = base_env(SOPS_AGE_KEY=secret)
    _, done = run_timed(
        [str(sops), "encrypt", "--age", recipient, "--input-type", "json", "--output-type",
         "json", str(plain)],
        cwd=folder, env=sops_env, capture=True,
    )  # fmt: skip
    plain.unlink()
    encrypted = folder / "secrets.sops.json"
    encrypted.write_bytes(done.stdout)
    name = "SECRET_00003"
    ours = Side("pytest-vault get", [str(SCRIPT), "get", name], folder, env)
    theirs = Side(
        "sops -d --extract",
        [str(sops), "decrypt", "--extract", f'["{name}"]', str(encrypted)],
        folder,
        sops_env,
    )
    for side in (ours, theirs):  # both print the value: the same work
        if values[name] not in side.output():
            raise RunFailed(f"{side.label} did not print the value")
    status_line("figure 6: pytest-vault get vs sops -d --extract (CPU time)")
    count = max(runs, GET_RUNS)
    comparison = Comparison(*alternate([(ours.label, ours.run), (theirs.label, theirs.run)], count))
    return Row(
        figure,
        f"{comparison.ratio:.2f}",
        "<= 1.0",
        comparison.ratio <= 1.0,
        comparison.describe(),
    )


def mask_scale_row(root: Path, runs: int) -> Row:
    small, large = MASK_SECRETS
    status_line(f"figure 6: masking 16 KB with {large:,} vs {small:,} secrets ({_unit()})")
    sides = [
        _masker_side(f"{count} secrets, {masks} masks", count, 1, masks)
        for count in (small, large)
        for masks in (MASK_REPEAT + 1, 1)
    ]
    if OPTIONS.instructions:
        counts = count_instructions_many([side.counted() for side in sides])
        per_small = (counts[0] - counts[1]) / MASK_REPEAT
        per_large = (counts[2] - counts[3]) / MASK_REPEAT
        unit = "instructions"
        detail = f"{per_large:,.0f} vs {per_small:,.0f} instructions per 16 KB text"
    else:
        cpu = [
            sample.cpu
            for sample in alternate([(side.label, side.run) for side in sides], max(3, runs // 2))
        ]
        per_small = (cpu[0] - cpu[1]) / MASK_REPEAT
        per_large = (cpu[2] - cpu[3]) / MASK_REPEAT
        unit = "CPU time"
        detail = f"{per_large * 1e6:.0f} vs {per_small * 1e6:.0f} µs per 16 KB text"
    ratio = per_large / per_small
    return Row(
        f"6. masking a 16 KB clean text, {large:,} vs {small:,} secrets ({unit})",
        f"{ratio:.2f}",
        "<= 1.2",
        ratio <= 1.2,
        f"{detail} ({MASK_REPEAT} masks, minus the same process without them)",
    )


# -- beyond the goals: scan, and the cold start of the other commands -----------------------


def scan_row(root: Path, runs: int) -> Row:
    figure = "6. `pytest-vault scan`, generated git repository (CPU time)"
    try:
        bench_scan = importlib.import_module("bench_scan")
        generate, make_secrets = bench_scan.generate, bench_scan.make_secrets
    except (ImportError, AttributeError):
        return Row(figure, "n/a", "", None, "benchmarks/bench_scan.py not here yet")
    import random

    files, megabytes = (200, 2) if OPTIONS.quick else (SCAN_FILES, SCAN_MEGABYTES)
    folder = root / "goal_scan"
    folder.mkdir()
    secrets = make_secrets(random.Random(14), SCAN_SECRETS)
    planted = generate(folder, files, megabytes, secrets, 14)
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    key = make_vault(folder / "secrets.vault.toml", secrets)
    env = base_env(PYTEST_VAULT_KEY=key)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "init", "-q", "."], cwd=folder, check=True)
    subprocess.run([*git, "add", "."], cwd=folder, check=True)
    side = Side("scan", [str(SCRIPT), "scan"], folder, env, (0, 1))
    found = {
        (line.split(":", 2)[0], int(line.split(":", 2)[1]))
        for line in side.output().splitlines()
        if line.count(":") >= 2 and line.split(":", 2)[1].isdigit()
    }
    hits = len({(path, line) for path, line, _ in planted} & found)
    status_line(f"figure 6: pytest-vault scan, {files:,} files, {megabytes} MB")
    timings = [side.run() for _ in range(3)]
    cpu = statistics.median(t.cpu for t in timings)
    return Row(
        f"6. `pytest-vault scan`, {files:,} files / {megabytes} MB in git (CPU time)",
        f"{cpu:.2f} s",
        "",
        None,
        f"{megabytes / cpu:.1f} MB per CPU second, median of 3; found {hits}/{len(planted)} "
        f"planted secrets ({SCAN_SECRETS} in the vault)",
    )


def command_rows(root: Path, runs: int) -> list[Row]:
    folder, _values, env = _get_folder(root / "commands")
    edit_env = {**env, "VISUAL": "true", "EDITOR": "true"}  # an editor that changes nothing
    sides = [
        Side("--version", [str(SCRIPT), "--version"], folder, env),
        Side("get", [str(SCRIPT), "get", "SECRET_00003"], folder, env),
    ]
    missing = []
    for command, side_env in (("export", env), ("edit", edit_env)):
        probe = subprocess.run(
            [str(SCRIPT), command, "--help"], cwd=folder, env=env, capture_output=True, check=False
        )
        if probe.returncode == 0:
            sides.append(Side(command, [str(SCRIPT), command], folder, side_env))
        else:
            missing.append(command)
    status_line("figure 6: cold start of the console script's commands (CPU time)")
    samples = alternate([(side.label, side.run) for side in sides], max(runs, 9))
    get_cpu = samples[1].cpu
    text = ", ".join(f"{s.label} {s.cpu * 1000:.1f} ms" for s in samples)
    rows = [
        Row(
            f"6. `pytest-vault {s.label}`, cold, 10 secrets, vs `get` (CPU time)",
            f"{s.cpu / get_cpu:.2f}",
            "",
            None,
            f"{s.cpu * 1000:.1f} ms vs {get_cpu * 1000:.1f} ms CPU (medians of "
            f"{len(s.timings)} alternating runs; all: {text})",
        )
        for s in samples
        if s.label != "get"
    ]
    if missing:
        rows.append(Row(f"6. {', '.join(missing)}: cold start", "n/a", "", None, "no such command"))
    return rows


def rows(root: Path, runs: int) -> list[Row]:
    result: list[Row] = []
    parts = (
        dormant_rows,
        lambda r, n: [share_row(r, n)],
        masking_rows,
        lambda r, n: [build_row(r, n)],
        lambda r, n: [rss_row(r, n)],
        lambda r, n: [get_row(r, n)],
        lambda r, n: [mask_scale_row(r, n)],
        lambda r, n: [scan_row(r, n)],
        command_rows,
    )
    for part in parts:
        try:
            result.extend(part(root, runs))
        except RunFailed as exc:
            result.append(Row("6. (failed)", "error", "", False, str(exc)[:2000]))
    return result


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="CPU time even where valgrind is")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    OPTIONS.quick = options.quick
    OPTIONS.instructions = OPTIONS.instructions and not options.cpu
    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        _common.PYCACHE[0] = Path(folder) / "pycache"
        for row in rows(Path(folder), options.runs):
            print(
                f"{row.figure}: {row.measured} (goal {row.goal}: {row.verdict})\n    {row.detail}"
            )
