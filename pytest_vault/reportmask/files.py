"""Files the run writes: report files masked in place, any other file holding a secret named.

Reporting plugins write files from what they saw, sometimes before any report was masked
(allure-pytest reads each test's outcome inside ``pytest_runtest_makereport``; parameters,
``extra_info`` and metadata never pass through a report). So once the vault was opened,
the files they are known to write (by their options) are masked in place before the run
ends: JUnit XML, pytest-html (and its ``assets``), pytest-json-report, pytest-reportlog,
allure-pytest results and attachments, pytest-benchmark JSON and saved runs, hypothesis's
observability output, the pytest cache. Any other file under the rootdir created or changed
during the run that holds a secret is named (never the value) in a warning at the end of
the run. Values stored with ``config.cache.set`` are masked as they are stored.

Limits (docs/masking.md): files over `MAX_FILE_BYTES`, binary files (a NUL byte in their
first 8 KiB, or not UTF-8) and compressed files are not looked at; version-control folders,
virtual environments and tool caches are skipped; "changed during the run" is by
modification time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_vault.state import VaultState, run_started

from .walker import holds_secret, mask_value

if TYPE_CHECKING:
    from pytest_vault.masking import Masker
    from pytest_vault.vault import Vault

#: Bigger files are neither masked nor looked at.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Folders never looked into for changed files (besides virtual environments).
SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
     ".ruff_cache", ".pytype", ".eggs", "site-packages"}
)  # fmt: skip
#: Files compressed on disk: not masked (their text is not readable in place).
COMPRESSED = frozenset({".gz", ".bz2", ".xz", ".zip", ".zst"})
#: Slack for file systems whose timestamps are coarser than the clock.
MTIME_SLACK = 0.05


class FileMasks:
    """Masks report files in place and names other files holding a secret."""

    def __init__(self, config: pytest.Config, state: VaultState) -> None:
        self.config = config
        self.state = state
        self.started = config.stash.get(run_started, time.time()) - MTIME_SLACK
        self.is_worker = hasattr(config, "workerinput")
        self.masker: Masker | None = None
        #: Files named in the warning: path relative to the rootdir -> secret names.
        self.holding: dict[str, list[str]] = {}

    def opened(self, vault: Vault, masker: Masker | None) -> None:
        if not masker:
            return
        self.masker = masker
        mask_cache_set(self.config, masker)

    # -- the two passes --------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """After every plugin's ``pytest_sessionfinish`` wrote its file."""
        self.sweep(look_elsewhere=True)
        self._warn(terminalreporter)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        """Files closed only now (pytest-reportlog), or written after the summary; the whole
        sweep when there was no summary (``pytest.exit`` in ``pytest_sessionfinish``)."""
        self.sweep(look_elsewhere=not self._swept)
        self._warn(self.config.pluginmanager.get_plugin("terminalreporter"))

    _swept = False
    _warned = False

    def sweep(self, *, look_elsewhere: bool) -> None:
        masker = self.masker
        if masker is None or self.is_worker:
            return
        self._swept = True
        known = [path.absolute() for path in report_locations(self.config)]
        for path in self._changed(known):
            mask_file(path, masker)
        if look_elsewhere:
            self._find_elsewhere(masker, known)

    def _warn(self, reporter: pytest.TerminalReporter | None) -> None:
        if not self.holding or self._warned:
            return
        self._warned = True
        lines = [
            "These files were written during the run and hold a secret value (pytest-vault "
            "masks only the report files it knows; see docs/masking.md):",
            *(
                f"  {path}: " + ", ".join(f"<vault:{name}>" for name in names)
                for path, names in sorted(self.holding.items())
            ),
        ]
        if reporter is not None:
            reporter.write_sep("=", "pytest-vault warning", yellow=True)
            for line in lines:
                reporter.write_line(line)
        else:
            sys.stderr.write("pytest-vault warning: " + "\n".join(lines) + "\n")

    def _changed(self, locations: list[Path]) -> Iterator[Path]:
        for location in locations:
            if location.is_dir():
                yield from changed_files(location, self.started, skip=())
            elif _changed_since(location, self.started):
                yield location

    def _find_elsewhere(self, masker: Masker, known: list[Path]) -> None:
        root = self.config.rootpath
        for path in changed_files(root, self.started, skip=tuple(known)):
            text = read_text(path)
            if text is None or not masker.contains_secret(text):
                continue
            names = _names_found(masker, text)
            try:
                shown = str(path.relative_to(root))
            except ValueError:
                shown = str(path)
            self.holding[shown] = names


def _names_found(masker: Masker, text: str) -> list[str]:
    masked = masker.mask(text)
    names: list[str] = []
    at = masked.find("<vault:")
    while at >= 0:
        end = masked.find(">", at)
        name = masked[at + len("<vault:") : end]
        if name in masker.masked_names and name not in names:
            names.append(name)
        at = masked.find("<vault:", end)
    return names


# -- where the known report files are ----------------------------------------------------------


def report_locations(config: pytest.Config) -> list[Path]:
    """The files and folders of report files this run writes, by the plugins' options."""
    option = config.option
    invocation = config.invocation_params.dir
    found: list[Path | None] = [
        _path(getattr(option, "xmlpath", None)),  # --junitxml
        _path(getattr(option, "report_log", None)),  # pytest-reportlog
        _path(getattr(option, "allure_report_dir", None)),  # allure-pytest
        _path(getattr(option, "benchmark_json", None)),  # pytest-benchmark
    ]
    html = _path(getattr(option, "htmlpath", None))  # pytest-html and its assets
    if html is not None:
        found += [html, html.parent / "assets"]
    if getattr(option, "json_report", False):  # pytest-json-report
        found.append(_path(getattr(option, "json_report_file", None)))
    storage = getattr(option, "benchmark_storage", None)  # pytest-benchmark's saved runs
    storage_path = getattr(storage, "path", None)
    if isinstance(storage, str) and storage.startswith("file://"):
        storage_path = storage[len("file://") :]
    found.append(_path(storage_path))
    hypothesis = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or ".hypothesis"
    found.append(Path(hypothesis) / "observed")  # hypothesis's observability output
    cache = getattr(config, "cache", None)
    found.append(_path(getattr(cache, "_cachedir", None)))  # the pytest cache
    return [invocation / path for path in found if path is not None]


def _path(value: object) -> Path | None:
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    name = getattr(value, "name", None)  # an open file (argparse.FileType)
    return Path(name) if isinstance(name, str) else None


# -- finding changed files ----------------------------------------------------------------------


def _changed_since(path: Path, started: float) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_mtime >= started and info.st_size <= MAX_FILE_BYTES


def changed_files(root: Path, started: float, *, skip: tuple[Path, ...]) -> Iterator[Path]:
    """Regular files under ``root`` modified since ``started``, not under ``skip``."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    if any(entry.name == "pyvenv.cfg" for entry in entries):
        return  # a virtual environment
    for entry in entries:
        path = Path(entry.path)
        if path in skip:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_FOLDERS:
                    yield from changed_files(path, started, skip=skip)
            elif entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                if info.st_mtime >= started and info.st_size <= MAX_FILE_BYTES:
                    yield path
        except OSError:
            continue


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary, compressed, unreadable or huge file."""
    if path.suffix.lower() in COMPRESSED:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES or b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- masking a file in place --------------------------------------------------------------------


def mask_file(path: Path, masker: Masker) -> bool:
    """Mask the file's text in place (atomically); True when it changed."""
    text = read_text(path)
    if text is None or not masker.contains_secret(text):
        return False
    masked = masker.mask(text)
    masked = _keep_json_valid(path, text, masked, masker)
    _replace(path, masked)
    return True


def _keep_json_valid(path: Path, text: str, masked: str, masker: Masker) -> str:
    """A JSON (lines) file stays valid JSON: if text masking broke it, mask its values."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _json_fallback(text, masked, masker, json.dumps) or masked
    if suffix in (".jsonl", ".ndjson") or path.parent.name == "observed":
        lines = text.splitlines(keepends=True)
        masked_lines = [masker.mask(line) for line in lines]
        fixed = [
            (_json_fallback(line, new, masker, json.dumps) or new.rstrip("\n"))
            + ("\n" if line.endswith("\n") else "")
            if new != line
            else line
            for line, new in zip(lines, masked_lines, strict=True)
        ]
        return "".join(fixed)
    return masked


def _json_fallback(
    text: str, masked: str, masker: Masker, dump: Callable[[Any], str]
) -> str | None:
    try:
        json.loads(masked)
        return None  # still valid
    except ValueError:
        pass
    try:
        data = json.loads(text)
    except ValueError:
        return None  # was not JSON either
    return dump(mask_value(data, masker))


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: never half a file."""
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o644
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- values stored in the cache ----------------------------------------------------------------


def mask_cache_set(config: pytest.Config, masker: Masker) -> None:
    """Mask what ``config.cache.set`` stores (the caller's value itself is left alone)."""
    cache = getattr(config, "cache", None)
    if cache is None or getattr(cache.set, "vault_masked", False):
        return
    original = cache.set

    def set(key: str, value: object) -> None:
        if holds_secret(value, masker):
            value = mask_value(copy.deepcopy(value), masker)
        original(key, value)

    set.vault_masked = True  # type: ignore[attr-defined]
    cache.set = set
