"""The pytest plugin (entry point ``vault``): options, the ``vault`` fixture and marker.

It stays dormant until used: importing it loads neither ``cryptography`` nor ``keyring``
nor ``tomllib``, and nothing is read or decrypted until a test needs the vault or a
``--vault-*`` option asks for it. See `state.VaultState` for the lazy state,
`interactive` for ``--vault-unlock`` / ``--vault-reset``, `reportmask` for the masking.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from .settings import DEFAULT_VAULT_FILE
from .state import (
    VaultState,
    get_state,
    run_started,
    skip_test,
    state_key,
)

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from .vault import Vault

MARKER_HELP = (
    "{name}(*names, env=False): the test needs these vault secrets; it is skipped when the "
    "vault is locked or lacks one of them. env=True also sets them as environment "
    "variables for the test."
)
_saved_environment = pytest.StashKey[dict[str, str | None]]()
#: The name of the plugin's marker in this run; None when the project's own marker has it.
_marker_key = pytest.StashKey["str | None"]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    _import_normally(pluginmanager)
    group = parser.getgroup("vault", "pytest-vault (encrypted test secrets)")
    group.addoption(
        "--vault-unlock",
        action="store_true",
        help="the run must have the vault open: prompt for the key on a terminal if it is "
        "not found, and create the vault the first time",
    )
    group.addoption(
        "--vault-reset",
        action="store_true",
        help="generate a new key and delete every secret (for a lost key); runs no tests",
    )
    group.addoption(
        "--vault-yes", action="store_true", help="confirm --vault-reset without a prompt"
    )
    group.addoption("--vault-file", metavar="PATH", help="the vault file for this run")
    group.addoption(
        "--vault-key-file",
        metavar="PATH",
        help="read the vault key from this file (join PATH with '=': given apart, pytest "
        "also takes it for a test path)",
    )
    group.addoption(
        "--vault-no-keyring",
        action="store_true",
        help="neither read nor write the system keyring",
    )
    parser.addini(
        "vault_file", "the vault file, relative to the rootdir (default secrets.vault.toml)"
    )
    parser.addini(
        "vault_key_file",
        "a file holding the vault key, relative to the rootdir (used when neither the key "
        "file option nor PYTEST_VAULT_KEY_FILE names one)",
    )
    parser.addini(
        "vault_key_env", "environment variable holding the key (default PYTEST_VAULT_KEY)"
    )
    parser.addini(
        "vault_missing",
        "what a test that needs the vault gets when no key is found: skip (default) or fail",
    )
    parser.addini(
        "vault_mask", "keep secret values out of pytest's output", type="bool", default=True
    )
    parser.addini(
        "vault_keyring",
        "read the system keyring: auto (default; not when CI is set), always, never",
    )
    parser.addini(
        "vault_marker",
        "the name of the plugin's marker (default vault), for projects whose own marker "
        "already has that name",
    )
    parser.addini(
        "vault_keep_key_env",
        "leave the key's environment variable to the tests (default false: it is removed "
        "once read)",
        type="bool",
        default=False,
    )


def _import_normally(pluginmanager: pytest.PytestPluginManager) -> None:
    """Have the package's later (lazy) imports skip pytest's assertion rewriting.

    pytest marks every module of a plugin's distribution for rewriting. That costs a parse
    and a rewrite per module imported (~3 M instructions each; every run where
    ``PYTHONDONTWRITEBYTECODE`` is set), would make a failed internal ``assert`` print the
    values of our locals, and on Python 3.11 before 3.11.8 a parse interrupted by a
    garbage-collected ``__del__`` that raises fails with "AST constructor recursion depth
    mismatch" (CPython gh-106905; pytest #10874). Our modules rely on no rewritten assert.
    The rewrite hook is pytest's private API: if it changes, modules are rewritten again.
    """
    must_rewrite = getattr(getattr(pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(must_rewrite, set):
        must_rewrite.discard(__name__.partition(".")[0])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    """Before any ``conftest.py`` is imported and before capture saves the std streams:
    take the key's variable out of the environment, and wrap ``sys.stdout`` and
    ``sys.stderr`` in the masking net when there is a vault (see `streams`)."""
    from .keyenv import take_key_env

    early_config.stash[run_started] = time.time()
    namespace = early_config.known_args_namespace
    if not (namespace.help or namespace.version):
        take_key_env(early_config)
        if _masking_wanted(early_config) and _early_vault_path(early_config).is_file():
            from .streams import wrap_std_streams

            wrap_std_streams(early_config)
    return (yield)


def _masking_wanted(config: pytest.Config) -> bool:
    try:
        return bool(config.getini("vault_mask"))
    except (ValueError, pytest.UsageError):
        return True  # reported at configure; masking meanwhile does no harm


def _early_vault_path(config: pytest.Config) -> Path:
    """The vault file, before the command line is fully parsed (`state.vault_path` after)."""
    option = getattr(config.known_args_namespace, "vault_file", None)
    if option:
        return Path(option).absolute()
    configured = str(config.getini("vault_file") or "").strip()
    return config.rootpath / (configured or DEFAULT_VAULT_FILE)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--vault-reset`` is a command: it runs instead of the tests, like ``--fixtures``."""
    option = config.option
    if not option.vault_reset or option.help or option.version:
        return None
    from .interactive import reset_vault

    return reset_vault(config)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[_marker_key] = _register_marker(config)
    if config.option.help:
        return  # --help works whatever the vault settings, file and key are like
    state = get_state(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # Taken, not read: a test can reach config.workerinput, and the key is not theirs.
        state.handed_over = workerinput.pop("pytest_vault", None)
    config.pluginmanager.register(vault_fixture(state), "vault-fixture")
    distributing = workerinput is None and _distributing(config)
    if distributing:
        from ._xdist import XdistKeyHandover, refuse_socket_gateways

        if state.exists():
            refuse_socket_gateways(config)
        config.pluginmanager.register(XdistKeyHandover(state), "vault-xdist")
    if state.mask_enabled:
        from .streams import mask_trace

        mask_trace(config)
        _register_masking(config, state, at_once=distributing)
        from importlib.util import find_spec

        if find_spec("vcr") is not None:  # vcrpy installed: its cassettes get masked
            from .cassettes import CassetteMasking

            config.pluginmanager.register(CassetteMasking(state), "vault-cassettes")
    # Unlock before any test runs and before xdist starts its workers (in sessionstart).
    if config.option.vault_unlock and workerinput is None:
        from .interactive import unlock_for_run

        unlock_for_run(config, state)
    elif workerinput is None:
        _refuse_explicit_key_without_vault(state)


def _refuse_explicit_key_without_vault(state: VaultState) -> None:
    """A key given explicitly, but no vault file: an error before any test, never a skip."""
    if state.exists():
        return
    from .keyenv import environ_with_key

    given_by = state.settings.explicit_key(environ_with_key(state.config))
    if given_by is None:
        return
    hint = ""
    if given_by == "--vault-key-file":
        hint = (
            " Write --vault-key-file=PATH: with a space, pytest also takes PATH for a test "
            "path and may pick its rootdir, and so the vault, from PATH's folder."
        )
    from .errors import shown_path

    raise pytest.UsageError(
        f"A vault key is given ({given_by}), but there is no vault file at "
        f"{shown_path(state.path)}. "
        "Run pytest from the vault's project, or name the vault with --vault-file PATH or "
        f"the ini option vault_file.{hint}"
    )


def _register_marker(config: pytest.Config) -> str | None:
    """Register the plugin's marker; None (and one warning) when the project already
    registered a marker of that name with its own meaning (e.g. HashiCorp Vault tests)."""
    from .errors import VaultUsageError
    from .settings import marker_name

    try:
        name = marker_name(str(config.getini("vault_marker") or ""))
    except VaultUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    for line in config.getini("markers"):
        registered = str(line).split(":", 1)[0].split("(", 1)[0].strip()
        if registered == name:
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    f"pytest-vault: this project registers its own '{name}' marker, so "
                    f"pytest-vault leaves @pytest.mark.{name} tests alone. To use the "
                    "plugin's marker, give it another name with the ini option vault_marker "
                    "(e.g. vault_marker = secrets)."
                ),
                stacklevel=2,
            )
            return None
    config.addinivalue_line("markers", MARKER_HELP.format(name=name))
    return name


def _register_masking(config: pytest.Config, state: VaultState, *, at_once: bool) -> None:
    """Register the masking layers of `reportmask` when the vault opens, or now.

    Before the vault opens there is nothing to mask, and hooks run for every test, so a
    run that never opens it never imports `reportmask`. Now on an xdist controller: it
    masks the reports of workers whose vault is open before its own is. The JUnit fixture
    overrides are registered now when there is a JUnit XML file to write: pytest resolves
    fixture names when it collects (without the file, pytest's fixtures do nothing).
    """
    if getattr(config.option, "xmlpath", None):
        from .reportmask import register_junit_masks

        register_junit_masks(config)
    if at_once:
        from .reportmask import register_layers

        register_layers(config, state)
    else:
        state.when_open(_LayersWhenOpen(config, state))


class _LayersWhenOpen:
    """Registers the masking layers when the vault opens."""

    def __init__(self, config: pytest.Config, state: VaultState) -> None:
        self.config = config
        self.state = state

    def opened(self, vault: Vault, masker: object) -> None:
        from .reportmask import register_layers

        register_layers(self.config, self.state)


def _distributing(config: pytest.Config) -> bool:
    """Whether pytest-xdist will start workers (``-n``, or ``--dist`` with ``--tx``)."""
    return (
        config.pluginmanager.hasplugin("xdist")
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if hasattr(config, "workerinput") or config.option.help:
        return None
    return get_state(config).header_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(state_key, None)
    line = state.summary_line() if state is not None else None
    if line:
        terminalreporter.write_line(line)
    if state is not None:
        for warning in state.key_warnings():
            terminalreporter.write_line(warning, yellow=True)
    skipped = terminalreporter.stats.get("skipped")
    if skipped:
        from .skipsummary import skip_summary

        summary = skip_summary(skipped, terminalreporter.config)
        if summary:
            terminalreporter.write_line(summary, yellow=True)
            if os.environ.get("GITHUB_ACTIONS") == "true":
                terminalreporter.write_line(f"::notice title=pytest-vault::{summary}")


def vault_fixture(state: VaultState) -> ModuleType:
    """A plugin holding the ``vault`` fixture of this run.

    The fixture is a closure over the run's state, not a function asking for ``request``
    (pytest would then build a ``request`` fixture for every test that uses the vault: a
    quarter of what the plugin cost such a test, docs/performance.md), nor a method (pytest
    9.2 warns about session fixtures defined as instance methods).
    """

    def vault() -> Vault:
        """The opened vault: a read-only mapping of secret name to value.

        Skipped when no key is found (unless ``vault_missing = fail`` or ``--vault-unlock``);
        an error when the key found does not open the vault.
        """
        from .vault import Vault as _Vault

        opened = state.require_vault()

        class TestVault(_Vault):
            def __getitem__(self, name: str) -> str:
                if name not in self:
                    pytest.fail(self.missing_message(name), pytrace=False)
                return super().__getitem__(name)

        return TestVault(dict(opened.items()), opened.path, opened.source)

    holder = ModuleType(f"{__name__}.fixture")  # a module: pytest binds no instance to it
    holder.vault = pytest.fixture(scope="session")(vault)  # type: ignore[attr-defined]
    return holder


def _marker_names(item: pytest.Item, name: str) -> tuple[list[str], list[str]]:
    """The secret names the test's markers need, and those to set as variables.

    ``env=True`` applies to the names of its own marker; without names it is a mistake
    that fails the test (it would silently set nothing).
    """
    names: list[str] = []
    env_names: list[str] = []
    for marker in item.iter_markers(name):
        own = [str(secret) for secret in marker.args]
        if marker.kwargs.get("env", False):
            if not own:
                pytest.fail(
                    f"@pytest.mark.{name}(env=True) names no secrets, so it would set no "
                    f'environment variable: name them, e.g. @pytest.mark.{name}("API_TOKEN", '
                    "env=True).",
                    pytrace=False,
                )
            env_names.extend(own)
        names.extend(own)
    return names, env_names


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The marker's per-test hooks are registered only when a collected test is marked:
    # suites that never use the marker pay nothing per test.
    name = config.stash.get(_marker_key, None)
    if name is None or config.pluginmanager.has_plugin("vault-marker"):
        return
    if _any_marked(items, name):
        config.pluginmanager.register(MarkerHooks(name), "vault-marker")


def _any_marked(items: list[pytest.Item], name: str) -> bool:
    """Whether a test, or a class or module holding one, has the plugin's marker.

    Looks at each node once (a module's tests share it), not up the chain per test as
    ``get_closest_marker`` would: this runs in every run, vault or not.
    """
    looked_at: set[int] = set()
    for item in items:
        node: Node | None = item
        while node is not None and id(node) not in looked_at:
            looked_at.add(id(node))
            for marker in node.own_markers:
                if marker.name == name:
                    return True
            node = node.parent
    return False


class MarkerHooks:
    """``@pytest.mark.vault``: check the names, open the vault, set and restore the env."""

    def __init__(self, name: str) -> None:
        self.name = name

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker(self.name) is None:
            return
        names, env_names = _marker_names(item, self.name)
        state = get_state(item.config)
        _require_names(state, names)
        opened = state.require_vault()
        if env_names:
            saved = {name: os.environ.get(name) for name in env_names}
            item.stash[_saved_environment] = saved
            for name in env_names:
                os.environ[name] = opened[name]

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            saved = item.stash.get(_saved_environment, None)
            if saved is not None:
                _restore(saved)


def _require_names(state: VaultState, names: list[str]) -> None:
    from .errors import VaultError, VaultFileMissingError

    # Outcomes are raised outside the ``except`` block, so that the report does not show
    # the VaultError as well ("During handling of the above exception").
    error: VaultError | None = None
    try:
        held = state.vault_file().tokens
    except VaultError as exc:
        error = exc
    if isinstance(error, VaultFileMissingError):
        if state.missing_policy == "fail" or state.config.option.vault_unlock:
            from .errors import shown_path

            pytest.fail(f"There is no vault file at {shown_path(state.path)}.", pytrace=False)
        skip_test(state.locked_reason())
    if error is not None:
        pytest.fail(str(error), pytrace=False)
    missing = [name for name in names if name not in held]
    if missing and state.missing_policy == "fail":
        pytest.fail(
            f"The vault {state.path} lacks {', '.join(missing)} (vault_missing = fail); add "
            f"it with `pytest-vault set {missing[0]}`.",
            pytrace=False,
        )
    if missing:
        skip_test(
            f"the vault {state.path.name} lacks {', '.join(missing)} "
            f"(add it with `pytest-vault set {missing[0]}`)"
        )


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
