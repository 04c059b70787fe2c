"""The end-of-run line for vault tests that were skipped, with the fix.

pytest shows skip reasons only with ``-rs``; a run whose vault tests quietly skipped (no
key on this machine, a secret nobody added yet) should say so anyway, in one line. The
skipped reports are read once at the end (no per-test cost), recognised by the reasons
`state` and `plugin` give them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

# The reasons state.locked_reason() and plugin._require_names() give.
_LOCKED = "Skipped: vault locked:"
_LACKS = re.compile(r"^Skipped: the vault \S+ lacks (?P<names>[\w, ]+?) \(add it with")


def _reason(report: object) -> str:
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return ""


def skip_summary(skipped: Sequence[object], config: pytest.Config) -> str | None:
    """One line: how many vault tests were skipped, why, and what to do; None if none."""
    from .state import get_state

    no_key = 0
    missing: dict[str, int] = {}
    lacking_tests = 0
    for report in skipped:
        if getattr(report, "when", "setup") != "setup":
            continue
        reason = _reason(report)
        if reason.startswith(_LOCKED):
            no_key += 1
            continue
        match = _LACKS.match(reason)
        if match:
            lacking_tests += 1
            for name in match["names"].split(", "):
                missing[name] = missing.get(name, 0) + 1
    total = no_key + lacking_tests
    if not total:
        return None
    state = get_state(config)
    vault = state.path.name
    parts: list[str] = []
    if no_key:
        if state.exists():
            parts.append(
                f"no key for {vault} (set {state.settings.key_env} or PYTEST_VAULT_KEY_FILE, "
                "or run `pytest --vault-unlock`)"
            )
        else:
            parts.append(
                f"there is no vault file {vault} (create it with `pytest --vault-unlock` or "
                "`pytest-vault init`)"
            )
    if lacking_tests:
        names = sorted(missing)
        them = "it" if len(names) == 1 else "them"
        parts.append(
            f"{vault} lacks {', '.join(names)} (add {them} with `pytest-vault set {names[0]}`)"
        )
    if len(parts) == 1:
        return f"vault: {_tests(total)} skipped: {parts[0]}"
    return (
        f"vault: {_tests(total)} skipped: {no_key} because {parts[0]}; "
        f"{lacking_tests} because {parts[1]}"
    )


def _tests(count: int) -> str:
    return f"{count} test{'s' * (count != 1)}"
