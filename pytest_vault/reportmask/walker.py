"""One walker over every string a report carries, in a "find" and a "replace" mode.

`walk` visits every string inside a value (str, list, tuple, dict, dataclass, pytest's
repr objects) and puts back what the visitor returns, rebuilding a container only when
something in it changed. Finding is walking with a visitor that collects and returns each
string unchanged; masking is walking with `Masker.mask`. The check "does this report hold
a secret?" and the rewrite therefore visit exactly the same strings: they cannot disagree.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_vault.masking import Masker

Visit = Callable[[str], str]

#: Report attribute: the id() of the report `mask_report` rewrote. A report copied from a
#: masked one (a subtest's) carries its original's id, and is masked again when logged.
_MASKED_AS = "_vault_masked_as"
#: Failure reprs whose every printed string `walk` reaches (pytest's exception reprs);
#: any other repr (doctest, plugins) is also checked as the text it prints.
_WALKED_REPRS = frozenset({"ExceptionChainRepr", "ReprExceptionInfo"})
#: Types of extra report attributes that hold a test's text (pytest's subtests).
_TEXT_ATTRIBUTE_TYPES = frozenset({"SubtestContext"})
#: Extra report attributes walked whatever they hold: strings and plain containers.
_PLAIN = (str, list, tuple, dict)
#: Extra report attributes that are lists of pytest-html extras (dicts).
_EXTRAS = frozenset({"extras", "extra"})
#: pytest-html extras whose content is binary (base64), not text.
_BINARY_EXTRAS = frozenset({"image", "video"})
#: Report attributes `mask_report` handles itself, or that hold no text of the test.
_REPORT_ATTRIBUTES = frozenset(
    {"longrepr", "sections", "_id", "nodeid", "location", "keywords", "user_properties",
     "outcome", "when", "duration", "start", "stop", "result", _MASKED_AS}
)  # fmt: skip
#: Texts this long are worth remembering once masked (`TextMemo`): captured output, which
#: every later report of the test repeats and the terminal prints again.
BIG_TEXT = 1024

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in dataclasses.fields(kind))
    return names


def walk(value: Any, visit: Visit) -> Any:
    """``value`` with every string inside it replaced by ``visit(string)``.

    Lists, dicts and mutable objects are changed in place; strings, tuples and frozen
    dataclasses are returned as new objects, so always use the return value. Nothing is
    rebuilt or assigned where ``visit`` returned its argument itself.
    """
    kind = type(value)
    if kind is str:
        return visit(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        items = [visit(item) if type(item) is str else walk(item, visit) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            value[:] = items
            return value
        return kind(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, str):
        return visit(value)
    if isinstance(value, dict):
        for name, item in list(value.items()):
            new = walk(item, visit)
            if new is not item:
                value[name] = new
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = {
            name: new
            for name in _field_names(kind)
            if (new := walk(old := getattr(value, name), visit)) is not old
        }
        if not changed:
            return value
        params = getattr(value, "__dataclass_params__", None)
        if getattr(params, "frozen", False):
            # A copy, written past the frozen check: replace() would run __post_init__.
            value = copy.copy(value)
            for name, item in changed.items():
                object.__setattr__(value, name, item)
        else:
            for name, item in changed.items():
                setattr(value, name, item)
        return value
    if hasattr(value, "__dict__") and kind.__module__.startswith("_pytest"):
        for name, item in list(vars(value).items()):
            new = walk(item, visit)
            if new is not item:
                setattr(value, name, new)
    return value


def mask_value(value: Any, masker: Masker) -> Any:
    """`walk` in "replace" mode: every string inside ``value``, masked."""
    return walk(value, masker.mask)


def strings_in(value: Any, found: list[str]) -> list[str]:
    """`walk` in "find" mode: append every string inside ``value`` to ``found``."""

    def collect(text: str) -> str:
        found.append(text)
        return text

    walk(value, collect)
    return found


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

    The big texts (captured output, a text ``longrepr``) are masked at once, through the
    ``memo`` that a test's reports share. Everything else is found by `walk_report` and,
    only when the joined texts hold a secret, rewritten by it: one look at the report's
    texts in the usual case.
    """
    if report.sections:
        mask_big = memo.mask if memo is not None else _mask_text
        report.sections = [(title, mask_big(text, masker)) for title, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = (memo.mask if memo is not None else _mask_text)(report.longrepr, masker)
    found: list[str] = []

    def collect(text: str) -> str:
        found.append(text)
        return text

    walk_report(report, collect)
    joined = "\n".join(found)
    if memo is not None and joined == memo.clean_small_texts:
        pass  # the same node id, location and keywords as the test's previous report
    elif masker.contains_secret(joined):
        walk_report(report, masker.mask)
    elif memo is not None:
        memo.clean_small_texts = joined
    longrepr = report.longrepr
    if (
        longrepr is not None
        and not isinstance(longrepr, (str, tuple))
        and type(longrepr).__name__ not in _WALKED_REPRS
        and masker.contains_secret(report.longreprtext)
    ):
        report.longrepr = masker.mask(report.longreprtext)
    setattr(report, _MASKED_AS, id(report))


def _mask_text(text: str, masker: Masker) -> str:
    return masker.mask(text)


def walk_report(report: pytest.TestReport | pytest.CollectReport, visit: Visit) -> None:
    """`walk` over a report's texts other than its big ones (see `mask_report`)."""
    nodeid = visit(report.nodeid)
    if nodeid is not report.nodeid:
        report.nodeid = nodeid
    titles = [visit(title) for title, _ in report.sections]
    if any(new is not old for new, (old, _) in zip(titles, report.sections, strict=True)):
        report.sections = [
            (title, text) for title, (_, text) in zip(titles, report.sections, strict=True)
        ]
    longrepr = report.longrepr
    if longrepr is not None and not isinstance(longrepr, str):
        new = walk(longrepr, visit)
        if new is not longrepr:
            report.longrepr = new
    # ``wasxfail``, a subtest's message and parameters (``context``), pytest-html's extras,
    # plugins' strings: found by a set difference, usually empty.
    attributes = vars(report)
    for name in attributes.keys() - _REPORT_ATTRIBUTES:
        value = attributes[name]
        if name in _EXTRAS and isinstance(value, list):
            new = _walk_extras(value, visit)
        elif isinstance(value, _PLAIN) or type(value).__name__ in _TEXT_ATTRIBUTE_TYPES:
            new = walk(value, visit)  # e.g. pytest-json-report's captured output (a dict)
        else:
            continue
        if new is not value:
            setattr(report, name, new)
    if isinstance(report, pytest.TestReport):
        _walk_test_report(report, visit)


def _walk_test_report(report: pytest.TestReport, visit: Visit) -> None:
    # The item's name and parameter ids, raw: pytest keeps them for ``-k``.
    keywords = report.keywords
    names = [visit(name) for name in keywords]
    if any(new is not old for new, old in zip(names, keywords, strict=True)):
        report.keywords = dict(zip(names, keywords.values(), strict=True))
    location = walk(report.location, visit)
    if location is not report.location:
        report.location = location
    properties = report.user_properties
    masked = [
        (_walk_property(name, visit), _walk_property(value, visit)) for name, value in properties
    ]
    if any(
        new_name is not name or new_value is not value
        for (new_name, new_value), (name, value) in zip(masked, properties, strict=True)
    ):
        report.user_properties = masked  # type: ignore[assignment] # a name may be any object


def _walk_property(value: object, visit: Visit) -> object:
    """A ``record_property`` value (JUnit XML writes its ``str()``): plain values are walked;
    an object whose text holds a secret becomes that text, masked."""
    if value is None or isinstance(value, (str, int, float, list, tuple, dict)):
        return walk(value, visit)
    text = str(value)
    masked = visit(text)
    return value if masked is text else masked


def _walk_extras(extras: list[Any], visit: Visit) -> list[Any]:
    """pytest-html's extras: the text of each, except binary (base64) content."""
    for extra in extras:
        if not isinstance(extra, dict):
            continue
        binary = extra.get("format_type") in _BINARY_EXTRAS
        for name, item in list(extra.items()):
            if binary and name == "content":
                continue
            new = walk(item, visit)
            if new is not item:
                extra[name] = new
    return extras


def was_masked(report: pytest.TestReport | pytest.CollectReport) -> bool:
    """Whether `mask_report` rewrote this very report (not a copy made of it since)."""
    return getattr(report, _MASKED_AS, None) == id(report)


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
