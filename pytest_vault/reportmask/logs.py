"""Live logging and the log file: masked as the handlers format, ``caplog`` left alone.

A ``logging.Filter`` that edited records would also change what ``caplog`` shows the test
(the record objects are shared between handlers), so the handlers' ``format`` is wrapped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_vault.masking import Masker


class MaskedFormat:
    """A handler's ``format`` that masks what the original formatter produced."""

    def __init__(self, original: Any, masker: Masker) -> None:
        self.original = original
        self.masker = masker

    def __call__(self, record: logging.LogRecord) -> str:
        return self.masker.mask(self.original(record))


def mask_log_handlers(config: pytest.Config, names: tuple[str, ...], masker: Masker) -> None:
    """Wrap the ``format`` of the logging plugin's handlers ``names``."""
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    if plugin is None:
        return
    for name in names:
        handler = getattr(plugin, name, None)
        if isinstance(handler, logging.Handler) and not isinstance(handler.format, MaskedFormat):
            handler.format = MaskedFormat(handler.format, masker)  # type: ignore[method-assign]
