"""Running the ``pytest-vault`` console script: in this process, or as the real program.

Most tests check what a command prints, writes and returns, not that it is a separate
process: `run_in_process` calls ``pytest_vault.cli.main`` with the arguments, folder,
variables and standard input the program would get, and gives back the same `CliResult`
(exit status, standard output, standard error). That costs milliseconds, not the ~0.2 s of
a new interpreter. `run_process` starts the real console script pip installed; tests of
the program itself (its entry point, signals, a terminal, several processes at once) and
every command at least once (tests/test_cli.py) use it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Where pip put the console script: beside the interpreter in a POSIX venv, in Scripts\ (as
# pytest-vault.exe) on Windows.
_SCRIPTS = sysconfig.get_path("scripts")
CONSOLE_SCRIPT = shutil.which("pytest-vault", path=_SCRIPTS) or str(Path(_SCRIPTS, "pytest-vault"))

#: Commands that start another program on the inherited standard streams (`run` its
#: command, `edit` the editor): in this process their output would bypass the capture.
#: They, and runs with a variable only a new interpreter reads, get the real program.
STARTS_PROGRAMS = frozenset({"run", "edit"})
_OPTIONS_WITH_VALUES = frozenset({"--file", "--key-file"})


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def command_of(args: Sequence[str]) -> str | None:
    """The command named in ``args`` (after any global options)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _OPTIONS_WITH_VALUES:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def run_process(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], input: bytes = b""
) -> CliResult:
    """The real console script, in a new process."""
    done = subprocess.run(
        [CONSOLE_SCRIPT, *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=dict(env),
        timeout=60,
        check=False,
    )
    return CliResult(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def run_in_process(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], input: bytes = b""
) -> CliResult:
    """``pytest_vault.cli.main(args)`` as the console script would run it (see the module)."""
    if command_of(args) in STARTS_PROGRAMS or _configures_the_interpreter(env):
        return run_process(args, cwd=cwd, env=env, input=input)
    stdout, stderr = io.BytesIO(), io.BytesIO()
    with _as_a_new_process(args, cwd, env, input, stdout, stderr):
        status = _call_main(args)
    return CliResult(
        status,
        stdout.getvalue().decode("utf-8", "replace"),
        stderr.getvalue().decode("utf-8", "replace"),
    )


def _configures_the_interpreter(env: Mapping[str, str]) -> bool:
    """Whether ``env`` changes a variable Python reads only at start-up (PYTHONIOENCODING,
    PYTHONPROFILEIMPORTTIME, the locale...): only a new process would see it."""
    names = {*env, *os.environ}
    read_at_start = {
        name
        for name in names
        if (name.startswith("PYTHON") and not name.startswith("PYTHON_"))
        or name.startswith("LC_")
        or name == "LANG"
    }
    return any(env.get(name) != os.environ.get(name) for name in read_at_start)


def _call_main(args: Sequence[str]) -> int:
    from pytest_vault import cli

    try:
        return cli.main(list(args))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # what the interpreter would print before exiting with status 1
        traceback.print_exc(file=sys.stderr)
        return 1


@contextlib.contextmanager
def _as_a_new_process(  # noqa: PLR0917 - the parts of a process, in order
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    input: bytes,
    stdout: io.BytesIO,
    stderr: io.BytesIO,
) -> Iterator[None]:
    """The folder, variables, standard streams, keyring and warnings of a new process."""
    import keyring.core

    import pytest_vault.terminal

    saved_environ = dict(os.environ)
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_argv = sys.argv
    saved_backend = keyring.core._keyring_backend
    saved_tty = pytest_vault.terminal.STDIN_WAS_TTY
    saved_cwd = os.getcwd()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.argv = [CONSOLE_SCRIPT, *args]
        # As in a new process, with standard input a pipe: UTF-8 (the tests' locale),
        # strict on standard output, backslash escapes on standard error.
        sys.stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(stdout, encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(
            stderr, encoding="utf-8", errors="backslashreplace", write_through=True
        )
        pytest_vault.terminal.STDIN_WAS_TTY = False
        # keyring picks its backend from PYTHON_KEYRING_BACKEND on first use, as it would.
        keyring.core._keyring_backend = None
        with warnings.catch_warnings():
            _default_warning_filters()
            yield
    finally:
        for stream in (sys.stdin, sys.stdout, sys.stderr):
            # Detached, or closing the wrapper would close the buffer read below.
            with contextlib.suppress(ValueError, AttributeError):
                stream.flush()
                stream.detach()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        keyring.core._keyring_backend = saved_backend
        pytest_vault.terminal.STDIN_WAS_TTY = saved_tty
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)


def _default_warning_filters() -> None:
    """Python's own filters, and warnings printed to (this run's) standard error."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
        warnings.simplefilter("ignore", category)
    warnings.simplefilter("ignore", ResourceWarning)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")

    def show(  # noqa: PLR0917 - warnings.showwarning's signature
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: object = None,
        line: str | None = None,
    ) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
