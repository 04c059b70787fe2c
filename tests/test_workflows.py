"""The GitHub workflows test what the project claims.

Every Python version the classifiers name is in the test matrix, each platform's real
keyring is tested with the backend keyring picks there by default, and every action is
pinned to the commit of a release, with the tag beside it. Whether the files are valid and
safe is for the tools `.ci/run` and the lint job run: check-jsonschema (GitHub's and
Dependabot's schemas), zizmor, and ``pre-commit validate-manifest``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from system_keyring import DEFAULT_BACKENDS, REAL_KEYRING_VARIABLE

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CI = REPO / ".github" / "workflows" / "ci.yml"
# owner/repo[/path]@<40 hex digits> # vMAJOR[.MINOR[.PATCH]]
PINNED = re.compile(r"([\w.-]+/[\w.-]+(?:/[\w./-]+)?)@([0-9a-f]{40}) # (v\d+(?:\.\d+){0,2})")
RUNNER_PLATFORMS = {"ubuntu": "linux", "macos": "darwin", "windows": "win32"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_matrix_tests_every_python_version_the_classifiers_claim() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefix = "Programming Language :: Python :: "
    claimed = {
        c.removeprefix(prefix)
        for c in project["classifiers"]
        if re.fullmatch(re.escape(prefix) + r"3\.\d+", c)
    }
    assert claimed
    matrix = load(CI)["jobs"]["tests"]["strategy"]["matrix"]
    assert set(matrix["python-version"]) == claimed
    oldest = min(claimed, key=lambda version: int(version.split(".")[1]))
    assert project["requires-python"] == f">={oldest}"
    assert {runner.split("-")[0] for runner in matrix["os"]} == set(RUNNER_PLATFORMS)


def test_each_platforms_real_keyring_is_tested_with_its_default_backend() -> None:
    job = load(CI)["jobs"]["real-keyring"]
    entries = job["strategy"]["matrix"]["include"]
    tested = {RUNNER_PLATFORMS[entry["os"].split("-")[0]]: entry["backend"] for entry in entries}
    assert tested == DEFAULT_BACKENDS
    assert len(entries) == len(tested)
    # The tests read the backend from this variable; CI turns a missing tool into a failure.
    assert job["env"] == {"CI": "true", REAL_KEYRING_VARIABLE: "${{ matrix.backend }}"}
    runs = [step["run"] for step in job["steps"] if "pytest" in step.get("run", "")]
    assert runs
    assert all("-m real_keyring" in run for run in runs)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_to_the_commit_of_a_release(workflow: Path) -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for line in workflow.read_text(encoding="utf-8").splitlines()
        if line.strip().removeprefix("- ").startswith("uses:")
    ]
    assert uses
    unpinned = [use for use in uses if not PINNED.fullmatch(use)]
    assert not unpinned, f"not pinned as owner/repo@<commit> # <tag>: {unpinned}"


def test_one_action_is_pinned_to_one_release_everywhere() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for workflow in WORKFLOWS:
        for action, commit, tag in PINNED.findall(workflow.read_text(encoding="utf-8")):
            pins.setdefault(action, set()).add((commit, tag))
    assert pins
    assert {action: pin for action, pin in pins.items() if len(pin) > 1} == {}
