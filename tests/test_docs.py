"""The documentation is tested: its commands run, and its reference matches the code.

Which shell blocks run: a fenced ``bash``/``sh``/``shell``/``console`` block runs when the
line just before its opening fence (blank lines aside) is the HTML comment
``<!-- test: run -->``. A block that cannot run here (it needs a terminal, the network,
or a git repository) may say why with ``<!-- test: skip: reason -->``; in
docs/getting-started.md every shell block must carry one of the two, so nobody adds an
untested command by accident. ``<!-- test: run: no keyring -->`` runs the block on a
machine without a keyring (``keyring.backends.fail.Keyring``); ``new project`` in it
moves the page, from that block on, into a new empty project folder.

In a ``console`` block the lines that start with ``$ `` are commands, and the lines after
each command are its output (standard output and standard error together), **compared**
with what the command really prints:

- ``...`` on a line of its own stands for any number of lines;
- ``…`` within a line stands for any text within that line;
- ``/home/me/project`` stands for the project folder and ``/home/me`` for HOME; the test
  keyring's name reads as ``SecretService``;
- blank lines, trailing spaces and pytest's progress column (``[ 50%]``) are ignored.

A command shown without output lines may print anything.

The runnable blocks of one page run in order, each with ``bash -e -o pipefail``, in one
empty project folder (the ``project`` fixture: a ``pytest.ini``, a throwaway keyring, its
own HOME, and no ``PYTEST_VAULT_KEY`` or ``CI``), as a reader following the page would.
Every fenced block with a ``title="PATH"`` that comes before a runnable block is written
to PATH in that folder first (the test module a page shows is the one that runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from console import run_in_process

if TYPE_CHECKING:
    from projects import Project

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"
GETTING_STARTED = DOCS / "getting-started.md"
REFERENCE = DOCS / "reference.md"
BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = str(BIN / "pytest-vault")
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})

README_DEMO_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . "
    "&& (cd examples/demo && pytest)"
)
README_TEST_COMMAND = 'pip install -e ".[test]" && pytest -n auto'

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<kind>run|skip)\b(?P<why>[^>]*)-->\s*$")
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
_PROGRESS = re.compile(r"\s+\[\s*\d+%\]$")
_TITLE = re.compile(r"""\btitle=(?:"([^"]*)"|'([^']*)')""")

needs_bash = pytest.mark.skipif(
    sys.platform == "win32" or shutil.which("bash") is None,
    reason="the documented commands are POSIX shell",
)


# -- reading the Markdown -------------------------------------------------------------------


@dataclass
class Block:
    """A fenced code block of a Markdown page."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    title: str | None
    marker: str | None  # "run", "skip" or None
    text: str
    no_keyring: bool = False
    new_project: bool = False

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    def script(self) -> str:
        """The commands of the block: a console block's ``$ `` lines, else all of it."""
        if self.language != "console":
            return self.text
        return "\n".join(line[2:] for line in self.text.splitlines() if line.startswith("$ "))

    def commands(self) -> list[tuple[str, list[str]]]:
        """A console block's commands, each with the output lines shown after it."""
        pairs: list[tuple[str, list[str]]] = []
        for line in self.text.splitlines():
            if line.startswith("$ "):
                pairs.append((line[2:], []))
            elif pairs:
                pairs[-1][1].append(line)
        return pairs


def code_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        language = info.split()[0].lower() if info else ""
        title_match = _TITLE.search(info)
        title = (
            next((group for group in title_match.groups() if group), None) if title_match else None
        )
        marker, why = _marker_before(lines, index)
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(
                lines[index][len(indent) :] if lines[index].startswith(indent) else lines[index]
            )
            index += 1
        blocks.append(
            Block(
                path,
                index - len(body),
                language,
                title,
                marker,
                "\n".join(body) + "\n",
                marker == "run" and "no keyring" in why,
                marker == "run" and "new project" in why,
            )
        )
        index += 1
    return blocks


def _marker_before(lines: list[str], fence_index: int) -> tuple[str | None, str]:
    """The marker before a fence ("run", "skip" or None), and the words after it."""
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None, ""
    match = _MARKER.match(lines[previous])
    if match is None:
        return None, ""
    return match["kind"], match["why"]


def inline_code(path: Path) -> list[str]:
    """The text of every code span and every shell block of a page."""
    text = path.read_text(encoding="utf-8")
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"(?ms)^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1", "", text))
    return spans + [block.text for block in code_blocks(path) if block.is_shell]


def section(text: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of that level."""
    match = re.search(rf"(?ms)^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text)
    assert match is not None, f"reference.md has no section '## {heading}'"
    return match.group(1)


def documented_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


# -- running documented commands ------------------------------------------------------------


def run_script(
    block: Block, cwd: Path, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the block (or one of its commands), standard error merged into the output."""
    environ = dict(os.environ)
    environ["PATH"] = os.pathsep.join([str(BIN), environ.get("PATH", "")])
    if block.no_keyring:
        environ.update(NO_KEYRING)
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.script() if script is None else script],
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
        check=False,
    )


def _normal(lines: list[str]) -> list[str]:
    return [_PROGRESS.sub("", line).rstrip() for line in lines if line.strip()]


def output_matches(shown: list[str], printed: str, root: Path) -> bool:
    """Whether ``printed`` is what the ``shown`` lines describe (see the module docstring)."""
    home = os.environ.get("HOME", "/nonexistent")
    patterns: list[re.Pattern[str] | None] = []
    for line in _normal(shown):
        if line.strip() == "...":
            patterns.append(None)
            continue
        parts = [re.escape(part) for part in line.split("…")]
        pattern = ".*".join(parts)
        pattern = pattern.replace(re.escape("/home/me/project"), re.escape(str(root)))
        pattern = pattern.replace(re.escape("/home/me"), re.escape(home))
        pattern = pattern.replace(re.escape("SecretService"), "(?:SecretService|throwaway_keyring)")
        patterns.append(re.compile(pattern))
    return _match(patterns, _normal(printed.splitlines()))


def _match(patterns: list[re.Pattern[str] | None], lines: list[str]) -> bool:
    if not patterns:
        return not lines
    first, rest = patterns[0], patterns[1:]
    if first is None:
        return any(_match(rest, lines[start:]) for start in range(len(lines) + 1))
    return bool(lines) and first.fullmatch(lines[0]) is not None and _match(rest, lines[1:])


def write_titled_file(block: Block, root: Path) -> None:
    assert block.title is not None
    target = (root / block.title).resolve()
    assert target.is_relative_to(root.resolve()), f"{block.where}: title leaves the project"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(block.text, encoding="utf-8")


def test_the_block_parser_reads_markers_titles_and_console_commands(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- test: run -->\n\n"
        "```console\n$ echo one\none\n$ echo two\n```\n\n"
        '```python title="test_x.py"\nx = 1\n```\n'
        "<!-- test: skip: needs a terminal -->\n"
        "```bash\nread -r x\n```\n"
        '=== "Tab"\n\n    ```sh\n    echo indented\n    ```\n',
        encoding="utf-8",
    )
    blocks = code_blocks(page)
    assert [(b.language, b.marker, b.title) for b in blocks] == [
        ("console", "run", None),
        ("python", None, "test_x.py"),
        ("bash", "skip", None),
        ("sh", None, None),
    ]
    assert blocks[0].script() == "echo one\necho two"
    assert blocks[3].text == "echo indented\n"


def test_every_shell_block_of_getting_started_says_whether_it_runs() -> None:
    unmarked = [b.where for b in code_blocks(GETTING_STARTED) if b.is_shell and b.marker is None]
    assert not unmarked, (
        "mark these blocks with <!-- test: run --> or <!-- test: skip: why -->: "
        + ", ".join(unmarked)
    )
    runnable = [b for b in code_blocks(GETTING_STARTED) if b.marker == "run"]
    assert len(runnable) >= 5, "getting-started.md lost its runnable blocks"


def test_markers_stand_before_shell_blocks() -> None:
    for page in documented_pages():
        for block in code_blocks(page):
            if block.marker is not None:
                assert block.is_shell, (
                    f"{block.where}: a test marker before a {block.language} block"
                )


@needs_bash
@pytest.mark.parametrize("page", [GETTING_STARTED, README], ids=lambda p: p.name)
def test_documented_commands_run(page: Path, project: Project) -> None:
    blocks = code_blocks(page)
    last_runnable = max((i for i, b in enumerate(blocks) if b.marker == "run"), default=-1)
    root = project.root
    mismatches: dict[str, str] = {}
    for block in blocks[: last_runnable + 1]:
        if block.title is not None and not block.is_shell:
            write_titled_file(block, root)
        if block.marker != "run":
            continue
        if block.new_project:  # from here on, the page works in a new, empty project
            root = project.root.parent / f"new-project-{block.line}"
            root.mkdir()
            (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        if block.language != "console":
            done = run_script(block, root)
            assert done.returncode == 0, (
                f"{block.where} exited {done.returncode}:\n{block.script()}\n{done.stdout}"
            )
            continue
        for command, shown in block.commands():
            done = run_script(block, root, command)
            assert done.returncode == 0, (
                f"{block.where}: `{command}` exited {done.returncode}:\n{done.stdout}"
            )
            if any(line.strip() for line in shown) and not output_matches(shown, done.stdout, root):
                mismatches[f"{page.name}: `{command}`"] = (
                    f"printed\n{done.stdout}\nwhich the page does not show:\n" + "\n".join(shown)
                )
    _report(page, mismatches)


#: Output the pages show as it should be, which the code does not print yet: each names
#: the issue and the branch that fixes it. An entry that matches again must be removed.
KNOWN_MISMATCHES: dict[str, str] = {}


def _report(page: Path, mismatches: dict[str, str]) -> None:
    stale = [where for where in KNOWN_MISMATCHES if where.startswith(f"{page.name}: ")]
    stale = [where for where in stale if where not in mismatches]
    assert not stale, f"these pass now: remove them from KNOWN_MISMATCHES: {stale}"
    unexpected = {
        where: what for where, what in mismatches.items() if where not in KNOWN_MISMATCHES
    }
    assert not unexpected, "\n\n".join(f"{where} {what}" for where, what in unexpected.items())
    if mismatches:
        pytest.xfail("; ".join(KNOWN_MISMATCHES[where] for where in mismatches))


TEAM = DOCS / "team.md"


def expected_output(block: Block) -> list[str]:
    """The output lines a console block shows (``…`` stands for any text)."""
    return [line for line in block.text.splitlines() if line and not line.startswith("$ ")]


def shown_line_pattern(line: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(map(re.escape, line.split("\u2026"))) + "$")


@needs_bash
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_team_page_runs_with_real_git_and_shows_real_output(project: Project) -> None:
    """team.md's merge scenarios run in order, and every output line they show is real."""
    runnable = [b for b in code_blocks(TEAM) if b.marker == "run"]
    assert len(runnable) >= 7, "team.md lost its runnable merge scenarios"
    for block in runnable:
        done = run_script(block, project.root)
        output = done.stdout.splitlines()  # run_script merges standard error into it
        assert done.returncode == 0, (
            f"{block.where} exited {done.returncode}:\n{block.script()}\n{done.stdout}"
        )
        for line in expected_output(block):
            pattern = shown_line_pattern(line)
            assert any(pattern.match(real) for real in output), (
                f"{block.where}: the page shows\n{line}\nbut the commands printed\n"
                + "\n".join(output)
            )


# -- the README -----------------------------------------------------------------------------


def test_readme_starts_with_the_demo_and_the_test_suite_commands() -> None:
    text = README.read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    assert head.startswith("# pytest-vault\n")
    shell = [b for b in code_blocks(README) if b.is_shell]
    assert [b.text.strip() for b in shell[:2]] == [README_DEMO_COMMAND, README_TEST_COMMAND]
    # The local check runs the suite exactly as the README says.
    assert README_TEST_COMMAND in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert all(f"```bash\n{b.text}```" in head for b in shell[:2])
    assert "PUBLIC" in head or "public" in head


def test_readme_demo_runs_and_masks_its_secrets(tmp_path: Path) -> None:
    """The README's first command ends in ``(cd examples/demo && pytest)``: run that part.

    In a subshell, so the reader is back at the repository root for the next command."""
    assert README_DEMO_COMMAND.endswith("&& (cd examples/demo && pytest)")
    demo = tmp_path / "demo"
    shutil.copytree(REPO / "examples" / "demo", demo)
    environ = dict(os.environ)
    environ["PATH"] = os.pathsep.join([str(BIN), environ.get("PATH", "")])
    done = subprocess.run(
        [str(BIN / "pytest")],
        cwd=demo,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "vault: secrets.vault.toml (3 secrets)" in output
    token = subprocess.run(
        [CONSOLE_SCRIPT, "--key-file", "PUBLIC-DEMO-KEY.txt", "get", "DEMO_API_TOKEN"],
        cwd=demo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert token
    assert token not in output
    assert "<vault:DEMO_API_TOKEN>" in output


# -- the reference against the code ---------------------------------------------------------


def _help(*args: str, cwd: Path, bytecode_cache: Path, in_process: bool = False) -> str:
    # Module-scoped, so the function-scoped isolation fixture has not run yet: clean the
    # variables that would change what pytest loads.
    unset = {"PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "CI"}
    unset.add("PYTHONDONTWRITEBYTECODE")  # see `bytecode_cache`
    environ = {name: value for name, value in os.environ.items() if name not in unset}
    environ["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    if in_process:  # a command's --help: argparse's output, no process needed
        result = run_in_process(args, cwd=cwd, env={**os.environ, **environ})
        assert result.returncode == 0, result.output
        return result.stdout
    done = subprocess.run(
        list(args), cwd=cwd, env=environ, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class CodeNames:
    pytest_options: set[str]
    ini_names: set[str]
    commands: set[str]
    global_options: set[str]
    command_options: dict[str, set[str]]
    markers_help: str


@pytest.fixture(scope="module")
def code_names(tmp_path_factory: pytest.TempPathFactory, bytecode_cache: Path) -> CodeNames:
    """The names the code really has, read from ``--help`` of pytest and the console script."""
    folder = tmp_path_factory.mktemp("help")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    cache = bytecode_cache
    pytest_help = _help(sys.executable, "-m", "pytest", "--help", cwd=folder, bytecode_cache=cache)
    markers_help = _help(
        sys.executable, "-m", "pytest", "--markers", cwd=folder, bytecode_cache=cache
    )
    main_help = _help(CONSOLE_SCRIPT, "--help", cwd=folder, bytecode_cache=cache)
    commands = set(
        re.findall(r"(?m)^ {4}([a-z][a-z-]*)\b", main_help.split("positional arguments:")[1])
    )
    options = {
        command: _long_options(
            _help(command, "--help", cwd=folder, bytecode_cache=cache, in_process=True)
        )
        for command in sorted(commands)
    }
    return CodeNames(
        pytest_options=set(re.findall(r"--vault-[a-z-]+", pytest_help)),
        ini_names=set(re.findall(r"(?m)^\s+(vault_[a-z_]+) \(", pytest_help)),
        commands=commands,
        global_options=_long_options(main_help),
        command_options=options,
        markers_help=markers_help,
    )


def _long_options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text)) - {"--help"}


def test_the_code_has_what_the_tests_expect(code_names: CodeNames) -> None:
    # A guard against a silently broken --help parser: these names are in the contract.
    assert {"--vault-unlock", "--vault-reset", "--vault-file"} <= code_names.pytest_options
    assert {"vault_file", "vault_mask"} <= code_names.ini_names
    assert {"init", "set", "check", "import"} <= code_names.commands
    assert {"--file", "--key-file", "--no-keyring"} <= code_names.global_options


def test_reference_documents_exactly_the_pytest_options(code_names: CodeNames) -> None:
    table = section(REFERENCE.read_text(encoding="utf-8"), "pytest options")
    documented = set(re.findall(r"(?m)^\| `(--vault-[a-z-]+)", table))
    assert documented == code_names.pytest_options


def test_reference_documents_exactly_the_ini_options(code_names: CodeNames) -> None:
    table = section(REFERENCE.read_text(encoding="utf-8"), "ini options")
    documented = set(re.findall(r"(?m)^\| `(vault_[a-z_]+)`", table))
    assert documented == code_names.ini_names


def test_reference_documents_exactly_the_commands(code_names: CodeNames) -> None:
    console = section(REFERENCE.read_text(encoding="utf-8"), "The console script")
    documented = set(re.findall(r"(?m)^### `pytest-vault ([a-z][a-z-]*)\b", console))
    assert documented == code_names.commands


def test_reference_documents_exactly_the_command_options(code_names: CodeNames) -> None:
    console = section(REFERENCE.read_text(encoding="utf-8"), "The console script")
    documented = _long_options(console)
    existing = set(code_names.global_options).union(*code_names.command_options.values())
    assert documented - existing == set(), "documented but not in the console script"
    assert existing - documented == set(), "in the console script but not documented"
    for command, options in code_names.command_options.items():
        extra = options - code_names.global_options - {"--version"}
        part = re.search(rf"(?ms)^### `pytest-vault {command}[` ].*?(?=^### |\Z)", console)
        assert part is not None
        missing = {option for option in extra if option not in part.group(0)}
        assert not missing, f"`{command}` does not document {sorted(missing)}"


def test_every_vault_option_named_anywhere_exists(code_names: CodeNames) -> None:
    for page in documented_pages():
        named = set(re.findall(r"--vault-[a-z-]*[a-z]", page.read_text(encoding="utf-8")))
        unknown = named - code_names.pytest_options
        assert not unknown, f"{page.name} names options pytest does not have: {sorted(unknown)}"


def test_every_console_command_named_anywhere_exists(code_names: CodeNames) -> None:
    for page in documented_pages():
        named = {
            match
            for code in inline_code(page)
            for match in re.findall(r"(?<![=\w-])pytest-vault ([a-z][a-z-]*)\b", code)
        }
        unknown = named - code_names.commands
        assert not unknown, f"{page.name} names commands that do not exist: {sorted(unknown)}"


def test_reference_documents_the_hooks_fixture_and_marker(code_names: CodeNames) -> None:
    from pytest_vault import hookspecs

    text = REFERENCE.read_text(encoding="utf-8")
    hooks = {name for name in vars(hookspecs) if name.startswith("pytest_")}
    assert hooks
    for hook in hooks:
        assert f"## The `{hook}` hook" in text
    assert "@pytest.mark.vault(" in code_names.markers_help
    assert "### The `vault` fixture" in text
    assert "### The `vault` marker" in text


def test_pre_commit_hook_is_documented() -> None:
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    text = REFERENCE.read_text(encoding="utf-8")
    for hook in hooks:
        assert f"id: {hook['id']}" in text
        assert hook["entry"].split()[:1] == ["pytest-vault"]


# -- the site -------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed (the docs extra)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "reference" / "index.html").is_file()
