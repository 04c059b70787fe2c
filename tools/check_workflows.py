"""Structural checks of the repository's GitHub Actions and pre-commit files.

actionlint cannot be installed everywhere (its Python wheel downloads a binary), so this
checks, in plain Python with PyYAML, the mistakes that break a workflow before it runs:

- every file parses as YAML, without duplicate keys;
- a workflow has ``on`` and ``jobs``, and only known top-level, job and step keys;
- a job has ``runs-on`` and ``steps``, or ``uses`` (a reusable workflow);
- a step has exactly one of ``run`` and ``uses``;
- every ``uses`` is ``owner/repo[/path]@ref``, a local ``./path`` or ``docker://image``;
- every ``${{`` is closed by ``}}``, and no expression is empty;
- ``needs`` names existing jobs (and no cycle), ``needs.X`` names a job in ``needs``;
- every ``matrix.X`` used in a job is a key of that job's matrix;
- ``permissions`` use known scopes and levels;
- ``.github/dependabot.yml`` and ``.pre-commit-hooks.yaml`` have their required entries.

Usage: ``python tools/check_workflows.py [REPOSITORY_ROOT]``. Exits 1 and lists the
problems when there are any.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

WORKFLOW_KEYS = frozenset(
    {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
)
JOB_KEYS = frozenset(
    {
        "name",
        "needs",
        "permissions",
        "if",
        "runs-on",
        "environment",
        "concurrency",
        "outputs",
        "env",
        "defaults",
        "steps",
        "timeout-minutes",
        "strategy",
        "continue-on-error",
        "container",
        "services",
        "uses",
        "with",
        "secrets",
        "snapshot",
    }
)
REUSABLE_JOB_KEYS = frozenset(
    {"name", "needs", "permissions", "if", "uses", "with", "secrets", "strategy", "concurrency"}
)
STEP_KEYS = frozenset(
    {
        "id",
        "if",
        "name",
        "uses",
        "run",
        "shell",
        "with",
        "env",
        "continue-on-error",
        "timeout-minutes",
        "working-directory",
    }
)
EVENTS = frozenset(
    {
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    }
)
PERMISSION_SCOPES = frozenset(
    {
        "actions",
        "attestations",
        "checks",
        "contents",
        "deployments",
        "discussions",
        "id-token",
        "issues",
        "models",
        "packages",
        "pages",
        "pull-requests",
        "repository-projects",
        "security-events",
        "statuses",
    }
)
PERMISSION_LEVELS = frozenset({"read", "write", "none"})
DEPENDABOT_ECOSYSTEMS = frozenset(
    {
        "bundler",
        "cargo",
        "composer",
        "devcontainers",
        "docker",
        "docker-compose",
        "dotnet-sdk",
        "elm",
        "github-actions",
        "gitsubmodule",
        "gomod",
        "gradle",
        "helm",
        "maven",
        "mix",
        "npm",
        "nuget",
        "pip",
        "pub",
        "swift",
        "terraform",
        "uv",
    }
)
DEPENDABOT_INTERVALS = frozenset(
    {"daily", "weekly", "monthly", "quarterly", "semiannually", "yearly", "cron"}
)
PRE_COMMIT_LANGUAGES = frozenset(
    {
        "conda",
        "coursier",
        "dart",
        "docker",
        "docker_image",
        "dotnet",
        "fail",
        "golang",
        "haskell",
        "julia",
        "lua",
        "node",
        "perl",
        "pygrep",
        "python",
        "r",
        "ruby",
        "rust",
        "script",
        "swift",
        "system",
        "unsupported",
        "unsupported_script",
    }
)

ACTION_REF = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[^@\s]+\Z")
JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
MATRIX_REF = re.compile(r"\bmatrix\.([A-Za-z_][A-Za-z0-9_-]*)")
NEEDS_REF = re.compile(r"\bneeds\.([A-Za-z_][A-Za-z0-9_-]*)")


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans (``on`` stays a string) and an error on duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class Problems:
    """The problems found, each prefixed with the file (relative to the root) it is in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[str] = []

    def add(self, path: Path, message: str) -> None:
        try:
            shown = path.relative_to(self.root)
        except ValueError:
            shown = path
        self.items.append(f"{shown}: {message}")


UNREADABLE: Any = object()


def load(path: Path, problems: Problems) -> Any:
    """The parsed document, or `UNREADABLE` (the problem is recorded)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, f"cannot be read ({exc})")
    except yaml.YAMLError as exc:
        problems.add(path, f"is not valid YAML: {' '.join(str(exc).split())}")
    return UNREADABLE


def strings(node: Any) -> Iterator[str]:
    """Every string value (not key) in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def expressions(text: str) -> tuple[list[str], list[str]]:
    """The ``${{ }}`` expressions in ``text``, and what is wrong with their brackets."""
    found: list[str] = []
    errors: list[str] = []
    position = 0
    while True:
        start = text.find("${{", position)
        if start < 0:
            return found, errors
        end = text.find("}}", start + 3)
        nested = text.find("${{", start + 3)
        if end < 0:
            errors.append(f"unclosed expression {_excerpt(text[start:])}")
            return found, errors
        if 0 <= nested < end:
            errors.append(f"an expression opens inside another: {_excerpt(text[start:])}")
        body = text[start + 3 : end].strip()
        if not body:
            errors.append("an empty expression ${{ }}")
        found.append(body)
        position = end + 2


def _excerpt(text: str) -> str:
    line = text.splitlines()[0] if text else text
    return repr(line[:60] + ("..." if len(line) > 60 else ""))


def check_permissions(path: Path, where: str, value: Any, problems: Problems) -> None:
    if isinstance(value, str):
        if value not in ("read-all", "write-all"):
            problems.add(path, f"{where}permissions: {value!r} is not read-all or write-all")
        return
    if not isinstance(value, dict):
        problems.add(path, f"{where}permissions must be a mapping or read-all/write-all")
        return
    for scope, level in value.items():
        if scope not in PERMISSION_SCOPES:
            problems.add(path, f"{where}permissions: unknown scope {scope!r}")
        if level not in PERMISSION_LEVELS:
            problems.add(
                path, f"{where}permissions: {scope} = {level!r} is not read, write or none"
            )


def check_uses(path: Path, where: str, uses: Any, problems: Problems) -> None:
    if not isinstance(uses, str):
        problems.add(path, f"{where}uses must be a string")
        return
    if uses.startswith(("./", "docker://")):
        return
    if not ACTION_REF.match(uses):
        problems.add(
            path, f"{where}uses {uses!r} is not owner/repo[/path]@ref, ./path or docker://image"
        )


def matrix_keys(job: dict[str, Any]) -> set[str] | None:
    """The keys ``matrix.X`` may use in this job; None when the matrix is computed."""
    strategy = job.get("strategy")
    if not isinstance(strategy, dict) or "matrix" not in strategy:
        return set()
    matrix = strategy["matrix"]
    if not isinstance(matrix, dict):
        return None  # e.g. ${{ fromJSON(...) }}: cannot be known statically
    keys = {key for key in matrix if key not in ("include", "exclude")}
    include = matrix.get("include", [])
    if isinstance(include, list):
        for entry in include:
            if isinstance(entry, dict):
                keys.update(entry)
    elif isinstance(include, str):
        return None
    return keys


def needs_of(path: Path, job_id: str, job: dict[str, Any], problems: Problems) -> list[str]:
    needs = job.get("needs", [])
    if isinstance(needs, str):
        return [needs]
    if isinstance(needs, list) and all(isinstance(item, str) for item in needs):
        return list(needs)
    problems.add(path, f"job {job_id}: needs must be a job id or a list of job ids")
    return []


def check_workflow(path: Path, problems: Problems) -> None:
    document = load(path, problems)
    if document is UNREADABLE:
        return
    if not isinstance(document, dict):
        problems.add(path, "a workflow must be a mapping (is the file empty?)")
        return
    for key in document:
        if key not in WORKFLOW_KEYS:
            problems.add(path, f"unknown top-level key {key!r}")
    check_triggers(path, document, problems)
    if "permissions" in document:
        check_permissions(path, "", document["permissions"], problems)
    for text in strings(document):
        for error in expressions(text)[1]:
            problems.add(path, error)
    jobs = document.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        problems.add(path, "has no jobs")
        return
    all_needs: dict[str, list[str]] = {}
    for job_id, job in jobs.items():
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            problems.add(path, f"job id {job_id!r} is not a valid id")
        if not isinstance(job, dict):
            problems.add(path, f"job {job_id}: must be a mapping")
            continue
        all_needs[job_id] = needs_of(path, job_id, job, problems)
        check_job(path, str(job_id), job, jobs=jobs, needs=all_needs[job_id], problems=problems)
    check_cycles(path, all_needs, problems)


def check_triggers(path: Path, document: dict[str, Any], problems: Problems) -> None:
    if "on" not in document:
        problems.add(path, "has no 'on' (the events that start it)")
        return
    triggers = document["on"]
    if isinstance(triggers, str):
        events = [triggers]
    elif isinstance(triggers, list):
        events = triggers
    elif isinstance(triggers, dict):
        events = list(triggers)
    else:
        problems.add(path, "'on' must be an event, a list of events or a mapping")
        return
    for event in events:
        if event not in EVENTS:
            problems.add(path, f"unknown event {event!r} in 'on'")


def check_job(
    path: Path,
    job_id: str,
    job: dict[str, Any],
    *,
    jobs: dict[str, Any],
    needs: list[str],
    problems: Problems,
) -> None:
    where = f"job {job_id}: "
    reusable = "uses" in job
    allowed = REUSABLE_JOB_KEYS if reusable else JOB_KEYS
    for key in job:
        if key not in allowed:
            problems.add(path, f"{where}unknown key {key!r}")
    for name in needs:
        if name == job_id:
            problems.add(path, f"{where}needs itself")
        elif name not in jobs:
            problems.add(path, f"{where}needs {name!r}, which is not a job of this workflow")
    if "permissions" in job:
        check_permissions(path, where, job["permissions"], problems)
    if reusable:
        check_uses(path, where, job["uses"], problems)
    else:
        if "runs-on" not in job:
            problems.add(path, f"{where}has no runs-on")
        steps = job.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.add(path, f"{where}has no steps")
        else:
            check_steps(path, where, steps, problems)
    keys = matrix_keys(job)
    for text in strings({k: v for k, v in job.items() if k != "strategy"}):
        for body in expressions(text)[0]:
            if keys is not None:
                for name in MATRIX_REF.findall(body):
                    if name not in keys:
                        problems.add(path, f"{where}matrix.{name} is not a key of its matrix")
            for name in NEEDS_REF.findall(body):
                if name not in needs:
                    problems.add(path, f"{where}needs.{name} is used but {name} is not in needs")


def check_steps(path: Path, where: str, steps: list[Any], problems: Problems) -> None:
    ids: set[str] = set()
    for number, step in enumerate(steps, start=1):
        at = f"{where}step {number}: "
        if not isinstance(step, dict):
            problems.add(path, f"{at}must be a mapping")
            continue
        for key in step:
            if key not in STEP_KEYS:
                problems.add(path, f"{at}unknown key {key!r}")
        kinds = [key for key in ("run", "uses") if key in step]
        if len(kinds) != 1:
            problems.add(path, f"{at}needs exactly one of run and uses (has {kinds or 'neither'})")
        if "uses" in step:
            check_uses(path, at, step["uses"], problems)
        if "run" in step and not isinstance(step["run"], str):
            problems.add(path, f"{at}run must be a string")
        for key in ("with", "env"):
            if key in step and not isinstance(step[key], dict):
                problems.add(path, f"{at}{key} must be a mapping")
        step_id = step.get("id")
        if isinstance(step_id, str):
            if step_id in ids:
                problems.add(path, f"{at}duplicate step id {step_id!r}")
            ids.add(step_id)


def check_cycles(path: Path, needs: dict[str, list[str]], problems: Problems) -> None:
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(job: str, trail: list[str]) -> None:
        if state.get(job) == 2:
            return
        if state.get(job) == 1:
            cycle = [*trail[trail.index(job) :], job]
            problems.add(path, f"jobs need each other in a cycle: {' -> '.join(cycle)}")
            return
        state[job] = 1
        for other in needs.get(job, []):
            if other in needs:
                visit(other, [*trail, job])
        state[job] = 2

    for job in needs:
        visit(job, [])


def check_dependabot(path: Path, problems: Problems) -> None:
    document = load(path, problems)
    if document is UNREADABLE:
        return
    if not isinstance(document, dict):
        problems.add(path, "must be a mapping")
        return
    if document.get("version") != 2:
        problems.add(path, "version must be 2")
    updates = document.get("updates")
    if not isinstance(updates, list) or not updates:
        problems.add(path, "has no updates")
        return
    for number, update in enumerate(updates, start=1):
        at = f"update {number}: "
        if not isinstance(update, dict):
            problems.add(path, f"{at}must be a mapping")
            continue
        if update.get("package-ecosystem") not in DEPENDABOT_ECOSYSTEMS:
            problems.add(path, f"{at}unknown package-ecosystem {update.get('package-ecosystem')!r}")
        if "directory" not in update and "directories" not in update:
            problems.add(path, f"{at}has no directory")
        schedule = update.get("schedule")
        interval = schedule.get("interval") if isinstance(schedule, dict) else None
        if interval not in DEPENDABOT_INTERVALS:
            problems.add(path, f"{at}schedule.interval {interval!r} is not a known interval")


def check_pre_commit_hooks(path: Path, problems: Problems) -> None:
    document = load(path, problems)
    if document is UNREADABLE:
        return
    if not isinstance(document, list) or not document:
        problems.add(path, "must be a non-empty list of hooks")
        return
    seen: set[str] = set()
    for number, hook in enumerate(document, start=1):
        at = f"hook {number}: "
        if not isinstance(hook, dict):
            problems.add(path, f"{at}must be a mapping")
            continue
        for key in ("id", "name", "entry", "language"):
            if not isinstance(hook.get(key), str) or not hook[key].strip():
                problems.add(path, f"{at}has no {key}")
        if hook.get("id") in seen:
            problems.add(path, f"{at}duplicate id {hook['id']!r}")
        seen.add(str(hook.get("id")))
        if "language" in hook and hook["language"] not in PRE_COMMIT_LANGUAGES:
            problems.add(path, f"{at}unknown language {hook['language']!r}")
        for key in ("files", "exclude"):
            if key in hook:
                try:
                    re.compile(hook[key])
                except (re.error, TypeError) as exc:
                    problems.add(path, f"{at}{key} is not a valid regular expression ({exc})")
        for key in ("pass_filenames", "always_run", "require_serial", "verbose"):
            if key in hook and not isinstance(hook[key], bool):
                problems.add(path, f"{at}{key} must be true or false")


def check(root: Path) -> list[str]:
    """Check every file under ``root``; return the problems found."""
    problems = Problems(root)
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    if not workflows:
        problems.add(root / ".github" / "workflows", "holds no workflow files")
    for path in workflows:
        check_workflow(path, problems)
    dependabot = root / ".github" / "dependabot.yml"
    if dependabot.exists():
        check_dependabot(dependabot, problems)
    hooks = root / ".pre-commit-hooks.yaml"
    if hooks.exists():
        check_pre_commit_hooks(hooks, problems)
    return problems.items


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT
    problems = check(root)
    if problems:
        print(f"{len(problems)} problem(s) in the workflow files:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    checked = [path.name for path in (root / ".github" / "workflows").glob("*.y*ml")]
    checked += [
        name
        for name in (".github/dependabot.yml", ".pre-commit-hooks.yaml")
        if (root / name).exists()
    ]
    print(f"No problems in {', '.join(sorted(checked))}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
