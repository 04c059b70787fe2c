"""The pytest plugin (entry point ``vault``): options, the ``vault`` fixture and marker.

It stays dormant until used: importing it loads neither ``cryptography`` nor ``keyring``
nor ``tomllib``, and nothing is read or decrypted until a test needs the vault or a
``--vault-*`` option asks for it. See `state.VaultState` for the lazy state,
`interactive` for ``--vault-unlock`` / ``--vault-reset``, `reportmask` for the masking.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from .state import VaultState, get_state, skip_test, state_key

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from .vault import Vault

MARKER_HELP = (
    "vault(*names, env=False): the test needs these vault secrets; it is skipped when the "
    "vault is locked or lacks one of them. env=True also sets them as environment "
    "variables for the test."
)
_saved_environment = pytest.StashKey[dict[str, str | None]]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
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
    group.addoption("--vault-key-file", metavar="PATH", help="read the vault key from this file")
    group.addoption(
        "--vault-no-keyring",
        action="store_true",
        help="neither read nor write the system keyring",
    )
    parser.addini(
        "vault_file", "the vault file, relative to the rootdir (default secrets.vault.toml)"
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
    config.addinivalue_line("markers", MARKER_HELP)
    if config.option.help:
        return  # --help works whatever the vault settings, file and key are like
    state = get_state(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        state.handed_over = workerinput.get("pytest_vault")
    config.pluginmanager.register(vault_fixture(state), "vault-fixture")
    distributing = workerinput is None and _distributing(config)
    if distributing:
        from ._xdist import XdistKeyHandover, refuse_socket_gateways

        if state.exists():
            refuse_socket_gateways(config)
        config.pluginmanager.register(XdistKeyHandover(state), "vault-xdist")
    if state.mask_enabled:
        _register_masking(config, state, at_once=distributing)
        from importlib.util import find_spec

        if find_spec("vcr") is not None:  # vcrpy installed: its cassettes get masked
            from .cassettes import CassetteMasking

            config.pluginmanager.register(CassetteMasking(state), "vault-cassettes")
    # Unlock before any test runs and before xdist starts its workers (in sessionstart).
    if config.option.vault_unlock and workerinput is None:
        from .interactive import unlock_for_run

        unlock_for_run(config, state)


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
        _register_layers(config, state)
    else:
        state.on_open.append(lambda vault: _register_layers(config, state))


def _register_layers(config: pytest.Config, state: VaultState) -> None:
    from .reportmask import register_layers

    register_layers(config, state)


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


def _marker_names(item: pytest.Item) -> tuple[list[str], bool]:
    names: list[str] = []
    env = False
    for marker in item.iter_markers("vault"):
        names.extend(str(name) for name in marker.args)
        env = env or bool(marker.kwargs.get("env", False))
    return names, env


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The marker's per-test hooks are registered only when a collected test is marked:
    # suites that never use the marker pay nothing per test.
    if config.pluginmanager.has_plugin("vault-marker"):
        return
    if _any_marked(items):
        config.pluginmanager.register(MarkerHooks(), "vault-marker")


def _any_marked(items: list[pytest.Item]) -> bool:
    """Whether a test, or a class or module holding one, has ``@pytest.mark.vault``.

    Looks at each node once (a module's tests share it), not up the chain per test as
    ``get_closest_marker`` would: this runs in every run, vault or not.
    """
    looked_at: set[int] = set()
    for item in items:
        node: Node | None = item
        while node is not None and id(node) not in looked_at:
            looked_at.add(id(node))
            for marker in node.own_markers:
                if marker.name == "vault":
                    return True
            node = node.parent
    return False


class MarkerHooks:
    """``@pytest.mark.vault``: check the names, open the vault, set and restore the env."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker("vault") is None:
            return
        names, env = _marker_names(item)
        state = get_state(item.config)
        _require_names(state, names)
        opened = state.require_vault()
        if env:
            saved = {name: os.environ.get(name) for name in names}
            item.stash[_saved_environment] = saved
            for name in names:
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
            pytest.fail(f"There is no vault file at {state.path}.", pytrace=False)
        skip_test(state.locked_reason())
    if error is not None:
        pytest.fail(str(error), pytrace=False)
    missing = [name for name in names if name not in held]
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
