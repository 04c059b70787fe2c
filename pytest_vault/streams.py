"""Masking text written straight to a stream: the last net under everything else.

Three places get it, once the vault is open (before that there is nothing to mask):

- ``sys.stdout`` and ``sys.stderr``, wrapped before pytest's capture saves them (so
  wherever capture puts them back, and ``--capture=tee-sys``'s copy, is masked): what
  ``conftest.py`` hooks print outside tests, ``pytest.exit`` messages, warnings and
  tracebacks Python prints itself at the end of a session;
- the terminal writer's file (`reportmask` installs it when it is not one of the above);
- pytest's hook trace (``--debug`` file, ``PYTEST_DEBUG``), which prints every hook's
  arguments and results; a text shaped like a vault key is masked there even before the
  vault opens (the ``pytest_vault_key`` hook's result is traced before the plugin sees it).

Imported at start-up when a vault file exists: it imports nothing heavy.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import pytest

if TYPE_CHECKING:
    from .masking import Masker
    from .vault import Vault


class MaskerSlot:
    """The run's masker, handed over once when the vault opens (`VaultState` owns it)."""

    __slots__ = ("masker",)

    def __init__(self) -> None:
        self.masker: Masker | None = None

    def opened(self, vault: Vault, masker: Masker | None) -> None:
        self.masker = masker or None  # a masker without secrets masks nothing


slot_key = pytest.StashKey[MaskerSlot]()
#: masking.MIN_MASKED_LENGTH, without importing the masking engine at start-up.
MIN_MASKED_LENGTH = 4


def masker_slot(config: pytest.Config) -> MaskerSlot:
    slot = config.stash.get(slot_key, None)
    if slot is None:
        slot = config.stash[slot_key] = MaskerSlot()
    return slot


class CleanTexts(Protocol):
    def is_clean(self, text: str) -> bool: ...


class MaskingStream:
    """Wraps a text stream: every write is masked once the vault is open."""

    #: Short texts seen (source lines, separators) and what they mask to; emptied when full.
    CACHE_TEXT = 200
    CACHE_SIZE = 4096

    def __init__(self, stream: TextIO, slot: Any, memo: CleanTexts | None = None) -> None:
        self._stream = stream
        #: Anything with a ``masker`` attribute (a `MaskerSlot`).
        self._slot = slot
        #: Big texts known to be masked already (the terminal reporter's report sections).
        self.memo = memo
        self._cache: dict[str, str] = {}

    @property
    def unmasked(self) -> TextIO:
        """The stream this one writes to (itself unwrapped, if it was wrapped twice)."""
        stream = self._stream
        while isinstance(stream, MaskingStream):
            stream = stream._stream
        return stream

    def write(self, text: str) -> int:
        if len(text) < MIN_MASKED_LENGTH:  # progress characters: no secret is this short
            return self._stream.write(text)
        masker = self._slot.masker
        if not masker or type(text) is not str:
            return self._stream.write(text)
        if len(text) <= self.CACHE_TEXT:
            masked = self._cache.get(text)
            if masked is None:
                if len(self._cache) >= self.CACHE_SIZE:
                    self._cache.clear()
                masked = self._cache[text] = masker.mask(text)
            return self._stream.write(masked)
        if self.memo is None or not self.memo.is_clean(text):
            text = masker.mask(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:  # after every progress character: not through __getattr__
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def wrap_std_streams(config: pytest.Config) -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (called before capture starts)."""
    slot = masker_slot(config)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, MaskingStream):
            setattr(sys, name, MaskingStream(stream, slot))


#: A vault key's text form (key.KEY_PREFIX + 58 base32 characters), in any case.
_KEY_SHAPE = re.compile(r"PYTEST-VAULT-KEY-1[A-Z2-7]{58}", re.IGNORECASE)


class MaskedTrace:
    """pytest's trace writer, masked: secrets once the vault is open, keys always."""

    def __init__(self, write: Callable[[str], object], slot: MaskerSlot) -> None:
        self.write = write
        self.slot = slot

    def __call__(self, text: str) -> object:
        masker = self.slot.masker
        if masker is not None:
            text = masker.mask(text)
        if "VAULT-KEY" in text.upper():
            text = _KEY_SHAPE.sub("<vault:key>", text)
        return self.write(text)


def mask_trace(config: pytest.Config) -> None:
    """Mask pytest's hook trace, when ``--debug`` or ``PYTEST_DEBUG`` turned it on."""
    root = getattr(config.trace, "root", None)
    write = getattr(root, "_writer", None)
    if root is not None and write is not None and not isinstance(write, MaskedTrace):
        root.setwriter(MaskedTrace(write, masker_slot(config)))
