"""What the plugin hands to a GitHub Actions runner, and which values are too short to mask."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from .limits import MIN_MASKED_LENGTH

__all__ = ["github_add_mask_lines", "short_secret_names"]


def short_secret_names(secrets: Mapping[str, str]) -> list[str]:
    """Names whose values are 1 to 3 characters: too short to mask (``set`` warns)."""
    return sorted(name for name, value in secrets.items() if 0 < len(value) < MIN_MASKED_LENGTH)


def _line_forms(value: str) -> Iterator[str]:
    """Every text a runner may see of ``value`` on one log line or as a whole.

    The value itself; without its trailing line break (a one-line value ending in a
    newline prints as the line alone); and each line, as written and without its
    surrounding whitespace.
    """
    yield value
    yield value.rstrip("\r\n")
    for line in value.splitlines():
        yield line
        yield line.strip()


def github_add_mask_lines(secrets: Mapping[str, str], *, keys: Sequence[str] = ()) -> list[str]:
    """``::add-mask::`` workflow commands for every value, key and line form of them.

    Values and lines of fewer than MIN_MASKED_LENGTH characters besides surrounding
    whitespace are skipped; the data is escaped the way the runner unescapes workflow
    commands.
    """
    commands: list[str] = []
    seen: set[str] = set()
    for value in [*secrets.values(), *keys]:
        if len(value) < MIN_MASKED_LENGTH:
            continue
        for text in _line_forms(value):
            if len(text.strip()) < MIN_MASKED_LENGTH or text in seen:
                continue
            seen.add(text)
            escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            commands.append(f"::add-mask::{escaped}")
    return commands
