"""The masking hooks of one run: reports, warnings, ids, internal errors, the terminal."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_vault.state import VaultState
from pytest_vault.streams import MaskingStream, masker_slot

from .logs import mask_log_handlers
from .walker import TextMemo, mask_report, mask_value, rename_item, was_masked

if TYPE_CHECKING:
    from pytest_vault.masking import Masker
    from pytest_vault.vault import Vault

#: Key of a serialized report: the xdist worker that sent it had its vault open.
OPEN_ON_WORKER = "vault_open"


class MaskingLayers:
    """The masking hooks of one run; registered as a plugin by `register_layers`."""

    #: The logging plugin's handlers whose output is masked as it is formatted: live logging
    #: and the log file. Not the report handler: what it captures reaches output only as a
    #: report section, which the report layer masks anyway.
    log_handlers: tuple[str, ...] = ("log_cli_handler", "log_file_handler")

    def __init__(self, config: pytest.Config, state: VaultState) -> None:
        self.config = config
        self.state = state
        self._github_pending = False
        self.is_worker = hasattr(config, "workerinput")
        self.memo = TextMemo()
        #: Handed over by the state when the vault opens; asked for on every report.
        self.masker: Masker | None = None

    # -- when the vault opens --------------------------------------------------------------

    def opened(self, vault: Vault, masker: Masker | None) -> None:
        if not masker:
            return
        self.masker = masker
        mask_log_handlers(self.config, self.log_handlers, masker)
        if not self.is_worker and os.environ.get("GITHUB_ACTIONS") == "true":
            # Output is captured while a fixture opens the vault: emit at the next report.
            self._github_pending = True

    def emit_github_masks(self) -> None:
        if not self._github_pending:
            return
        # Once per run, from the controller only, whichever object, path or thread (see
        # `pytest_report_from_serializable`) gets here first.
        with self.state.lock:
            if not self._github_pending or self.is_worker or self.state.github_masks_sent:
                self._github_pending = False
                return
            self._github_pending = False
            self.state.github_masks_sent = True
            from .github import write_github_masks

            write_github_masks(self.config, self.state)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        self.emit_github_masks()  # a vault opened after the last report (say, in a summary)

    # -- 1. reports ------------------------------------------------------------------------
    # A test's reports are masked when they are logged (`pytest_runtest_logreport`, first):
    # pytest's ``call_and_report`` logs each report right after ``pytest_runtest_makereport``
    # made it, with nothing in between, and every reporter (terminal, JUnit XML, xdist,
    # plugins) takes reports from there. Report files written from ``makereport`` wrappers
    # (allure-pytest) are masked in place by `files`.

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, config: pytest.Config, report: pytest.TestReport | pytest.CollectReport
    ) -> Generator[None, object, object]:
        data = yield
        # Tells the xdist controller that the worker's vault was open, so that it opens its
        # own and masks again. Independent of the worker's masking: that is what it checks.
        if self.is_worker and isinstance(data, dict) and self.state.is_open:
            data[OPEN_ON_WORKER] = True
        return data

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, object, object]:
        report = yield
        if isinstance(report, (pytest.TestReport, pytest.CollectReport)):
            # Called in execnet's receiver threads, one per worker: one at a time, so
            # that no report passes while another thread is still opening the vault.
            with self.state.lock:
                masker = self.masker
                if masker is None and data.get(OPEN_ON_WORKER):
                    masker = self._open_quietly()
                if masker is not None:
                    mask_report(report, masker, self.memo)
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
        if self._github_pending:
            self.emit_github_masks()
        # Also reports made without pytest_runtest_makereport: a subtest's is a copy of
        # one, with the subtest's output and parameters added.
        masker = self.masker
        if masker is not None and not was_masked(report):
            mask_report(report, masker, self.memo)

    @pytest.hookimpl(tryfirst=True)
    def pytest_internalerror(self, excrepr: Any) -> None:
        # A crash whose message holds a secret: printed, and written to the JUnit XML.
        masker = self.masker
        if masker is not None:
            mask_value(excrepr, masker)

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

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        # Explicit ids bypass pytest_make_parametrize_id. Items are renamed as soon as
        # their collector made them (the innermost wrapper: before ``--lf`` filters them by
        # node id, before any hook sees them), so that node ids are masked in the cache,
        # the JUnit XML and xdist's messages, and ``--lf`` finds them again.
        report = yield
        masker = self.masker
        if masker is not None:
            for item in report.result:
                if isinstance(item, pytest.Item) and masker.contains_secret(item.nodeid):
                    rename_item(item, masker)
        return report

    # -- 5. the terminal -------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)
        file = getattr(writer, "_file", None)
        if writer is None or file is None:
            return
        if isinstance(file, MaskingStream):  # sys.stdout, wrapped at start-up (`streams`)
            if file.memo is None:
                file.memo = self.memo
        else:
            writer._file = MaskingStream(file, masker_slot(config), self.memo)
        self.memo.remember_clean = True


class CollectReportMasks:
    """Collection reports, masked as they are made (outermost wrapper).

    A plugin of its own because `MaskingLayers` wraps the same hook further in, to rename
    the items a collector made.
    """

    def __init__(self, layers: MaskingLayers) -> None:
        self.layers = layers

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        masker = self.layers.masker
        if masker is not None:
            mask_report(report, masker, self.layers.memo)
        return report
