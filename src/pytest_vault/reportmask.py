"""Keeping secret values out of everything pytest prints or writes.

The masking happens at the few places all output passes through (research.md, "choke
points"), so that every reporter downstream (terminal, ``-rA``, JUnit XML, the cache,
xdist) only ever sees masked text:

1. reports, as they are made (`pytest_runtest_makereport` / `pytest_make_collect_report`,
   outermost wrapper): the failure repr tree, skip and xfail reasons, captured sections,
   ``record_property`` values, node ids; and, on the xdist controller, reports as they
   arrive from workers;
2. the live-log and log-file handlers' formatting (``caplog`` keeps the real records);
3. warnings, before any reporter records them;
4. generated parametrize ids;
5. the terminal writer's file, as a last net for anything printed directly.

Every layer does nothing until the vault is opened, and then asks the `Masker` first
whether a text holds a secret at all, so tests that involve no secret cost next to nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TextIO

import pytest

from .state import VaultState

if TYPE_CHECKING:
    from .masking import Masker
    from .vault import Vault


def register_masking(config: pytest.Config, state: VaultState) -> None:
    """Register the masking layers; they stay idle until the vault is opened."""
    layers = MaskingLayers(config, state)
    state.on_open.append(layers.vault_opened)
    config.pluginmanager.register(layers, "vault-masking")


def mask_value(value: Any, masker: Masker) -> Any:
    """Mask every string inside ``value`` (str, list, tuple, dict, dataclass, repr object)."""
    if isinstance(value, str):
        return masker.mask(value)
    if isinstance(value, list):
        value[:] = [mask_value(item, masker) for item in value]
        return value
    if isinstance(value, tuple):
        return tuple(mask_value(item, masker) for item in value)
    if isinstance(value, dict):
        for name in list(value):
            value[name] = mask_value(value[name], masker)
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            setattr(value, field.name, mask_value(getattr(value, field.name), masker))
        return value
    if hasattr(value, "__dict__") and type(value).__module__.startswith("_pytest"):
        for name, item in vars(value).items():
            setattr(value, name, mask_value(item, masker))
        return value
    return value


def mask_report(report: pytest.TestReport | pytest.CollectReport, masker: Masker) -> None:
    """Rewrite every text a report carries, in place."""
    if report.longrepr is not None:
        report.longrepr = mask_value(report.longrepr, masker)
        # Reprs we do not know (doctest, plugins) render to text: check what they print.
        if not isinstance(report.longrepr, (str, tuple)) and masker.contains_secret(
            report.longreprtext
        ):
            report.longrepr = masker.mask(report.longreprtext)
    if report.sections:
        report.sections = [(title, masker.mask(text)) for title, text in report.sections]
    report.nodeid = masker.mask(report.nodeid)
    if isinstance(report, pytest.TestReport):
        report.location = mask_value(report.location, masker)
        if report.user_properties:
            report.user_properties = [
                (masker.mask(str(name)), mask_value(value, masker))
                for name, value in report.user_properties
            ]
        if isinstance(getattr(report, "wasxfail", None), str):
            report.wasxfail = masker.mask(report.wasxfail)


class MaskingLayers:
    """The masking hooks of one run; registered as a plugin by `register_masking`."""

    def __init__(self, config: pytest.Config, state: VaultState) -> None:
        self.config = config
        self.state = state
        self._github_pending = False
        self.is_worker = hasattr(config, "workerinput")

    @property
    def masker(self) -> Masker | None:
        masker = self.state.masker
        return masker if masker else None

    # -- when the vault opens --------------------------------------------------------------

    def vault_opened(self, vault: Vault) -> None:
        masker = self.masker
        if masker is None:
            return
        self._mask_log_handlers(masker)
        if not self.is_worker and os.environ.get("GITHUB_ACTIONS") == "true":
            # Output is captured while a fixture opens the vault: emit at the next report.
            self._github_pending = True

    def _mask_log_handlers(self, masker: Masker) -> None:
        plugin = self.config.pluginmanager.get_plugin("logging-plugin")
        if plugin is None:
            return
        # Not caplog's handler: tests must see their own records unchanged.
        for name in ("log_cli_handler", "log_file_handler", "report_handler"):
            handler = getattr(plugin, name, None)
            if isinstance(handler, logging.Handler) and not isinstance(
                handler.format, _MaskedFormat
            ):
                handler.format = _MaskedFormat(handler.format, masker)  # type: ignore[method-assign]

    def emit_github_masks(self) -> None:
        if not self._github_pending:
            return
        self._github_pending = False
        from .masking import github_add_mask_lines

        vault = self.state.vault()
        lines = github_add_mask_lines(dict(vault.items()))
        stream = sys.__stdout__ or sys.stdout
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()

    # -- 1. reports ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        masker = self.masker
        if masker is not None:
            mask_report(report, masker)
            report.vault_masked = True  # type: ignore[attr-defined]  # travels to the controller
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        masker = self.masker
        if masker is not None:
            mask_report(report, masker)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, object, object]:
        report = yield
        if isinstance(report, (pytest.TestReport, pytest.CollectReport)):
            masker = self.masker
            if masker is None and data.get("vault_masked"):
                masker = self._open_quietly()
            if masker is not None:
                mask_report(report, masker)
        return report

    def _open_quietly(self) -> Masker | None:
        """On the xdist controller: open the vault (key already looked up) to mask again."""
        try:
            self.state.vault()
        except Exception:
            return None
        self.emit_github_masks()
        return self.masker

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.emit_github_masks()

    # -- 3. warnings -----------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: Any) -> None:
        masker = self.masker
        if masker is None:
            return
        text = str(warning_message.message)
        if not masker.contains_secret(text):
            return
        masked = masker.mask(text)
        try:
            warning_message.message = warning_message.category(masked)
        except Exception:
            warning_message.message = UserWarning(masked)

    # -- 4. parametrize ids ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_parametrize_id(self, config: pytest.Config, val: object) -> str | None:
        masker = self.masker
        if masker is not None and isinstance(val, str) and masker.contains_secret(val):
            return masker.mask(val)
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Explicit ids bypass pytest_make_parametrize_id; node ids reach the cache.
        masker = self.masker
        if masker is None:
            return
        for item in items:
            if masker.contains_secret(item.nodeid):
                item._nodeid = masker.mask(item.nodeid)  # type: ignore[attr-defined]

    # -- 5. the terminal -------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)
        file = getattr(writer, "_file", None)
        if writer is not None and file is not None and not isinstance(file, MaskingStream):
            writer._file = MaskingStream(file, self.state)


class _MaskedFormat:
    """A handler's ``format`` that masks what the original formatter produced."""

    def __init__(self, original: Any, masker: Masker) -> None:
        self.original = original
        self.masker = masker

    def __call__(self, record: logging.LogRecord) -> str:
        return self.masker.mask(self.original(record))


class MaskingStream:
    """Wraps the terminal writer's file: the last net for text printed directly."""

    def __init__(self, stream: TextIO, state: VaultState) -> None:
        self._stream = stream
        self._state = state

    def write(self, text: str) -> int:
        masker = self._state.masker
        if masker:
            text = masker.mask(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
