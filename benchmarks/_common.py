"""Shared helpers of the benchmarks: timed runs, A/B alternation, generated vaults.

Every figure is a ratio of two things measured side by side in one run: the two
commands are run alternately (A B B A A B ...), after one warm-up run each, and the ratio
is the median of the ratios of neighbouring A and B runs. The headline is CPU time (user +
system of the child processes): on a shared machine, wall-clock time mostly measures the
neighbours. Wall-clock medians are reported beside it.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCH_VENV = Path(os.environ.get("PYTEST_VAULT_BENCH_VENV", "/tmp/bench-venv"))
"""A separate virtual environment with the tools we compare against (see run_all.py)."""

# Variables that would change what a pytest run does; never inherited by a benchmark run.
_DROPPED = (
    "PYTEST_VAULT_KEY",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "CI",
    "GITHUB_ACTIONS",
    "MASK_SECRETS",
    "MASK_SECRETS_AUTO",
    "PYTEST_XDIST_AUTO_NUM_WORKERS",
    "PYTHON_KEYRING_BACKEND",
    "PYTEST_VAULT_TEST_KEYRING",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "PYTHONDONTWRITEBYTECODE",
)
PYCACHE = [Path(tempfile.gettempdir()) / "pytest-vault-bench-pycache"]
"""Byte-code of every run goes here (PYTHONPYCACHEPREFIX), never into the source tree;
run_all.py points it into its temporary folder."""


SOURCE_PATH: list[str] = []
"""Folders put first on PYTHONPATH of every run (run_all.py --src: try a patched copy)."""


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark run: no vault key, no CI flags, a harmless keyring."""
    env = {name: value for name, value in os.environ.items() if name not in _DROPPED}
    paths = [*SOURCE_PATH, extra.pop("PYTHONPATH", ""), env.get("PYTHONPATH", "")]
    if any(paths):
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    # Should anything reach for the keyring by mistake, it must not be the user's.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["PYTHONHASHSEED"] = "0"
    # Users' pytest runs reuse cached byte-code (and pytest's rewritten test modules); a
    # benchmark that recompiled everything each run would measure the compiler.
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[0])
    env.update(extra)
    return env


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


class RunFailed(RuntimeError):
    pass


def run_timed(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    expect: Sequence[int] = (0,),
    capture: bool = False,
) -> tuple[Timing, subprocess.CompletedProcess[bytes]]:
    """Run ``command`` once; its wall-clock time and the CPU time of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in expect:
        tail = done.stderr.decode("utf-8", "replace")[-2000:]
        if capture:
            tail = done.stdout.decode("utf-8", "replace")[-2000:] + tail
        raise RunFailed(f"{' '.join(command)} exited {done.returncode} in {cwd}:\n{tail}")
    return Timing(wall, cpu), done


@dataclass
class Samples:
    """The timings of one side of a comparison."""

    label: str
    timings: list[Timing] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(t.wall for t in self.timings)

    @property
    def cpu(self) -> float:
        return statistics.median(t.cpu for t in self.timings)


@dataclass
class Comparison:
    """A over B, from runs made in turn: each A run has a B run beside it in time."""

    a: Samples
    b: Samples
    #: Instructions of one A run and one B run, when counted (run_all.py --instructions).
    instructions: tuple[int, int] | None = None

    @property
    def pair_ratios(self) -> list[float]:
        return [x.cpu / y.cpu for x, y in zip(self.a.timings, self.b.timings, strict=True)]

    @property
    def ratio(self) -> float:
        """The headline: the median of the CPU-time ratios of neighbouring A and B runs."""
        return statistics.median(self.pair_ratios)

    @property
    def wall_ratio(self) -> float:
        return self.a.wall / self.b.wall

    def describe(self) -> str:
        ratios = sorted(self.pair_ratios)
        low, high = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        return (
            f"CPU {self.a.label} {self.a.cpu:.3f} s vs {self.b.label} {self.b.cpu:.3f} s "
            f"(medians; ratio of medians {self.a.cpu / self.b.cpu:.3f}, middle half of the "
            f"{len(ratios)} pair ratios {low:.3f}-{high:.3f}); wall {self.a.wall:.3f} s vs "
            f"{self.b.wall:.3f} s (ratio {self.wall_ratio:.3f})"
        )


INSTRUCTIONS = [False]
"""run_all.py --instructions: also count CPU instructions of figures 1 and 2 (valgrind)."""


def count_instructions(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], expect: Sequence[int] = (0,)
) -> int:
    """Instructions executed by one run of ``command`` (valgrind --tool=callgrind).

    Deterministic where CPU time is not: it sees a 1 % difference on a busy machine. A
    run takes about 50 times longer than without valgrind.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RunFailed("valgrind is not installed (apt-get install valgrind)")
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    found = collected(done.stderr)
    if done.returncode not in expect or found is None:
        raise RunFailed(f"{' '.join(command)} under valgrind exited {done.returncode}")
    return found


def collected(stderr: bytes) -> int | None:
    """The instructions callgrind counted in the process it started, from its report.

    Not the first "Collected" line: a process that forks (pytest's plugins do, to run a
    program) makes valgrind report each forked child too, when it exits or execs, before
    the parent ends. Every line of the report starts with ``==PID==``; the first names the
    process valgrind started.
    """
    first = re.search(rb"^==(\d+)==", stderr, re.MULTILINE)
    if first is None:
        return None
    found = re.search(rb"^==%s== Collected : (\d+)" % first.group(1), stderr, re.MULTILINE)
    return int(found.group(1)) if found else None


def count_instructions_many(
    runs: Sequence[tuple[Sequence[str], Path, Mapping[str, str], Sequence[int]]],
    *,
    parallel: int = 2,
) -> list[int]:
    """Instructions of each run (command, cwd, env, expected exit statuses), ``parallel`` at
    a time: a count does not depend on what else the machine runs, so two valgrind runs
    side by side give the same counts in half the time. Each command first runs once
    without valgrind, one after the other: byte-code and pytest's rewritten modules are
    then cached, and no count includes compiling what the other run cached meanwhile."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RunFailed("valgrind is not installed (apt-get install valgrind)")
    for command, cwd, env, expect in runs:
        run_timed(command, cwd=cwd, env=env, expect=expect)
    counts: list[int] = []
    for start in range(0, len(runs), parallel):
        batch = runs[start : start + parallel]
        started = [
            subprocess.Popen(
                [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for command, cwd, env, _ in batch
        ]
        for process, (command, _, _, expect) in zip(started, batch, strict=True):
            _, err = process.communicate()
            found = collected(err)
            if process.returncode not in expect or found is None:
                tail = err.decode("utf-8", "replace")[-1500:]
                raise RunFailed(
                    f"{' '.join(command)} under valgrind exited {process.returncode}:\n{tail}"
                )
            counts.append(found)
    return counts


def alternate(
    sides: Sequence[tuple[str, Callable[[], Timing]]], runs: int, *, warmup: bool = True
) -> list[Samples]:
    """Run each side ``runs`` times, in turn, after one warm-up each.

    The order turns every round (A B, B A, A B, ... ; with three sides A B C, B C A, ...),
    so that no side always runs first after a pause, or always after the same other.
    """
    samples = [Samples(label) for label, _ in sides]
    if warmup:
        for _, run in sides:
            run()
    count = len(sides)
    for round_ in range(runs):
        if count == 2:
            order = [0, 1] if round_ % 2 == 0 else [1, 0]
        else:
            order = [(round_ + i) % count for i in range(count)]
        for index in order:
            samples[index].timings.append(sides[index][1]())
    return samples


def compare(
    a: tuple[str, Callable[[], Timing]], b: tuple[str, Callable[[], Timing]], runs: int
) -> Comparison:
    first, second = alternate([a, b], runs)
    return Comparison(first, second)


# -- generated secrets and vaults ------------------------------------------------------------


def secret_values(count: int, *, seed: int = 8, prefix: str = "SECRET") -> dict[str, str]:
    """``count`` secrets named PREFIX_00000..., random values of 20 to 60 characters."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    return {
        f"{prefix}_{index:05d}": "sk-"
        + "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60)))
        for index in range(count)
    }


def make_vault(path: Path, values: Mapping[str, str]) -> str:
    """Write a vault holding ``values`` at ``path``; return its key's text."""
    from pytest_vault.key import VaultKey
    from pytest_vault.vault import create_vault, set_secrets

    key = VaultKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    create_vault(path, key)
    if values:
        set_secrets(path, key, values)
    return key.text()


def write_project(root: Path, files: Mapping[str, str], ini: str = "[pytest]\n") -> Path:
    """A fresh project folder with a pytest.ini and the given files."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text(ini, encoding="utf-8")
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def pytest_command(*args: str, python: str = PYTHON) -> list[str]:
    """``python -m pytest`` with the flags every benchmark run shares."""
    return [python, "-m", "pytest", "-p", "no:cacheprovider", *args]


# -- the result table ------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the result table."""

    figure: str
    measured: str
    goal: str = ""
    ok: bool | None = None
    detail: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.ok]


def status_line(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)
