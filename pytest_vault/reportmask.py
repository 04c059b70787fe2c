"""Keeping secret values out of everything pytest prints or writes.

The masking happens at the few places all output passes through (research.md, "choke
points"), so that every reporter downstream (terminal, ``-rA``, JUnit XML, the cache,
xdist, third-party reporters) only ever sees masked text. The layers, each switchable on
its own (``tests/test_leaks.py`` removes them one by one):

1. reports: test reports as they are made (`pytest_runtest_makereport`, outermost wrapper)
   and, for reports made otherwise (subtests), when they are logged; collection reports
   (`CollectReportMasks`); the repr tree, skip and xfail reasons, captured sections,
   ``record_property`` values, keywords, node ids, subtest parameters; internal errors.
   Under xdist, workers mask before sending and tell the controller their vault is open;
   the controller then opens its own and masks again;
2. node ids: items whose parametrize ids hold a secret are renamed as their collector
   makes them (explicit ``ids=`` bypass layer 5), before ``--lf``, the cache or xdist see
   them;
3. the JUnit fixtures that write into the XML file directly (`JunitRecordMasks`);
4. the live-log and log-file handlers' formatting (``caplog`` keeps the real records);
5. warnings, before any reporter records them; generated parametrize ids;
6. the terminal writer's file, as a last net for anything printed directly;
7. under GitHub Actions, ``::add-mask::`` for every secret, once, from the controller.

The layers are registered when the vault opens (`register_layers`), so a run that never
opens it pays nothing per test; they then ask the `Masker` first whether a report's texts
hold a secret at all (one look at all of them), so tests that involve no secret cost
little; captured output, which a test's later reports repeat and the terminal prints
again, is masked once (`TextMemo`).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TextIO

import pytest

from .state import VaultState, get_state

if TYPE_CHECKING:
    from .masking import Masker
    from .vault import Vault


#: Key of a serialized report: the xdist worker that sent it had its vault open.
OPEN_ON_WORKER = "vault_open"
#: Report attribute: the id() of the report `mask_report` rewrote. A report copied from a
#: masked one (a subtest's) carries its original's id, and is masked again when logged.
_MASKED_AS = "_vault_masked_as"


def register_layers(config: pytest.Config, state: VaultState) -> None:
    """Register the masking layers now; they start masking when the vault opens.

    `plugin.py` calls this when the vault opens (at once on an xdist controller): before
    that there is nothing to mask. Registered late, the layers still get their
    `pytest_configure` (a historic hook: pluggy replays it), so the terminal net is
    installed then.
    """
    layers = MaskingLayers(config, state)
    config.pluginmanager.register(layers, "vault-masking")
    config.pluginmanager.register(CollectReportMasks(layers), "vault-masking-collect")
    if state.is_open:
        layers.vault_opened(state.vault())
    else:
        state.on_open.append(layers.vault_opened)


def register_junit_masks(config: pytest.Config) -> None:
    """Register the JUnit fixture overrides (`JunitRecordMasks`), before collection."""
    config.pluginmanager.register(JunitRecordMasks(), "vault-masking-junit")


def mask_value(value: Any, masker: Masker) -> Any:
    """Mask every string inside ``value`` (str, list, tuple, dict, dataclass, repr object).

    Lists, dicts and mutable objects are changed in place; strings, tuples and frozen
    dataclasses are returned as new objects, so always use the return value.
    """
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
        masked = {
            field.name: mask_value(getattr(value, field.name), masker)
            for field in dataclasses.fields(value)
        }
        params = getattr(value, "__dataclass_params__", None)
        if getattr(params, "frozen", False):
            # A copy, written past the frozen check: replace() would run __post_init__.
            value = copy.copy(value)
            for name, item in masked.items():
                object.__setattr__(value, name, item)
        else:
            for name, item in masked.items():
                setattr(value, name, item)
        return value
    if hasattr(value, "__dict__") and type(value).__module__.startswith("_pytest"):
        for name, item in vars(value).items():
            setattr(value, name, mask_value(item, masker))
        return value
    return value


#: Failure reprs whose every printed string `mask_value` reaches (pytest's exception reprs);
#: any other repr (doctest, plugins) is also checked as the text it prints.
_WALKED_REPRS = frozenset({"ExceptionChainRepr", "ReprExceptionInfo"})
#: Types of extra report attributes that hold a test's text (pytest's subtests).
_TEXT_ATTRIBUTE_TYPES = frozenset({"SubtestContext"})
#: Report attributes `mask_report` handles itself, or that hold no text of the test.
_REPORT_ATTRIBUTES = frozenset(
    {"longrepr", "sections", "_id", "nodeid", "location", "keywords", "user_properties",
     "outcome", "when", "duration", "start", "stop", "result", _MASKED_AS}
)  # fmt: skip
#: Texts this long are worth remembering once masked (`TextMemo`): captured output, which
#: every later report of the test repeats and the terminal prints again.
BIG_TEXT = 1024


def strings_in(value: Any, found: list[str]) -> list[str]:
    """Append to ``found`` every string `mask_value` would mask in ``value``; return it."""
    kind = type(value)
    if kind is str:
        found.append(value)
    elif kind is list or kind is tuple:
        for item in value:
            if type(item) is str:
                found.append(item)
            elif item is not None:
                strings_in(item, found)
    elif isinstance(value, str):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            strings_in(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            strings_in(item, found)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for name in _field_names(kind):
            strings_in(getattr(value, name), found)
    elif hasattr(value, "__dict__") and kind.__module__.startswith("_pytest"):
        for item in vars(value).values():
            strings_in(item, found)
    return found


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in dataclasses.fields(kind))
    return names


def holds_secret(value: Any, masker: Masker) -> bool:
    """Whether any string inside ``value`` holds a secret: one look at all of them."""
    if isinstance(value, str):
        return masker.contains_secret(value)
    return masker.contains_secret("\n".join(strings_in(value, [])))


class TextMemo:
    """Big texts already masked: a report's captured output is masked once, although the
    test's later reports carry it again and the terminal net sees it when printed."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._masked: dict[str, str] = {}  # raw text -> masked, the most recent ones
        #: Every masked big text, for the terminal net; only where there is one (not on
        #: xdist workers). The terminal reporter keeps the reports, and so these texts.
        self.remember_clean = False
        self._clean: set[str] = set()
        #: The small texts of the last report found clean: a test's three reports share
        #: them, so only its first is looked at.
        self.clean_small_texts = ""

    def mask(self, text: str, masker: Masker) -> str:
        if len(text) < BIG_TEXT:
            return masker.mask(text)
        if text in self._clean:
            return text
        masked = self._masked.get(text)
        if masked is None:
            # Not contains_secret() first: on a text without a secret it costs as much as
            # mask() (which then returns the text itself), on one with a secret it is extra.
            masked = masker.mask(text)
            if len(self._masked) >= self.size:
                del self._masked[next(iter(self._masked))]
            self._masked[text] = masked
            if self.remember_clean:
                self._clean.add(masked)
        return masked

    def is_clean(self, text: str) -> bool:
        """Whether ``text`` (or it with a newline, as the terminal prints sections) is a
        masked big text: masking it again would change nothing."""
        return len(text) >= BIG_TEXT and (text in self._clean or text + "\n" in self._clean)


def mask_report(
    report: pytest.TestReport | pytest.CollectReport,
    masker: Masker,
    memo: TextMemo | None = None,
) -> None:
    """Rewrite every text a report carries, in place.

    Costs one look at the report's texts when they hold no secret (the usual case); the
    captured output a test's reports share is masked once with a ``memo``.
    """
    mask_text = memo.mask if memo is not None else _mask_text
    if report.sections:
        report.sections = [(title, mask_text(text, masker)) for title, text in report.sections]
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        report.longrepr = mask_text(longrepr, masker)
    elif longrepr is not None:
        if holds_secret(longrepr, masker):
            report.longrepr = longrepr = mask_value(longrepr, masker)
        if (
            not isinstance(longrepr, tuple)
            and type(longrepr).__name__ not in _WALKED_REPRS
            and masker.contains_secret(report.longreprtext)
        ):
            report.longrepr = masker.mask(report.longreprtext)
    # The small texts, looked at all at once.
    attributes = vars(report)
    extra = {
        name: value
        for name in attributes.keys() - _REPORT_ATTRIBUTES  # usually none: a set operation
        if isinstance(value := attributes[name], str)
        or type(value).__name__ in _TEXT_ATTRIBUTE_TYPES
    }
    small = [report.nodeid, *(title for title, _ in report.sections)]
    if extra:
        strings_in(extra, small)
    if isinstance(report, pytest.TestReport):
        small.extend(report.keywords)
        path, _, domain = location = report.location
        if type(path) is str and type(domain) is str:
            small += (path, domain)
        else:
            strings_in(location, small)
        for name, value in report.user_properties:  # JUnit XML writes str() of each
            small.append(str(name))
            if _is_plain(value):
                strings_in(value, small)
            else:
                small.append(str(value))
    joined = "\n".join(small)
    if memo is not None and joined == memo.clean_small_texts:
        pass  # the same node id, location and keywords as the test's previous report
    elif masker.contains_secret(joined):
        _mask_small_texts(report, masker, extra)
    elif memo is not None:
        memo.clean_small_texts = joined
    setattr(report, _MASKED_AS, id(report))


def _mask_text(text: str, masker: Masker) -> str:
    return masker.mask(text)


def _mask_small_texts(
    report: pytest.TestReport | pytest.CollectReport, masker: Masker, extra: dict[str, Any]
) -> None:
    if masker.contains_secret(report.nodeid):
        report.nodeid = masker.mask(report.nodeid)
    report.sections = [(masker.mask(title), text) for title, text in report.sections]
    if isinstance(report, pytest.TestReport):
        report.location = mask_value(report.location, masker)
        # The item's name and parameter ids, raw: pytest keeps them for ``-k``.
        report.keywords = {masker.mask(name): value for name, value in report.keywords.items()}
        report.user_properties = [
            (masker.mask(str(name)), _mask_property(value, masker))
            for name, value in report.user_properties
        ]
    # ``wasxfail``, a subtest's message and parameters (``context``), plugins' strings.
    for name, value in extra.items():
        setattr(report, name, mask_value(value, masker))


def _is_plain(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, list, tuple, dict))


def _mask_property(value: object, masker: Masker) -> object:
    """A ``record_property`` value, masked; an object whose text holds a secret becomes
    that text, masked."""
    if _is_plain(value):
        return mask_value(value, masker)
    text = str(value)
    masked = masker.mask(text)
    return value if masked is text else masked


def was_masked(report: pytest.TestReport | pytest.CollectReport) -> bool:
    """Whether `mask_report` rewrote this very report (not a copy made of it since)."""
    return getattr(report, _MASKED_AS, None) == id(report)


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
        self._masker: Masker | None = None  # set by vault_opened: asked for on every report

    @property
    def masker(self) -> Masker | None:
        """The run's masker once the vault is open (None while it is closed or empty)."""
        return self._masker

    # -- when the vault opens --------------------------------------------------------------

    def vault_opened(self, vault: Vault) -> None:
        masker = self.state.masker
        if not masker:
            return
        self._masker = masker
        self._mask_log_handlers(masker)
        if not self.is_worker and os.environ.get("GITHUB_ACTIONS") == "true":
            # Output is captured while a fixture opens the vault: emit at the next report.
            self._github_pending = True

    def _mask_log_handlers(self, masker: Masker) -> None:
        plugin = self.config.pluginmanager.get_plugin("logging-plugin")
        if plugin is None:
            return
        # Not caplog's handler: tests must see their own records unchanged.
        for name in self.log_handlers:
            handler = getattr(plugin, name, None)
            if isinstance(handler, logging.Handler) and not isinstance(
                handler.format, _MaskedFormat
            ):
                handler.format = _MaskedFormat(handler.format, masker)  # type: ignore[method-assign]

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
            self._write_github_masks()

    def _write_github_masks(self) -> None:
        from .masking import github_add_mask_lines

        vault = self.state.vault()
        text = "".join(line + "\n" for line in github_add_mask_lines(dict(vault.items())))
        # Past the terminal net (which would mask the values), on the terminal's own stream,
        # and at the start of a line: the runner reads workflow commands only there.
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        writer: Any = getattr(reporter, "_tw", None)
        stream: Any = getattr(writer, "_file", None)
        if isinstance(stream, MaskingStream):
            stream = stream.unmasked
        if stream is None:
            stream = sys.__stdout__ or sys.stdout
        if writer is not None and writer.width_of_current_line:
            text = "\n" + text
        stream.write(text)
        stream.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        self.emit_github_masks()  # a vault opened after the last report (say, in a summary)

    # -- 1. reports ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        masker = self.masker
        if masker is not None:
            mask_report(report, masker, self.memo)
        return report

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
        self.emit_github_masks()
        # Reports made without pytest_runtest_makereport: a subtest's is a copy of one,
        # with the subtest's output and parameters added.
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
        if writer is not None and file is not None and not isinstance(file, MaskingStream):
            writer._file = MaskingStream(file, self.state, self.memo)
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


class JunitRecordMasks:
    """Overrides of the two JUnit fixtures that write into the XML file directly.

    ``record_xml_attribute`` and ``record_testsuite_property`` bypass the reports (unlike
    ``record_property``), so the values are masked before pytest's fixtures store them.
    Registered after pytest's own ``junitxml`` plugin, these definitions win and call it.
    (Class methods: pytest deprecates session-scoped fixtures that are instance methods.)
    """

    @staticmethod
    def masked(
        config: pytest.Config, record: Callable[[str, object], None]
    ) -> Callable[[str, object], None]:
        state = get_state(config)

        def masked_record(name: str, value: object) -> None:
            masker = state.masker
            if masker:
                name = masker.mask(name) if isinstance(name, str) else name
                value = masker.mask(value if isinstance(value, str) else str(value))
            record(name, value)

        return masked_record

    @pytest.fixture
    @classmethod
    def record_xml_attribute(
        cls, request: pytest.FixtureRequest, record_xml_attribute: Callable[[str, object], None]
    ) -> Callable[[str, object], None]:
        """pytest's ``record_xml_attribute``, with secret values masked."""
        return cls.masked(request.config, record_xml_attribute)

    @pytest.fixture(scope="session")
    @classmethod
    def record_testsuite_property(
        cls,
        request: pytest.FixtureRequest,
        record_testsuite_property: Callable[[str, object], None],
    ) -> Callable[[str, object], None]:
        """pytest's ``record_testsuite_property``, with secret values masked."""
        return cls.masked(request.config, record_testsuite_property)


def rename_item(item: pytest.Item, masker: Masker) -> None:
    """Mask an item's name and node id (pytest has no public way to rename a node)."""
    nodeid = masker.mask(item.nodeid)
    item.name = masker.mask(item.name)
    node_id = getattr(item, "_id", None)
    if node_id is not None and hasattr(node_id, "parse"):  # pytest >= 9.2: a NodeId
        item._id = type(node_id).parse(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined]
    # Computed from the name on first use; drop a value computed before the renaming.
    item.__dict__.pop("location", None)


class _MaskedFormat:
    """A handler's ``format`` that masks what the original formatter produced."""

    def __init__(self, original: Any, masker: Masker) -> None:
        self.original = original
        self.masker = masker

    def __call__(self, record: logging.LogRecord) -> str:
        return self.masker.mask(self.original(record))


class MaskingStream:
    """Wraps the terminal writer's file: the last net for text printed directly."""

    #: Short texts seen (source lines, separators) and what they mask to; emptied when full.
    CACHE_TEXT = 200
    CACHE_SIZE = 4096

    def __init__(self, stream: TextIO, state: VaultState, memo: TextMemo | None = None) -> None:
        self._stream = stream
        self._state = state
        self._memo = memo
        self._cache: dict[str, str] = {}

    @property
    def unmasked(self) -> TextIO:
        """The stream this one writes to."""
        return self._stream

    def write(self, text: str) -> int:
        masker = self._state.masker
        if not masker:
            return self._stream.write(text)
        if len(text) <= self.CACHE_TEXT:
            masked = self._cache.get(text)
            if masked is None:
                if len(self._cache) >= self.CACHE_SIZE:
                    self._cache.clear()
                masked = self._cache[text] = masker.mask(text)
            return self._stream.write(masked)
        if self._memo is None or not self._memo.is_clean(text):
            text = masker.mask(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
