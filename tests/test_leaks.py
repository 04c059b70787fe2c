"""Issue 4's leak matrix: no secret of an unlocked vault escapes through any output channel.

A project written into a pytester folder puts its vault's secrets into every channel
pytest has (`CHANNELS`, the inner conftest, `DOCTEST`, ...): assertion diffs (``==``,
``in``, dicts, lists, truncated long strings, a near miss whose diff shows only the tail,
a near-miss literal in the source), locals (``-l``), raised messages, chained exceptions,
notes and exception groups, skip/xfail reasons, ``pytest.fail``, strict and lenient XPASS,
captured stdout/stderr of passing and failing tests, logging (captured, live, log file),
warnings (at import and in tests), ``record_property`` / ``record_xml_attribute`` /
``record_testsuite_property``, generated and explicit parametrize ids, fixture setup and
teardown errors, a collection error and a module skipped at import, doctests, subtests,
a line the conftest writes on the terminal, ``pytest.exit`` and an internal error.

`MATRIX` runs it under a pairwise-covering set of the flags that change output. After each
run, stdout, stderr and *every* file under the folder (JUnit XML, log file,
``.pytest_cache``, what a stand-in third-party reporter wrote, ...) are searched for each
secret: the literal value, its escaped forms (``repr``, ``ascii``, test-id escaping, JSON,
XML, bytes), each line of a multi-line value and every run of ``FRAGMENT_LENGTH``
consecutive characters of all of those; XML is also searched unescaped. A finding names the
secret, its form, the channel and the offset, never the value. Each run must also have had
the expected outcomes and show ``<vault:NAME>`` markers, so that a broken project cannot
make it pass vacuously.

`test_removing_a_layer_leaks` switches the layers of ``reportmask.py`` off (from the inner
conftest, through the registered plugins) and checks that the search then finds the leak
each layer exists to stop; layers that back each other up are switched off in pairs, and
`test_a_layer_backed_up_by_another_does_not_leak_alone` shows each of the pair works alone.

Every run is a ``runpytest_subprocess`` (``-p no:hypothesispytest`` only saves start-up).
"""

from __future__ import annotations

import html
import json
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Imported before any pytester snapshot of sys.modules (see test_plugin.py).
import pytest_vault.vault  # noqa: F401
from pytest_vault.key import KEY_PREFIX, VaultKey
from pytest_vault.masking import FRAGMENT_LENGTH, MIN_MASKED_LENGTH, github_add_mask_lines
from pytest_vault.vault import create_vault, set_secrets

VaultKey.generate().cipher_for("v_" + "0" * 32)  # loads every cryptography module used


def _big_secret() -> str:
    """A 6,000-character PEM-like value: beyond the engine's full-forms limit (sparse index)."""
    rng = random.Random(20261126)
    alphabet = string.ascii_letters + string.digits + "+/"
    body = "".join(rng.choice(alphabet) for _ in range(6000))
    lines = [body[at : at + 64] for at in range(0, len(body), 64)]
    return "-----BEGIN BIG TEST CERT-----\n" + "\n".join(lines) + "\n-----END BIG TEST CERT-----"


SECRETS: dict[str, str] = {
    # A plain token, long enough that pytest truncates its repr in diffs and locals.
    "TOKEN": "tok_Vq3Lx8Rm2Zp7Wk4Nj9Hb6Ct1Fy5Gd0Se3Ua8Io2Pl7Kx4Mz9Qw6Er1T",
    "PEM": (
        "-----BEGIN TEST KEY-----\n"
        "MIIBOgIBAAJBAKj34GkxFhD90vcNq8Zr5Tw2\n"
        "Lx7Pn3Vb6Hd1Ks9Gm4JcYt8Ru0Ea3Wo5\n"
        "-----END TEST KEY-----"
    ),
    # Both quote kinds, backslashes, a newline, non-ASCII and an astral character: repr(),
    # ascii(), JSON and test-id escaping all write it differently.
    "WEIRD": "wQ\"rd's\\C:\\p@th\n2nd-Zeile-\u00fc\u20ac\u03a9-\U0001f511-ende",
    # Overlapping: the longer one must win, or "-tail" is left behind.
    "OVERLAP_SHORT": "ovl_Hq2Wm9Xk4Rz7Jd",
    "OVERLAP_LONG": "ovl_Hq2Wm9Xk4Rz7Jd-tail",
    "SIX": "Zq9#Wx",  # shorter than FRAGMENT_LENGTH: masked whole only
    "TWO": "Q7",  # shorter than MIN_MASKED_LENGTH: not masked (the contract)
    "EMPTY": "",  # must not corrupt the output
    "BIG": _big_secret(),
}
#: Secrets that must never appear (in any form).
MASKED = {name: value for name, value in SECRETS.items() if len(value) >= MIN_MASKED_LENGTH}
#: The vault's key, and another key listed beside it in the key variable: masked too.
KEY = VaultKey.generate()
OTHER_KEY = VaultKey.generate()
#: What must never appear of the keys (their common prefix may: it names no key).
KEYS = {"KEY": KEY.text()[len(KEY_PREFIX) :], "OTHER_KEY": OTHER_KEY.text()[len(KEY_PREFIX) :]}
#: What the longer of two overlapping secrets adds: never left behind on its own.
TAIL = "-tail"
FAST = ("-p", "no:hypothesispytest")
KEEP_GOING = ("--continue-on-collection-errors",)


# -- the project under test --------------------------------------------------------------------

VALUES_MODULE = '''
"""The vault's values, filled in by conftest.py once the vault is open (for import-time use)."""
VALUES = {}
'''

CONFTEST = '''
import json
import logging
import os
import sys
import threading
import tracemalloc  # noqa: F401 - imported by pytest while collecting garbage otherwise

import pytest

import _vaultvalues
from pytest_vault.state import get_state


def _open(config):
    vault = get_state(config).vault()
    _vaultvalues.VALUES.update(vault.items())
    return _vaultvalues.VALUES


def pytest_sessionstart(session):
    # Opened before the test modules are imported: the collection error and the
    # import-time warning below need the values. Printed outside any test. Not on an
    # xdist controller: it opens its vault when its workers' reports say theirs is open.
    config = session.config
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    values = _open(config)
    print("session start: " + values["TOKEN"])


class Unraisable:
    """Raises in __del__ when the garbage collector finds it, at the end of the session."""

    def __del__(self):
        raise RuntimeError("unraisable: " + _vaultvalues.VALUES["OVERLAP_LONG"])


def _thread_fails():
    raise ValueError("in a thread: " + _vaultvalues.VALUES["PEM"])


def pytest_sessionfinish(session):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    values = _open(config)
    print("session end: " + values["WEIRD"])
    sys.stderr.write("session end on stderr: " + values["TOKEN"] + "\\n")
    cycle = Unraisable()
    cycle.itself = cycle  # collected late, by pytest's unraisable-exception plugin
    del cycle
    thread = threading.Thread(target=_thread_fails)
    thread.start()
    thread.join()
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set("leaks/values", {"token": values["TOKEN"], "list": [values["PEM"]]})
    # A file the run writes that no known plugin writes: named in a warning, never masked.
    dumps = os.path.join(str(config.rootpath), "dumps")
    os.makedirs(dumps, exist_ok=True)
    with open(os.path.join(dumps, "secret.txt"), "w", encoding="utf-8") as file:
        file.write("dumped " + values["TOKEN"])
    if os.environ.get("LEAKS_TRIGGER") == "exit-at-end":
        pytest.exit("stopped at the end: " + values["SIX"])


def pytest_vault_key(config):
    # The key from a file the test wrote (debug runs: the trace shows what hooks return).
    path = os.environ.get("LEAKS_KEY_FILE")
    if path:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # pytest-html's extras, as its documentation shows them being added.
    report = yield
    if call.when == "call" and item.name == "test_eq":
        from pytest_html import extras

        values = _vaultvalues.VALUES
        report.extras = [
            extras.text("text extra " + values["TOKEN"], name="token"),
            extras.json({"pem": values["PEM"]}),
            extras.url("https://example.com/?token=" + values["TOKEN"]),
        ]
    return report


def pytest_generate_tests(metafunc):
    values = get_state(metafunc.config).vault()
    if "generated" in metafunc.fixturenames:
        metafunc.parametrize(
            "generated",
            [values[name] for name in ("TOKEN", "PEM", "WEIRD", "SIX", "OVERLAP_LONG")],
        )
    if "explicit" in metafunc.fixturenames:
        metafunc.parametrize(
            "explicit", [1, 2, 3], ids=[values["TOKEN"], values["WEIRD"], values["SIX"]]
        )


@pytest.fixture
def broken_setup(vault):
    raise RuntimeError("setup failed with " + vault["TOKEN"])


@pytest.fixture
def broken_teardown(vault):
    yield vault
    raise RuntimeError("teardown failed with " + vault["PEM"])


def pytest_runtest_setup(item):
    if os.environ.get("LEAKS_TRIGGER") == "exit" and item.name == "test_eq_near_miss":
        pytest.exit("stopped by the plugin: " + _vaultvalues.VALUES["TOKEN"])


def pytest_runtest_logfinish(nodeid):
    if os.environ.get("LEAKS_TRIGGER") == "internal-error" and nodeid.endswith("::test_contract"):
        raise RuntimeError("the plugin crashed on " + _vaultvalues.VALUES["PEM"])


def pytest_terminal_summary(terminalreporter):
    # Printed straight to the terminal: only the terminal net masks this.
    values = _open(terminalreporter.config)
    terminalreporter.write_line("summary: " + values["OVERLAP_LONG"] + " and " + values["SIX"])
    terminalreporter.write_line("key: " + get_state(terminalreporter.config).found_key().key.text())


class Observer:
    """Stands in for a third-party reporter (HTML, report-log, a dashboard): writes down
    every report, warning and test location that pytest hands to plugins."""

    def __init__(self, config):
        self.config = config
        name = getattr(config, "workerinput", {}).get("workerid", "main")
        self.path = os.path.join(str(config.rootpath), "observed", name + ".jsonl")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def _write(self, kind, data):
        with open(self.path, "a", encoding="utf-8") as file:
            data = {"kind": kind, "data": data}
            file.write(json.dumps(data, ensure_ascii=False, default=repr) + "\\n")

    def _report(self, kind, report):
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        self._write(kind, data)

    def pytest_runtest_logreport(self, report):
        self._report("test", report)

    def pytest_collectreport(self, report):
        self._report("collect", report)

    def pytest_runtest_logstart(self, nodeid, location):
        self._write("logstart", [nodeid, list(location)])

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        self._write("warning", [str(warning_message.message), when, nodeid])

    def pytest_collection_finish(self, session):
        self._write("items", [[item.nodeid, list(item.location)] for item in session.items])


def pytest_configure(config):
    config.pluginmanager.register(Observer(config), "leak-observer")


# -- switching one masking layer off (test_removing_a_layer_leaks) -----------------------

LAYER_HOOKS = {  # layer -> (plugin name, its hooks)
    "test-reports": ("vault-masking", ["pytest_runtest_logreport"]),
    "collect-reports": ("vault-masking-collect", ["pytest_make_collect_report"]),
    "controller-reports": ("vault-masking", ["pytest_report_from_serializable"]),
    "open-flag": ("vault-masking", ["pytest_report_to_serializable"]),
    "warnings": ("vault-masking", ["pytest_warning_recorded"]),
    "generated-ids": ("vault-masking", ["pytest_make_parametrize_id"]),
    "node-ids": ("vault-masking", ["pytest_make_collect_report"]),
    "internal-errors": ("vault-masking", ["pytest_internalerror"]),
}


class NoMasker:
    masker = None


_switched = []


def pytest_plugin_registered(plugin, plugin_name, manager):
    """Switch off the layers named in LEAKS_DISABLE_LAYER (comma-separated; a "worker-"
    prefix: on xdist workers only) as soon as pytest-vault registers them: at start-up
    under xdist, else when the vault opens. The file layer comes last."""
    if plugin_name != "vault-masking-files" or _switched:
        return
    _switched.append(plugin)
    config = plugin.config
    for layer in filter(None, os.environ.get("LEAKS_DISABLE_LAYER", "").split(",")):
        if layer.startswith("worker-"):
            if not hasattr(config, "workerinput"):
                continue
            layer = layer[len("worker-"):]
        disable(config, layer)


def disable(config, layer):
    layers = config.pluginmanager.get_plugin("vault-masking")
    assert layers is not None, "the masking plugin is not registered"
    if layer in LAYER_HOOKS:
        name, hooks = LAYER_HOOKS[layer]
        plugin = config.pluginmanager.get_plugin(name)
        config.pluginmanager.unregister(plugin)
        for hook in hooks:
            assert callable(getattr(plugin, hook)), hook
            setattr(plugin, hook, None)  # pluggy registers routines only
        config.pluginmanager.register(plugin, name)
    elif layer.startswith("log-"):
        handler = layer[len("log-"):].replace("-", "_") + "_handler"
        assert handler in layers.log_handlers, handler
        layers.log_handlers = tuple(name for name in layers.log_handlers if name != handler)
    elif layer == "terminal":
        writer = config.pluginmanager.get_plugin("terminalreporter")._tw
        writer._file = writer._file._stream
    elif layer == "junit-fixtures":
        junit = config.pluginmanager.get_plugin("vault-masking-junit")
        type(junit).masked = staticmethod(lambda config, record: record)
    elif layer == "github":
        layers.emit_github_masks = lambda: None
    elif layer == "files":
        files = config.pluginmanager.get_plugin("vault-masking-files")
        files.opened = lambda vault, masker: None
        files.sweep = lambda **kwargs: None
    elif layer == "std-streams":
        for stream in (sys.stdout, sys.stderr):
            stream._slot = NoMasker()
    elif layer == "trace":
        root = config.trace.root
        root.setwriter(root._writer.write)
    else:
        raise AssertionError("unknown layer " + layer)
'''

CHANNELS = """
import logging
import sys
import warnings

import pytest

from _vaultvalues import VALUES

log = logging.getLogger("app.client.detail")  # a child logger: not the root

warnings.warn("at import: " + VALUES["TOKEN"])  # a collection-time warning


def test_eq(vault):
    assert vault["TOKEN"] == "not-the-token"


def test_eq_near_miss(vault):
    token = vault["TOKEN"]
    assert token == token[:-1] + "#"  # only the differing tail of the diff is shown


def test_in(vault):
    assert vault["WEIRD"] in "a haystack without it"


def test_dict(vault):
    assert {"token": vault["TOKEN"], "pem": vault["PEM"], "n": 1} == {"token": "x", "n": 2}


def test_list(vault):
    assert [vault["OVERLAP_LONG"], vault["WEIRD"], vault["SIX"]] == [
        vault["OVERLAP_SHORT"], "other", "x"
    ]


def test_long(vault):
    assert "x" * 300 + vault["BIG"] + "y" * 300 == "x" * 300 + "z" * 60 + "y" * 300


def test_locals(vault):
    token = vault["TOKEN"]
    pem = vault["PEM"]
    weird = vault["WEIRD"]
    nested = {"values": [token, weird], "six": vault["SIX"]}
    padded = "p" * 250 + vault["OVERLAP_LONG"]  # saferepr truncates it
    assert not (token and pem and nested and padded)


def test_raise(vault):
    raise RuntimeError(f"the service said {vault['WEIRD']}")


def test_chained(vault):
    try:
        raise KeyError(vault["PEM"])
    except KeyError as exc:
        error = ValueError(f"wrapped {vault['TOKEN']}")
        error.add_note(f"note {vault['OVERLAP_LONG']}")
        raise error from exc


def test_implicit_chain(vault):
    try:
        {}[vault["SIX"]]
    except KeyError:
        raise RuntimeError(vault["OVERLAP_SHORT"])


def test_exception_group(vault):
    raise ExceptionGroup(
        "group " + vault["SIX"], [ValueError(vault["TOKEN"]), TypeError(vault["WEIRD"])]
    )


def test_skip(vault):
    pytest.skip(f"skipped for {vault['TOKEN']}")


def test_xfail_call(vault):
    pytest.xfail(f"xfailed for {vault['PEM']}")


@pytest.mark.xfail(reason="expected", raises=RuntimeError)
def test_xfail_raises(vault):
    raise RuntimeError(vault["WEIRD"])


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict(vault):
    print("xpass strict", vault["TOKEN"])


@pytest.mark.xfail(reason="lenient")
def test_xpass(vault):
    print("xpass", vault["OVERLAP_LONG"])


def test_fail(vault):
    pytest.fail(vault["OVERLAP_LONG"])


def test_fail_no_trace(vault):
    pytest.fail("no trace: " + vault["PEM"], pytrace=False)


def test_output_passes(vault):
    print("stdout", vault["TOKEN"], vault["PEM"], vault["WEIRD"], vault["SIX"], vault["BIG"])
    print("repr", repr(vault["WEIRD"]), ascii(vault["WEIRD"]), vault["WEIRD"].encode())
    sys.stderr.write("stderr " + vault["OVERLAP_LONG"] + "\\n")
    print(f"TWO=[{vault['TWO']}] EMPTY=[{vault['EMPTY']}]")


def test_output_fails(vault):
    print("stdout", vault["PEM"], vault["BIG"])
    sys.stderr.write("stderr " + vault["WEIRD"] + "\\n")
    assert False


def test_log_passes(vault, caplog):
    log.warning("token %s", vault["TOKEN"])
    log.error("pem %s", vault["PEM"])
    logging.getLogger().warning("root %r", vault["WEIRD"])
    log.info("debugging %s", vault["BIG"])
    assert vault["TOKEN"] in caplog.text  # caplog keeps the real records


def test_log_fails(vault):
    log.warning("weird %s / %r", vault["WEIRD"], vault["OVERLAP_LONG"])
    assert False


def test_warnings(vault):
    warnings.warn(f"deprecated {vault['TOKEN']}", DeprecationWarning)
    warnings.warn(UserWarning(vault["PEM"]))
    warnings.warn(f"weird {vault['WEIRD']!r}")


def test_record_property(vault, record_property):
    record_property("token", vault["TOKEN"])
    record_property("name " + vault["SIX"], vault["WEIRD"])


def test_record_xml(vault, record_xml_attribute, record_testsuite_property):
    record_xml_attribute("token", vault["TOKEN"])
    record_testsuite_property("pem", vault["PEM"])


def test_generated_ids(generated):
    assert not generated


def test_explicit_ids(explicit):
    assert explicit < 0


def test_setup_error(broken_setup):
    pass


def test_teardown_error(broken_teardown):
    pass


def test_fails_and_teardown_error(broken_teardown):
    assert broken_teardown["WEIRD"] == "else"


def test_subtests(vault, subtests):
    with subtests.test(msg="sub " + vault["TOKEN"], value=vault["WEIRD"]):
        assert False
    with subtests.test(msg="passes " + vault["PEM"], six=vault["SIX"]):
        print("in a subtest", vault["OVERLAP_LONG"])


def test_contract(vault):
    assert (vault["TWO"], vault["EMPTY"]) == ("Q7", "")


def test_key_out_of_reach(vault, request):
    import os
    import subprocess

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('PYTEST_VAULT_KEY'))"],
        capture_output=True, text=True, check=True,
    )
    print("key seen by the test:", os.environ.get("PYTEST_VAULT_KEY"), "by a child:", child.stdout)
    assert os.environ.get("PYTEST_VAULT_KEY") is None
    assert child.stdout.strip() == "None"
    assert "pytest_vault" not in getattr(request.config, "workerinput", {})
"""

#: Source with a near-miss literal of TOKEN (it differs in the last character): the
#: traceback shows the source line. This file and its bytecode hold the literal by design
#: and are not searched.
LITERAL = """
def test_literal(vault):
    assert vault["TOKEN"] == {near!r}
"""

COLLECT_ERROR = """
from _vaultvalues import VALUES

raise RuntimeError("cannot import: " + VALUES["WEIRD"])
"""

COLLECT_SKIP = """
import pytest

from _vaultvalues import VALUES

pytest.skip("module skipped: " + VALUES["TOKEN"], allow_module_level=True)
"""

DOCTEST = '''
"""A doctest that prints a secret (run with --doctest-modules).

>>> from _vaultvalues import VALUES
>>> print(VALUES["TOKEN"])
nothing
"""


def raises():
    """
    >>> from _vaultvalues import VALUES
    >>> raise ValueError(VALUES["PEM"])
    """
'''

#: Files written by the test (inputs, not output), or on purpose by the project (the
#: changed file the run names in its warning): not searched.
INPUTS = {"test_literal.py", "key.txt", "secret.txt"}

#: Outcomes of a run without --doctest-modules or xdist. Under xdist each of the two
#: workers reports the collection error; --doctest-modules adds two failing doctests and
#: imports the erroring module once more.
OUTCOMES = {
    "failed": 28,
    "passed": 8,
    "skipped": 2,
    "xfailed": 2,
    "xpassed": 1,
    "errors": 4,
    "subtests": 1,  # passed
}


def write_project(pytester: pytest.Pytester, ini: str = "") -> str:
    """Write the project and its vault; return the vault's key."""
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(
        _vaultvalues=VALUES_MODULE,
        conftest=CONFTEST,
        test_channels=CHANNELS,
        test_literal=LITERAL.format(near=SECRETS["TOKEN"][:-1] + "#"),
        test_collect_error=COLLECT_ERROR,
        test_collect_skip=COLLECT_SKIP,
        docmod=DOCTEST,
    )
    path = pytester.path / "secrets.vault.toml"
    create_vault(path, KEY)
    set_secrets(path, KEY, SECRETS)
    return KEY.text()


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8")
    monkeypatch.delenv("LEAKS_DISABLE_LAYER", raising=False)
    monkeypatch.delenv("LEAKS_TRIGGER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setenv("PYTEST_VAULT_KEY", write_project(pytester))
    return pytester


# -- searching the output ----------------------------------------------------------------------


def _charwise(value: str, escape: str) -> str:
    """``value`` escaped character by character, the way ``repr``/``ascii`` escape inside
    quotes, with neither quote character escaped."""
    if escape == "repr":
        return "".join(repr(char)[1:-1] for char in value)
    return "".join(ascii(char)[1:-1] for char in value)


def secret_forms(value: str) -> dict[str, str]:
    """Every way pytest, a reporter or a test may write ``value``: kind -> text."""
    forms: dict[str, str] = {"literal": value}
    for escape in ("repr", "ascii"):
        plain = _charwise(value, escape)
        forms[escape] = plain
        forms[escape + "-single"] = plain.replace("'", "\\'")
        forms[escape + "-double"] = plain.replace('"', '\\"')
    forms["unicode-escape"] = value.encode("unicode_escape").decode("ascii")
    forms["bytes"] = repr(value.encode("utf-8"))[2:-1]
    forms["json"] = json.dumps(value)[1:-1]
    forms["json-unicode"] = json.dumps(value, ensure_ascii=False)[1:-1]
    forms["xml"] = html.escape(value)
    lines = value.splitlines()
    if len(lines) > 1:
        for number, line in enumerate(lines, 1):
            for kind, form in secret_forms(line).items():
                forms[f"line {number} {kind}"] = form
            forms[f"line {number} stripped"] = line.strip()
    return forms


#: PEM armour lines carry nothing secret: masking leaves them (issue 12's precision rule).
ARMOUR = re.compile(r"-----(?:BEGIN|END) [A-Z ]+-----")


def _armour_windows(value: str) -> set[str]:
    """The runs of FRAGMENT_LENGTH made only of an armour line and its line break (in any
    form): not a leak when they show."""
    windows: set[str] = set()
    for armour in ARMOUR.findall(value):
        for text in (armour + "\n", "\n" + armour):
            for form in secret_forms(text).values():
                for at in range(len(form) - FRAGMENT_LENGTH + 1):
                    windows.add(form[at : at + FRAGMENT_LENGTH])
    return windows


@dataclass(frozen=True)
class Leak:
    secret: str
    form: str
    channel: str
    offset: int

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.channel} at offset {self.offset}"


class SecretSearch:
    """Finds any form of any masked secret, or a FRAGMENT_LENGTH-long run of one, in a text."""

    def __init__(self, secrets: dict[str, str]) -> None:
        #: Every FRAGMENT_LENGTH-long run of every form -> "NAME (form)" of its owners.
        self.windows: dict[str, list[tuple[str, str]]] = {}
        #: Forms shorter than that, matched whole.
        self.whole: dict[str, list[tuple[str, str]]] = {}
        for name, value in secrets.items():
            ordinary = _armour_windows(value)
            for kind, form in secret_forms(value).items():
                if len(form) < MIN_MASKED_LENGTH:
                    continue
                if len(form) < FRAGMENT_LENGTH:
                    self._add(self.whole, form, name, kind)
                for at in range(len(form) - FRAGMENT_LENGTH + 1):
                    window = form[at : at + FRAGMENT_LENGTH]
                    if window not in ordinary:
                        self._add(self.windows, window, name, kind)

    @staticmethod
    def _add(index: dict[str, list[tuple[str, str]]], text: str, name: str, kind: str) -> None:
        owners = index.setdefault(text, [])
        if all(owner != name for owner, _ in owners):
            owners.append((name, kind))

    def find(self, text: str, channel: str) -> list[Leak]:
        """The first leak of each secret in ``text`` (a shared run names every owner)."""
        leaks: list[Leak] = []
        seen: set[str] = set()

        def found(owners: list[tuple[str, str]], at: int) -> None:
            names = "|".join(name for name, _ in owners)
            if names not in seen:
                seen.add(names)
                leaks.append(Leak(names, "|".join(kind for _, kind in owners), channel, at))

        windows = self.windows
        for at in range(len(text) - FRAGMENT_LENGTH + 1):
            owners = windows.get(text[at : at + FRAGMENT_LENGTH])
            if owners is not None:
                found(owners, at)
        for form, owners in self.whole.items():
            at = text.find(form)
            if at >= 0:
                found(owners, at)
        at = text.find(TAIL)
        if at >= 0:
            leaks.append(Leak("OVERLAP_LONG", "the tail beyond OVERLAP_SHORT", channel, at))
        return leaks


SEARCH = SecretSearch({**MASKED, **KEYS})


def views(text: str) -> Iterator[tuple[str, str]]:
    """The text as written, and decoded the ways a reader would decode it."""
    yield "", text
    unescaped = html.unescape(text)  # XML attributes and text
    if unescaped != text:
        yield " (XML-unescaped)", unescaped


def output_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root)
        if relative.parts in (("stdout",), ("stderr",)):
            continue  # pytester's copy of the run's output, searched as such
        if relative.name in INPUTS or (
            relative.parent.name == "__pycache__" and relative.name.startswith("test_literal.")
        ):
            continue
        yield path


def find_leaks(pytester: pytest.Pytester, result: pytest.RunResult) -> list[Leak]:
    texts = [("stdout", str(result.stdout)), ("stderr", str(result.stderr))]
    for path in output_files(pytester.path):
        data = path.read_bytes()
        texts.append((str(path.relative_to(pytester.path)), data.decode("utf-8", "replace")))
    leaks: list[Leak] = []
    for channel, text in texts:
        for suffix, view in views(text):
            found = SEARCH.find(view, channel + suffix)
            leaks.extend(found)
            if found:
                break
    return leaks


def assert_no_leaks(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    leaks = find_leaks(pytester, result)
    if leaks:
        # pytrace=False: no traceback, so no local variable holding a secret is shown.
        pytest.fail(
            f"{len(leaks)} leak(s):\n" + "\n".join(f"  {leak}" for leak in leaks), pytrace=False
        )


# -- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flags:
    tb: str
    verbosity: str
    showlocals: bool
    report_all: bool
    log_cli: bool
    log_file: bool
    junit: str  # "" (none), xunit1, xunit2, legacy
    cache: bool
    xdist: bool
    color: bool
    doctest: bool
    setup_show: bool

    def args(self) -> list[str]:
        args = [f"--tb={self.tb}", self.verbosity, "--continue-on-collection-errors"]
        args.append("-rA" if self.report_all else "-rfE")
        args.append("--color=yes" if self.color else "--color=no")
        if self.showlocals:
            args.append("-l")
        if self.log_cli:
            args += ["-o", "log_cli=true", "-o", "log_cli_level=INFO"]
        if self.log_file:
            args += ["-o", "log_file=logs/run.log", "-o", "log_file_level=DEBUG"]
        if self.junit:
            args += ["--junitxml=reports/junit.xml", "-o", f"junit_family={self.junit}"]
            args += ["-o", "junit_logging=all"]
        if not self.cache:
            args += ["-p", "no:cacheprovider"]
        args += ["-n", "2"] if self.xdist else ["-p", "no:xdist"]
        if self.doctest:
            args.append("--doctest-modules")
        if self.setup_show:
            args.append("--setup-show")
        return args

    def __str__(self) -> str:
        parts = [f"tb={self.tb}", self.verbosity]
        for name, value in vars(self).items():
            if name not in ("tb", "verbosity", "junit") and value:
                parts.append(name.replace("_", "-"))
        parts += [f"junit={self.junit}"] if self.junit else []
        return ",".join(parts)


# fmt: off
def _row(  # noqa: PLR0917
    tb: str, verbosity: str, showlocals: int, report_all: int, log_cli: int, log_file: int,
    junit: str, cache: int, xdist: int, color: int, doctest: int, setup_show: int,
) -> Flags:
    return Flags(
        tb, verbosity, bool(showlocals), bool(report_all), bool(log_cli), bool(log_file),
        junit, bool(cache), bool(xdist), bool(color), bool(doctest), bool(setup_show),
    )


#: Every --tb style with every verbosity, and every pair of values of any two other flags
#: (checked by `test_the_matrix_covers_every_pair`). Found once by a greedy search.
MATRIX = [
    #    tb        verb.  -l -rA cli file junit   cache -n2 color doctest setup-show
    _row("auto",   "-q",  0, 0, 1, 1, "",       1, 1, 1, 0, 0),
    _row("auto",   "-v",  0, 1, 0, 0, "xunit2", 1, 0, 0, 1, 1),
    _row("auto",   "-vv", 1, 1, 1, 0, "legacy", 0, 1, 0, 1, 0),
    _row("long",   "-q",  1, 0, 0, 1, "xunit2", 0, 0, 1, 0, 0),
    _row("long",   "-v",  0, 1, 1, 1, "xunit1", 0, 1, 0, 0, 1),
    _row("long",   "-vv", 0, 0, 0, 0, "legacy", 1, 1, 1, 1, 1),
    _row("short",  "-q",  1, 1, 0, 0, "xunit1", 1, 1, 0, 1, 1),
    _row("short",  "-v",  0, 0, 0, 1, "",       0, 1, 0, 1, 1),
    _row("short",  "-vv", 1, 1, 0, 0, "",       1, 0, 1, 0, 0),
    _row("line",   "-q",  0, 0, 0, 0, "xunit1", 0, 0, 1, 0, 0),
    _row("line",   "-v",  1, 0, 1, 1, "legacy", 0, 1, 0, 0, 0),
    _row("line",   "-vv", 1, 1, 1, 1, "xunit2", 0, 0, 1, 1, 1),
    _row("native", "-q",  1, 1, 0, 1, "legacy", 0, 0, 0, 0, 0),
    _row("native", "-v",  0, 0, 0, 0, "xunit2", 1, 0, 1, 1, 1),
    _row("native", "-vv", 1, 1, 1, 1, "xunit1", 0, 1, 1, 1, 1),
    _row("no",     "-q",  1, 0, 0, 1, "xunit2", 0, 1, 1, 0, 0),
    _row("no",     "-v",  0, 1, 1, 0, "xunit1", 1, 1, 0, 1, 1),
    _row("no",     "-vv", 1, 1, 1, 1, "legacy", 0, 0, 1, 1, 0),
]

#: The layer-removal runs: every channel at once (xdist separately).
ALL_CHANNELS = _row("long", "-vv", 1, 1, 1, 1, "xunit1", 1, 0, 1, 1, 1)
ALL_CHANNELS_XDIST = _row("long", "-vv", 1, 1, 1, 1, "xunit1", 1, 1, 1, 0, 0)
# fmt: on


def run(pytester: pytest.Pytester, flags: Flags, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*FAST, *flags.args(), *extra, timeout=180)


def expected_outcomes(flags: Flags) -> dict[str, int]:
    outcomes = dict(OUTCOMES)
    collection_errors = 1
    if flags.doctest:
        outcomes["failed"] += 2
        collection_errors += 1
        # The module skipped at import is skipped again (once per node id under xdist).
        outcomes["skipped"] += 0 if flags.xdist else 1
    if flags.xdist:
        collection_errors *= 2
    outcomes["errors"] += collection_errors - 1
    return outcomes


def assert_outside_tests_masked(
    result: pytest.RunResult, *, summary: bool = True, xdist: bool = False
) -> None:
    """What the project's hooks print or raise outside tests was there, masked."""
    text, errors = str(result.stdout), str(result.stderr)
    if summary:
        assert "key: <vault:key>" in text
    if not xdist:  # the controller does not print it
        assert "session start: <vault:TOKEN>" in text
    assert "session end: <vault:WEIRD>" in text
    assert "session end on stderr: <vault:TOKEN>" in errors
    assert "RuntimeError: unraisable: <vault:OVERLAP_LONG>" in errors
    assert "ValueError: in a thread: <vault:PEM>" in errors
    assert "dumps/secret.txt: <vault:TOKEN>" in text  # named, not masked


def assert_ran_as_expected(result: pytest.RunResult, flags: Flags) -> None:
    """The run was not vacuous: every test had its outcome, and masking did happen."""
    text = str(result.stdout)
    assert "INTERNALERROR" not in text + str(result.stderr)
    outcomes = result.parseoutcomes()
    outcomes.pop("warnings", None)
    outcomes.setdefault("errors", outcomes.pop("error", 0))
    assert outcomes == expected_outcomes(flags)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Masked values read <vault:NAME>; the conftest's summary line is always printed.
    assert "summary: <vault:OVERLAP_LONG> and <vault:SIX>" in text
    assert_outside_tests_masked(result, xdist=flags.xdist)
    assert "<vault:TWO>" not in text
    assert "<vault:EMPTY>" not in text
    if flags.report_all and flags.tb != "no":  # --tb=no leaves the PASSES section out
        assert "TWO=[Q7] EMPTY=[]" in text  # too short to mask; empty does not corrupt
        assert "<vault:TOKEN> <vault:PEM> <vault:WEIRD> <vault:SIX> <vault:BIG>" in text
    if flags.tb not in ("no", "line"):
        assert "AssertionError: assert '<vault:TOKEN>" in text
        assert "RuntimeError: the service said <vault:WEIRD>" in text
    if flags.verbosity != "-q":
        assert "test_explicit_ids[<vault:WEIRD>]" in text
        assert "test_generated_ids[<vault:TOKEN>]" in text


@pytest.mark.parametrize("flags", MATRIX, ids=str)
def test_no_secret_escapes(project: pytest.Pytester, flags: Flags) -> None:
    result = run(project, flags)
    assert_ran_as_expected(result, flags)
    assert_no_leaks(project, result)
    # Under xdist the log file is the controller's, record_xml_attribute does nothing, and
    # the controller collects nothing: its cache holds no node ids.
    if flags.log_file and not flags.xdist:
        log = (project.path / "logs" / "run.log").read_text("utf-8")
        assert "token <vault:TOKEN>" in log
        assert "debugging <vault:BIG>" in log
    if flags.junit:
        junit = (project.path / "reports" / "junit.xml").read_text("utf-8")
        assert "&lt;vault:PEM&gt;" in junit
        if flags.junit != "xunit2" and not flags.xdist:  # xunit2 drops custom attributes
            assert 'token="&lt;vault:TOKEN&gt;"' in junit
    if flags.cache and not flags.xdist:
        nodeids = (project.path / ".pytest_cache" / "v" / "cache" / "nodeids").read_text()
        assert "test_explicit_ids[<vault:TOKEN>]" in nodeids


def test_the_matrix_covers_every_pair() -> None:
    """Each --tb style with each verbosity; any two values of any two other flags."""
    fields = list(Flags.__dataclass_fields__)
    values = {name: {getattr(flags, name) for flags in MATRIX} for name in fields}
    assert values["tb"] == {"auto", "long", "short", "line", "native", "no"}
    assert values["verbosity"] == {"-q", "-v", "-vv"}
    assert values["junit"] == {"", "xunit1", "xunit2", "legacy"}
    assert all(values[name] == {False, True} for name in fields[2:] if name != "junit")
    assert {(flags.tb, flags.verbosity) for flags in MATRIX} == {
        (tb, verbosity) for tb in values["tb"] for verbosity in values["verbosity"]
    }
    others = fields[1:]
    for first, a in enumerate(others):
        for b in others[first + 1 :]:
            seen = {(getattr(flags, a), getattr(flags, b)) for flags in MATRIX}
            assert len(seen) == len(values[a]) * len(values[b]), (a, b)


# -- other modes: collection only, stepwise, last failed, an exit, an internal error -----------

MODES = {
    "collect-only": ["--co"],
    "collect-only-quiet": ["--co", "-q", "--doctest-modules"],
    "setup-plan": ["--setup-plan", "-v"],
    "stepwise": ["--sw", "-rA", "--junitxml=reports/junit.xml"],
    "exit": ["--fulltrace", "-rA", "--junitxml=reports/junit.xml"],
    "exit-at-end": ["-q", "--junitxml=reports/junit.xml"],
    "internal-error": ["--junitxml=reports/junit.xml", "-o", "log_file=logs/run.log"],
    # Test output written to the terminal as it happens, and kept for the report.
    "tee-sys": ["--capture=tee-sys", "-rA", "-o", "log_cli=true"],
}


@pytest.mark.parametrize("mode", MODES)
def test_other_modes(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    args = MODES[mode]
    if mode in ("exit", "exit-at-end", "internal-error"):
        monkeypatch.setenv("LEAKS_TRIGGER", mode)
    if "-n" not in args:
        args = [*args, "-p", "no:xdist"]
    result = project.runpytest_subprocess(*FAST, "--continue-on-collection-errors", *args)
    text = str(result.stdout) + str(result.stderr)
    assert_no_leaks(project, result)
    if mode.startswith("collect-only"):
        assert "test_explicit_ids[<vault:WEIRD>]" in text
        assert "test_generated_ids[<vault:TOKEN>]" in text
    elif mode == "setup-plan":
        assert "test_generated_ids[<vault:TOKEN>]" in text
    elif mode == "stepwise":
        stepwise = (project.path / ".pytest_cache" / "v" / "cache" / "stepwise").read_text()
        assert "test_eq" in stepwise
        assert "AssertionError: assert '<vault:TOKEN>" in text
    elif mode == "exit":
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "stopped by the plugin: <vault:TOKEN>" in text
    elif mode == "exit-at-end":
        assert result.ret == pytest.ExitCode.TESTS_FAILED  # pytest.exit() keeps it there
        assert "Exit: stopped at the end: <vault:SIX>" in str(result.stderr)
        # No summary: the run's other output and the changed-file warning come after.
        assert_outside_tests_masked(result, summary=False)
    elif mode == "tee-sys":
        assert_outside_tests_masked(result)
        # Printed twice: as the test ran, and in the report's section.
        shown = "stdout <vault:TOKEN> <vault:PEM> <vault:WEIRD> <vault:SIX> <vault:BIG>"
        assert text.count(shown) == 2
    else:
        assert result.ret == pytest.ExitCode.INTERNAL_ERROR
        assert "INTERNALERROR> RuntimeError: the plugin crashed on <vault:PEM>" in text
        assert "the plugin crashed on &lt;vault:PEM&gt;" in (
            project.path / "reports" / "junit.xml"
        ).read_text("utf-8")


def test_last_failed_rerun(project: pytest.Pytester) -> None:
    """The cache written by a run with masked node ids drives --lf (and leaks nothing)."""
    first = project.runpytest_subprocess(*FAST, *KEEP_GOING, "-p", "no:xdist", "-q")
    assert_no_leaks(project, first)
    result = project.runpytest_subprocess(*FAST, *KEEP_GOING, "-p", "no:xdist", "--lf", "-v")
    assert_no_leaks(project, result)
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == OUTCOMES["failed"]
    assert "test_explicit_ids[<vault:TOKEN>] FAILED" in str(result.stdout)


# -- removing one layer must leak ------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """Layers switched off (by the inner conftest; "worker-": on xdist workers only), the
    run's flags, and the channels (output name prefixes) where a leak must then show."""

    layers: str
    flags: Flags
    channels: tuple[str, ...]
    trigger: str = ""

    def __str__(self) -> str:
        return self.layers


# The file layer masks the JUnit XML and the cache in place at the end of the run: the
# layers that keep secrets out of those files in the first place are removed with it.
REMOVALS = [
    # Test reports (and subtests' copies of them), masked when logged: off, everything the
    # reports carry leaks into the JUnit XML and to any reporter.
    Removal("test-reports,files", ALL_CHANNELS, ("reports/junit.xml", "observed/main")),
    Removal("collect-reports,files", ALL_CHANNELS, ("reports/junit.xml", "observed/main")),
    # Warnings: the terminal net covers the summary; reporters get them raw.
    Removal("warnings", ALL_CHANNELS, ("observed/main",)),
    # Node ids: explicit parametrize ids reach the cache and every reporter.
    Removal("node-ids,files", ALL_CHANNELS, (".pytest_cache/v/cache/nodeids", "observed/main")),
    # Generated ids: the node-id layer masks them too; with both off they leak.
    Removal("node-ids,generated-ids,files", ALL_CHANNELS, (".pytest_cache/v/cache/nodeids",)),
    # Files: values stored with config.cache.set (the report files: test_reporting_plugins).
    Removal("files", ALL_CHANNELS, (".pytest_cache/v/leaks/values",)),
    # sys.stdout / sys.stderr: what hooks print outside tests, late warnings, pytest.exit.
    Removal("std-streams", ALL_CHANNELS, ("stdout", "stderr")),
    Removal("log-log-file", ALL_CHANNELS, ("logs/run.log",)),
    # Live logging: the terminal net covers it too; with both off it leaks.
    Removal("terminal,log-log-cli", ALL_CHANNELS, ("stdout",)),
    Removal("terminal", ALL_CHANNELS, ("stdout",)),
    Removal("junit-fixtures,files", ALL_CHANNELS, ("reports/junit.xml",)),
    Removal(
        "internal-errors,files",
        _row("long", "-q", 0, 0, 0, 0, "xunit1", 1, 0, 0, 0, 0),
        ("reports/junit.xml",),
        trigger="internal-error",
    ),
    # xdist: workers mask before sending, the controller again; with both off it leaks.
    Removal(
        "worker-test-reports,worker-collect-reports,controller-reports,files",
        ALL_CHANNELS_XDIST,
        ("stdout", "reports/junit.xml", "observed/main"),
    ),
    # ... and so it does when the workers do not tell the controller their vault is open.
    Removal(
        "worker-test-reports,worker-collect-reports,worker-open-flag,files",
        ALL_CHANNELS_XDIST,
        ("stdout", "reports/junit.xml", "observed/main"),
    ),
]

#: Layers that another one backs up: switched off, the run stays clean. A layer only masks,
#: so a run clean without two layers is clean without either: the first two are switched
#: off in one run (each one's removal together with its backup leaks: REMOVALS).
BACKED_UP = {
    # by the node-id layer; by the terminal net
    "generated-ids,log-log-cli": ALL_CHANNELS,
    # by the controller:
    "worker-test-reports,worker-collect-reports": ALL_CHANNELS_XDIST,
    "controller-reports": ALL_CHANNELS_XDIST,  # by the workers
}


@pytest.mark.parametrize("removal", REMOVALS, ids=str)
def test_removing_a_layer_leaks(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, removal: Removal
) -> None:
    monkeypatch.setenv("LEAKS_DISABLE_LAYER", removal.layers)
    if removal.trigger:
        monkeypatch.setenv("LEAKS_TRIGGER", removal.trigger)
    result = run(project, removal.flags)
    if not removal.trigger:
        assert_ran_as_expected_loosely(result)
    leaks = find_leaks(project, result)
    for channel in removal.channels:
        assert any(leak.channel.startswith(channel) for leak in leaks), (channel, leaks)
    if removal.layers == "node-ids,files":  # generated ids are still masked by their layer
        nodeids = (project.path / ".pytest_cache" / "v" / "cache" / "nodeids").read_text()
        assert "test_generated_ids[<vault:TOKEN>]" in nodeids
    if removal.layers == "terminal,log-log-cli":  # not only the conftest's summary line
        assert {leak.secret for leak in leaks if leak.channel == "stdout"} & {"TOKEN", "PEM"}


@pytest.mark.parametrize("layers", BACKED_UP)
def test_a_layer_backed_up_by_another_does_not_leak_alone(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, layers: str
) -> None:
    flags = BACKED_UP[layers]
    monkeypatch.setenv("LEAKS_DISABLE_LAYER", layers)
    result = run(project, flags)
    assert_ran_as_expected(result, flags)
    leaks = find_leaks(project, result)
    if layers.startswith("worker-"):  # what the workers' own reporters saw: raw
        assert any(leak.channel.startswith("observed/gw") for leak in leaks)
        leaks = [leak for leak in leaks if not leak.channel.startswith("observed/gw")]
    assert not leaks, [str(leak) for leak in leaks]


def assert_ran_as_expected_loosely(result: pytest.RunResult) -> None:
    """A run with a layer off still ran every test (no crash of the switch itself)."""
    assert "INTERNALERROR" not in str(result.stdout) + str(result.stderr)
    assert result.parseoutcomes()["failed"] >= OUTCOMES["failed"]


# -- switched off; GitHub Actions --------------------------------------------------------------


def test_vault_mask_false_shows_the_values(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        *FAST,
        *KEEP_GOING,
        "-p",
        "no:xdist",
        "-o",
        "vault_mask=false",
        "-rA",
        "-o",
        "log_file=logs/run.log",
    )
    text = str(result.stdout)
    assert "<vault:" not in text
    assert SECRETS["TOKEN"] in text
    assert SECRETS["PEM"] in text
    assert f"summary: {SECRETS['OVERLAP_LONG']} and {SECRETS['SIX']}" in text
    assert SECRETS["TOKEN"] in (project.path / "logs" / "run.log").read_text("utf-8")
    # The search finds every secret when nothing masks them (it is not blind).
    found = {name for leak in find_leaks(project, result) for name in leak.secret.split("|")}
    assert found >= set(MASKED)


@pytest.mark.parametrize("workers", [0, 2], ids=["single", "xdist"])
def test_github_actions_add_mask_once_per_run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    args = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
    # --setup-show leaves a line open when the first report is logged.
    result = project.runpytest_subprocess(*FAST, *KEEP_GOING, "--setup-show", *args)
    lines = [line for line in result.stdout.lines if line.startswith("::add-mask::")]
    # Each workflow command starts a line (the runner reads them nowhere else).
    assert str(result.stdout).count("::add-mask::") == len(lines)
    expected = github_add_mask_lines({**SECRETS, "the key": KEY.text()})
    # Every secret of 4 characters or more, each line of a multi-line one, and the key, once.
    assert f"::add-mask::{KEY.text()}" in lines
    assert sorted(lines) == sorted(expected)
    assert len(expected) == len(set(expected))
    pem_lines = SECRETS["PEM"].splitlines()
    assert all(f"::add-mask::{line}" in expected for line in pem_lines)
    assert not any(line.endswith(("::add-mask::Q7", "::add-mask::")) for line in lines)
    # Nothing else of the run leaks; the workflow commands are the one exception.
    leaks = [
        leak
        for leak in find_leaks(project, result)
        if leak.channel not in ("stdout", "stdout (XML-unescaped)")
    ]
    assert not leaks, [str(leak) for leak in leaks]
    rest = "\n".join(line for line in result.stdout.lines if not line.startswith("::add-mask::"))
    assert not SEARCH.find(rest, "stdout without the workflow commands")


def test_github_layer_removed_emits_nothing(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("LEAKS_DISABLE_LAYER", "github")
    result = project.runpytest_subprocess(*FAST, "-q", "-p", "no:xdist")
    assert not [line for line in result.stdout.lines if line.startswith("::add-mask::")]


# -- the key: out of the tests' reach, masked where it is kept ----------------------------------

KEPT = """
import os


def test_key_kept(vault):
    print("key variable:", os.environ["PYTEST_VAULT_KEY"])
    assert len(os.environ["PYTEST_VAULT_KEY"].split()) == 2
"""


def test_vault_keep_key_env_keeps_the_variable_and_masks_every_key(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two keys listed: another one first, then this vault's. Both are masked.
    monkeypatch.setenv("PYTEST_VAULT_KEY", OTHER_KEY.text() + "\n" + KEY.text())
    project.makepyfile(test_kept=KEPT)
    result = project.runpytest_subprocess(
        *FAST, "-p", "no:xdist", "-o", "vault_keep_key_env=true", "-rA", "test_kept.py"
    )
    result.assert_outcomes(passed=1)
    assert "key variable: <vault:key>\n<vault:key>" in str(result.stdout)
    assert_no_leaks(project, result)


@pytest.mark.parametrize("trace", ["debug-file", "PYTEST_DEBUG", "removed"])
def test_debug_trace(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, trace: str) -> None:
    """``--debug`` (a file) and ``PYTEST_DEBUG`` (stderr) trace every hook's arguments and
    results: assertion operands, the key the ``pytest_vault_key`` hook returns."""
    key_file = project.path / "key.txt"
    key_file.write_text(KEY.text(), encoding="utf-8")
    monkeypatch.delenv("PYTEST_VAULT_KEY")
    monkeypatch.setenv("LEAKS_KEY_FILE", str(key_file))
    args = ["--debug=debug.log"]
    if trace == "PYTEST_DEBUG":
        monkeypatch.setenv("PYTEST_DEBUG", "1")
        args = []
    if trace == "removed":
        monkeypatch.setenv("LEAKS_DISABLE_LAYER", "trace")
    result = project.runpytest_subprocess(
        *FAST, *KEEP_GOING, "-p", "no:xdist", *args, "-k", "test_eq"
    )
    trace_text = (
        str(result.stderr) if trace == "PYTEST_DEBUG" else (project.path / "debug.log").read_text()
    )
    if trace == "removed":
        assert "debug.log" in {leak.channel for leak in find_leaks(project, result)}
        return
    assert_no_leaks(project, result)
    assert "finish pytest_vault_key --> <vault:key>" in trace_text
    assert "<vault:TOKEN>" in trace_text


# -- reporting plugins users add: their files are masked in place ------------------------------

PLUGIN_TESTS = """
import pytest
from hypothesis import event, given, settings, strategies as st

from _vaultvalues import VALUES


@pytest.mark.parametrize("token", [VALUES["TOKEN"]], ids=["token"])
def test_benchmarked(benchmark, token):
    benchmark.extra_info["pem"] = VALUES["PEM"]
    benchmark(lambda: token)


@settings(max_examples=3, database=None)
@given(st.integers())
def test_hypothesis(vault, n):
    event("event " + vault["TOKEN"])
    assert n is None, "hypothesis says " + vault["WEIRD"]
"""

PLUGIN_ARGS = (
    "--junitxml=reports/junit.xml",
    "--html=reports/report.html",
    "--json-report",
    "--json-report-file=reports/report.json",
    "--report-log=reports/log.jsonl",
    "--alluredir=allure-results",
    "--benchmark-json=reports/bench.json",
    "--benchmark-autosave",
    # A few rounds, not a second's worth: the JSON holds every round's time, and 7 MB of
    # timings only make the file sweep slow.
    "--benchmark-max-time=0.001",
    "--benchmark-min-rounds=3",
)


@pytest.mark.parametrize("run", ["single", "xdist", "files-removed"])
def test_reporting_plugins(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run: str
) -> None:
    """pytest-html (with extras), pytest-json-report, pytest-reportlog, allure-pytest,
    pytest-benchmark and hypothesis's observability output, installed for real."""
    project.makepyfile(test_plugins=PLUGIN_TESTS)
    monkeypatch.setenv("HYPOTHESIS_EXPERIMENTAL_OBSERVABILITY", "1")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # pytest-benchmark would turn itself off
    args = ["-n", "2"] if run == "xdist" else ["-p", "no:xdist"]
    if run == "files-removed":
        monkeypatch.setenv("LEAKS_DISABLE_LAYER", "files")
    result = project.runpytest_subprocess(*KEEP_GOING, "-rA", *args, *PLUGIN_ARGS, timeout=240)
    assert "INTERNALERROR" not in str(result.stdout) + str(result.stderr)
    root = project.path
    written = {
        "reports/report.html",
        "reports/report.json",
        "reports/log.jsonl",
        "reports/junit.xml",
    }
    assert all((root / name).is_file() for name in written)
    allure = list((root / "allure-results").glob("*-result.json"))
    observed = list((root / ".hypothesis" / "observed").glob("*.jsonl"))
    assert allure
    assert observed
    if run != "xdist":  # pytest-benchmark turns itself off under xdist
        assert (root / "reports" / "bench.json").is_file()
        assert list((root / ".benchmarks").rglob("*.json"))
    leaks = find_leaks(project, result)
    if run == "files-removed":
        channels = {leak.channel.split("/")[0] for leak in leaks}
        assert {"allure-results", ".hypothesis", ".benchmarks", "reports"} <= channels
        return
    assert not leaks, [str(leak) for leak in leaks]
    # Masked, not emptied: the files show where secrets were.
    assert any("<vault:TOKEN>" in path.read_text("utf-8") for path in allure)
    assert any("<vault:" in path.read_text("utf-8") for path in observed)
    assert "vault:TOKEN&amp;gt;" in (root / "reports" / "report.html").read_text("utf-8")
    for path in (*allure, root / "reports" / "report.json"):
        json.loads(path.read_text("utf-8"))  # still valid JSON


def test_vault_keep_key_env_must_be_a_boolean(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        *FAST, "-p", "no:xdist", "-o", "vault_keep_key_env=perhaps"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*vault_keep_key_env * is not true or false*"])
