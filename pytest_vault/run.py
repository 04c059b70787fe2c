"""``pytest-vault run -- CMD``: run a command with the secrets as environment variables.

The command gets the environment of ``pytest-vault`` plus every secret (or those of
``--only``), minus the vault key's variables, so it never sees the key. Its exit status is
passed on; a command killed by signal N gives 128 + N, as a shell reports it. SIGINT,
SIGTERM and SIGHUP sent to ``pytest-vault`` are passed to the command; a signal the
terminal sends to its whole foreground process group (Ctrl-C, a hang-up) reaches the
command directly and is not sent a second time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

from .cli import Command
from .errors import SecretValueError, VaultError, VaultUsageError
from .key import KEY_PREFIX

KEY_FILE_ENV = "PYTEST_VAULT_KEY_FILE"
DEFAULT_KEY_ENV = "PYTEST_VAULT_KEY"
FORWARDED = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)
# si_code of a signal the kernel sent (a terminal's Ctrl-C or hang-up), as opposed to one
# a process sent with kill(): only the latter needs forwarding.
_SI_KERNEL = 0x80
COMMAND_NOT_FOUND = 127
COMMAND_NOT_RUNNABLE = 126


class CommandError(VaultError):
    """The command could not be started; exit as a shell would (127, 126)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def names_option(values: Sequence[str] | None) -> list[str]:
    """``--only A,B --only C`` as ``[A, B, C]``."""
    return [name for value in values or () for name in value.split(",") if name]


def child_environment(
    environ: Mapping[str, str], secrets: Mapping[str, str], key_env: str
) -> dict[str, str]:
    """``environ`` with the secrets added (they win) and the key's variables removed."""
    environment = {
        name: value
        for name, value in environ.items()
        if name not in (key_env, DEFAULT_KEY_ENV, KEY_FILE_ENV)
    }
    for name, value in secrets.items():
        if "\0" in value:
            raise SecretValueError(
                f"{name} holds a NUL character, which an environment variable cannot hold; "
                "nothing was run."
            )
        environment[name] = value
    return environment


def cmd_run(command: Command) -> int:
    from .export import chosen_secrets

    argv = list(command.args.run_command or ())
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise VaultUsageError(
            "No command to run: write it after `--`, as in `pytest-vault run -- pytest -x`."
        )
    secrets = chosen_secrets(command, names_option(command.args.only))
    environment = child_environment(os.environ, secrets, command.settings.key_env)
    sys.stdout.flush()
    sys.stderr.flush()
    status = run_forwarding_signals(argv, environment)
    return 128 - status if status < 0 else status


def run_forwarding_signals(argv: list[str], environment: dict[str, str]) -> int:
    """Run ``argv``; return its status (``-N`` when signal N killed it)."""
    if not hasattr(signal, "sigwaitinfo"):  # pragma: no cover - macOS, Windows
        return _run_with_handlers(argv, environment)
    waited = {*FORWARDED, signal.SIGCHLD}
    # Blocked before the child starts, so no signal falls between start and wait; the
    # child gets the mask it would have had (signal masks survive exec).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        child = _start(argv, environment, lambda: _set_mask(previous))
        while child.poll() is None:
            info = signal.sigwaitinfo(waited)
            if info.si_signo != signal.SIGCHLD and info.si_code != _SI_KERNEL:
                _forward(child, info.si_signo)
        return child.returncode
    finally:
        # Consume what is still pending, so unblocking raises no KeyboardInterrupt here.
        while signal.sigtimedwait(waited, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _set_mask(mask: set[int | signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _start(
    argv: list[str], environment: dict[str, str], in_child: Callable[[], None] | None = None
) -> subprocess.Popen[bytes]:
    # A command name that looks like a vault key is not repeated (typed in the wrong place).
    shown = "that command" if KEY_PREFIX in argv[0].upper() else argv[0]
    try:
        return subprocess.Popen(argv, env=environment, preexec_fn=in_child)  # noqa: PLW1509
    except FileNotFoundError:
        raise CommandError(f"There is no command {shown} to run.", COMMAND_NOT_FOUND) from None
    except PermissionError:
        raise CommandError(
            f"{shown} cannot be run: permission denied.", COMMAND_NOT_RUNNABLE
        ) from None
    except OSError as exc:
        raise CommandError(
            f"{shown} cannot be run: {exc.strerror}.", COMMAND_NOT_RUNNABLE
        ) from None


def _forward(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        child.send_signal(signum)


def _run_with_handlers(argv: list[str], environment: dict[str, str]) -> int:  # pragma: no cover
    child = _start(argv, environment)
    previous = {signum: signal.getsignal(signum) for signum in FORWARDED}
    for signum in FORWARDED:
        signal.signal(signum, lambda signum, frame: _forward(child, signum))
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
