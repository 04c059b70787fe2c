"""Unit tests of `pytest_vault.reportmask`: masking pytest's report and repr objects.

The reprs are made the way pytest makes them (``ExceptionInfo.getrepr`` of real exceptions,
``TestReport.from_item_and_call`` of real items) or constructed directly where pytest only
makes them deep inside a run (doctest, collection errors, subtests). The end-to-end view is
``test_leaks.py``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any

import pytest
from _pytest._code.code import (
    ExceptionChainRepr,
    ExceptionInfo,
    ReprExceptionInfo,
    ReprFileLocation,
    TerminalRepr,
)
from _pytest._io import TerminalWriter
from _pytest.doctest import ReprFailDoctest
from _pytest.reports import CollectErrorRepr
from _pytest.subtests import SubtestContext, SubtestReport

from pytest_vault.masking import Masker
from pytest_vault.reportmask import (
    MaskingStream,
    _MaskedFormat,
    mask_report,
    mask_value,
    rename_item,
    was_masked,
)

TOKEN = "tok_Vq3Lx8Rm2Zp7Wk4Nj9Hb6Ct1Fy5Gd0Se3Ua8Io2Pl7Kx4Mz9Qw6Er1T"
PEM = "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNq8Zr5Tw2\n-----END TEST KEY-----"
WEIRD = "wQ\"rd's\\C:\\p@th\n2nd-Zeile-\u00fc\u20ac"
SECRETS = {"TOKEN": TOKEN, "PEM": PEM, "WEIRD": WEIRD, "SIX": "Zq9#Wx", "TWO": "Q7"}


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker(SECRETS)


#: PEM armour carries nothing secret: masking leaves it (issue 12's precision rule).
ARMOUR = ("-----BEGIN TEST KEY-----", "-----END TEST KEY-----")


def assert_clean(text: str) -> None:
    """No value, no line of one, no 10-character run of one (nor of its repr) in ``text``,
    except runs of PEM armour."""
    for name, value in SECRETS.items():
        if len(value) < 4:
            continue
        for form in (value, repr(value)[1:-1], *value.splitlines()):
            if len(form) < 10:
                assert form not in text, name
            for at in range(len(form) - 9):
                window = form[at : at + 10]
                if any(window in armour + shown for armour in ARMOUR for shown in ("\n", "\\n")):
                    continue
                if any(window in shown + armour for armour in ARMOUR for shown in ("\n", "\\n")):
                    continue
                assert window not in text, name


def render(repr_: Any) -> str:
    """What the terminal shows of a repr object."""
    out = io.StringIO()
    writer = TerminalWriter(out)
    writer.hasmarkup = False
    repr_.toterminal(writer)
    return out.getvalue()


def failing(*names: str) -> None:
    token = SECRETS["TOKEN"]  # a local: shown with showlocals
    raise RuntimeError("failed with " + " and ".join(SECRETS[name] for name in names) + token[:0])


# -- repr trees from real exceptions -------------------------------------------------------------


@pytest.mark.parametrize("style", ["long", "short", "line", "native", "value", "auto"])
def test_an_exception_repr_tree_is_masked_in_place(masker: Masker, style: str) -> None:
    with pytest.raises(RuntimeError) as excinfo:
        failing("WEIRD", "PEM")
    repr_ = excinfo.getrepr(style=style, showlocals=True, funcargs=True)  # type: ignore[arg-type]
    assert WEIRD.splitlines()[0] in render(repr_)
    assert mask_value(repr_, masker) is repr_
    text = render(repr_)
    assert_clean(text)
    assert "<vault:WEIRD>" in text or style == "line"
    assert isinstance(repr_, ExceptionChainRepr | ReprExceptionInfo)  # native: the latter
    assert repr_.reprcrash is not None
    assert repr_.reprcrash.message == "RuntimeError: failed with <vault:WEIRD> and <vault:PEM>"


def test_a_chain_of_exceptions_is_masked_link_by_link(masker: Masker) -> None:
    def chained() -> None:
        try:
            raise KeyError(PEM)
        except KeyError as exc:
            error = ValueError("wrapped " + TOKEN)
            error.add_note("note " + SECRETS["SIX"])
            raise error from exc

    with pytest.raises(ValueError) as excinfo:
        chained()
    repr_ = excinfo.getrepr(chain=True, showlocals=True)
    assert isinstance(repr_, ExceptionChainRepr)
    assert len(repr_.chain) == 2
    mask_value(repr_, masker)
    text = render(repr_)
    assert_clean(text)
    assert "ValueError: wrapped <vault:TOKEN>" in text
    assert "note <vault:SIX>" in text
    assert "KeyError: '<vault:PEM>'" in text
    assert "The above exception was the direct cause" in text  # the chain's descriptions kept


def test_a_repr_without_a_chain(masker: Masker) -> None:
    with pytest.raises(RuntimeError) as excinfo:
        failing("TOKEN")
    info: ExceptionInfo[BaseException] = excinfo  # type: ignore[assignment]
    reprtraceback = info.getrepr(style="short").reprtraceback  # type: ignore[union-attr]
    repr_ = ReprExceptionInfo(
        reprtraceback=reprtraceback,
        reprcrash=ReprFileLocation("test_x.py", 3, "RuntimeError: failed with " + TOKEN),
    )
    mask_value(repr_, masker)
    assert repr_.reprcrash is not None
    assert repr_.reprcrash.message == "RuntimeError: failed with <vault:TOKEN>"
    assert_clean(render(repr_))


def test_an_exception_group_is_masked(masker: Masker) -> None:
    with pytest.raises(ExceptionGroup) as excinfo:
        raise ExceptionGroup("group " + SECRETS["SIX"], [ValueError(TOKEN), TypeError(WEIRD)])
    repr_ = excinfo.getrepr()
    mask_value(repr_, masker)
    text = render(repr_)
    assert_clean(text)
    assert "group <vault:SIX>" in text


# -- reports -------------------------------------------------------------------------------------


def report_of(pytester: pytest.Pytester, source: str, when: str = "call") -> pytest.TestReport:
    """The report pytest makes of running ``source``'s test (not logged anywhere)."""
    item = pytester.getitem(source)
    item.ihook.pytest_runtest_setup(item=item)
    call = pytest.CallInfo.from_call(lambda: item.ihook.pytest_runtest_call(item=item), when="call")
    report = pytest.TestReport.from_item_and_call(item, call)
    item.ihook.pytest_runtest_teardown(item=item, nextitem=None)
    return report


def test_a_failing_test_report_is_masked(pytester: pytest.Pytester, masker: Masker) -> None:
    report = report_of(
        pytester,
        f"""
        def test_func(record_property):
            token = {TOKEN!r}
            record_property("token", token)
            record_property("name " + {SECRETS["SIX"]!r}, [{PEM!r}])
            print("printed", token)
            assert token == {TOKEN[:-1] + "#"!r}
        """,
    )
    report.sections.append(("Captured stderr call", "written " + WEIRD + "\n"))
    assert report.failed
    mask_report(report, masker)
    assert_clean(report.longreprtext)
    assert "<vault:TOKEN>" in report.longreprtext
    assert report.sections[-1] == ("Captured stderr call", "written <vault:WEIRD>\n")
    assert all(text.count("<vault:") for _, text in report.sections)
    assert_clean(repr(report.sections))
    assert report.user_properties == [
        ("token", "<vault:TOKEN>"),
        ("name <vault:SIX>", ["<vault:PEM>"]),
    ]
    assert was_masked(report)


def test_node_id_location_keywords_and_extra_attributes(masker: Masker) -> None:
    report = pytest.TestReport(
        nodeid=f"test_x.py::test_ids[{TOKEN}]",
        location=("test_x.py", 3, f"test_ids[{TOKEN}]"),
        keywords={f"test_ids[{TOKEN}]": 1, TOKEN: 1, "test_x.py": 1},
        outcome="skipped",
        longrepr=("test_x.py", 4, "Skipped: because " + PEM),
        when="call",
        wasxfail="reason: " + WEIRD,
        url="https://example.invalid/?t=" + TOKEN,
    )
    mask_report(report, masker)
    assert report.nodeid == "test_x.py::test_ids[<vault:TOKEN>]"
    assert report.location == ("test_x.py", 3, "test_ids[<vault:TOKEN>]")
    assert report.keywords == {"test_ids[<vault:TOKEN>]": 1, "<vault:TOKEN>": 1, "test_x.py": 1}
    assert report.longrepr == ("test_x.py", 4, "Skipped: because <vault:PEM>")
    assert report.wasxfail == "reason: <vault:WEIRD>"
    assert report.url == "https://example.invalid/?t=<vault:TOKEN>"


def test_a_property_object_whose_text_holds_a_secret_becomes_that_text(masker: Masker) -> None:
    class Settings:
        def __str__(self) -> str:
            return "Settings(token=" + TOKEN + ")"

    harmless = object()
    report = pytest.TestReport(
        "test_x.py::test_it", ("test_x.py", 1, "test_it"), {}, "passed", None, "call",
        user_properties=[("settings", Settings()), ("other", harmless), ("n", 3)],
    )  # fmt: skip
    mask_report(report, masker)
    assert report.user_properties == [
        ("settings", "Settings(token=<vault:TOKEN>)"),
        ("other", harmless),
        ("n", 3),
    ]


def test_values_too_short_and_empty_ones_change_nothing() -> None:
    masker = Masker({"TWO": "Q7", "EMPTY": "", "TOKEN": TOKEN})
    report = pytest.TestReport(
        "test_x.py::test_it", ("test_x.py", 1, "test_it"), {}, "failed",
        "E   assert 'Q7' == ''", "call", sections=[("Captured stdout call", "Q7 []\n")],
    )  # fmt: skip
    mask_report(report, masker)
    assert report.longrepr == "E   assert 'Q7' == ''"
    assert report.sections == [("Captured stdout call", "Q7 []\n")]


def test_a_collection_error_repr(masker: Masker) -> None:
    report = pytest.CollectReport(
        "test_x.py", "failed", CollectErrorRepr("ImportError: cannot import " + WEIRD), []
    )
    mask_report(report, masker)
    assert_clean(report.longreprtext)
    assert "<vault:WEIRD>" in report.longreprtext


def test_a_doctest_repr(masker: Masker) -> None:
    location = ReprFileLocation("docmod.py", 4, "UnexpectedException")
    repr_ = ReprFailDoctest([(location, [">>> print(VALUES['TOKEN'])", "Expected:", TOKEN])])
    report = pytest.TestReport(
        "docmod.py::docmod", ("docmod.py", 0, "[doctest] docmod"), {}, "failed", repr_, "call"
    )
    mask_report(report, masker)
    assert_clean(report.longreprtext)
    assert "<vault:TOKEN>" in report.longreprtext


def test_an_unknown_repr_is_checked_as_the_text_it_prints(masker: Masker) -> None:
    class PluginRepr(TerminalRepr):
        """A third-party repr that keeps its text where masking cannot see it."""

        def __init__(self) -> None:
            self._parts = (TOKEN[:30], TOKEN[30:])

        def toterminal(self, tw: TerminalWriter) -> None:
            tw.line("plugin says " + "".join(self._parts))

    report = pytest.TestReport(
        "test_x.py::test_it", ("test_x.py", 1, "test_it"), {}, "failed", PluginRepr(), "call"
    )
    mask_report(report, masker)
    assert report.longrepr == "plugin says <vault:TOKEN>"


def test_a_subtest_report_copied_from_a_masked_one_is_masked_again(masker: Masker) -> None:
    original = pytest.TestReport(
        "test_x.py::test_it", ("test_x.py", 1, "test_it"), {}, "failed", "E  assert 0", "call"
    )
    mask_report(original, masker)
    assert was_masked(original)
    # What pytest's subtests do: a copy of the test's report, plus the subtest's own text.
    context = SubtestContext(msg="sub " + TOKEN, kwargs={"value": WEIRD})
    copied = SubtestReport._new(original, context, captured_output=None, captured_logs=None)
    copied.sections.append(("Captured stdout call", "in a subtest " + PEM))
    assert not was_masked(copied)
    mask_report(copied, masker)
    assert copied.context.msg == "sub <vault:TOKEN>"
    assert copied.context.kwargs == {"value": "'<vault:WEIRD>'"}  # saferepr'd by pytest
    assert context.msg == "sub " + TOKEN  # a copy was masked: the dataclass is frozen
    assert copied.sections == [("Captured stdout call", "in a subtest <vault:PEM>")]
    assert was_masked(copied)


def test_mask_value_containers_and_frozen_dataclasses(masker: Masker) -> None:
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        text: str
        items: list[str]

    listed = ["a " + TOKEN, ("b", PEM)]
    assert mask_value(listed, masker) is listed
    assert listed == ["a <vault:TOKEN>", ("b", "<vault:PEM>")]
    mapping = {"k": TOKEN, "n": 3}
    assert mask_value(mapping, masker) == {"k": "<vault:TOKEN>", "n": 3}
    original = Frozen(TOKEN, [PEM])
    masked = mask_value(original, masker)
    assert masked == Frozen("<vault:TOKEN>", ["<vault:PEM>"])
    assert original.text == TOKEN
    assert mask_value(42, masker) == 42
    assert mask_value(None, masker) is None


def test_an_internal_error_repr(masker: Masker) -> None:
    with pytest.raises(RuntimeError) as excinfo:
        raise RuntimeError("the plugin crashed on " + PEM)
    excrepr = excinfo.getrepr(style="short")
    mask_value(excrepr, masker)
    assert_clean(str(excrepr))
    # Each line of the message is written apart: the key's line is masked, its armour stays.
    assert "the plugin crashed on -----BEGIN TEST KEY-----\nE   <vault:PEM>\n" in str(excrepr)


# -- items, log formatting, the terminal net ------------------------------------------------------


def test_rename_item_masks_the_name_and_node_id(pytester: pytest.Pytester, masker: Masker) -> None:
    items = pytester.getitems(
        f"""
        import pytest

        @pytest.mark.parametrize("x", [1], ids=[{TOKEN!r}])
        def test_ids(x):
            pass
        """
    )
    (item,) = items
    assert TOKEN in item.nodeid
    rename_item(item, masker)
    assert item.nodeid.endswith("::test_ids[<vault:TOKEN>]")
    assert item.name == "test_ids[<vault:TOKEN>]"
    assert item.location[2] == "test_ids[<vault:TOKEN>]"


def test_log_formatting_is_masked_but_the_record_is_not(masker: Masker) -> None:
    record = logging.LogRecord("app", logging.WARNING, "x.py", 1, "token %s", (TOKEN,), None)
    formatter = logging.Formatter("%(levelname)s %(message)s")
    masked_format = _MaskedFormat(formatter.format, masker)
    assert masked_format(record) == "WARNING token <vault:TOKEN>"
    assert record.getMessage() == "token " + TOKEN  # caplog sees the real record


class _State:
    """The part of `VaultState` the terminal net reads."""

    masker: Masker | None = None


def test_the_terminal_net_masks_each_write_once_the_vault_is_open(masker: Masker) -> None:
    out = io.StringIO()
    state = _State()
    stream = MaskingStream(out, state)  # type: ignore[arg-type]
    stream.write("before the vault opened: " + SECRETS["SIX"] + "\n")
    state.masker = masker
    stream.write("summary: " + TOKEN + "\n")
    assert out.getvalue() == "before the vault opened: Zq9#Wx\nsummary: <vault:TOKEN>\n"
    assert stream.unmasked is out
    assert stream.getvalue() == out.getvalue()  # everything else is the wrapped stream's
