"""Under GitHub Actions: ``::add-mask::`` for every secret and key, once per run."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pytest_vault.masking import KEY_NAME, github_add_mask_lines
from pytest_vault.state import VaultState
from pytest_vault.streams import MaskingStream


def write_github_masks(config: pytest.Config, state: VaultState) -> None:
    """Write the workflow commands past the masking nets, at the start of a line."""
    values = dict(state.vault().items())
    # Names no secret can have (they hold a space): the keys join the secrets.
    values.update({f"{KEY_NAME} {n}": key for n, key in enumerate(state.key_texts(), 1)})
    text = "".join(line + "\n" for line in github_add_mask_lines(values))
    # Past the terminal net (which would mask the values), on the terminal's own stream,
    # and at the start of a line: the runner reads workflow commands only there.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer: Any = getattr(reporter, "_tw", None)
    stream: Any = getattr(writer, "_file", None)
    if stream is None:
        stream = sys.__stdout__ or sys.stdout
    if isinstance(stream, MaskingStream):
        stream = stream.unmasked
    if writer is not None and writer.width_of_current_line:
        text = "\n" + text
    stream.write(text)
    stream.flush()
