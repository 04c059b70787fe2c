"""The two lengths the masking contract is written in (imported alone by the console script)."""

from __future__ import annotations

__all__ = ["FRAGMENT_LENGTH", "MIN_MASKED_LENGTH"]

MIN_MASKED_LENGTH = 4
"""Values (and lines of values) shorter than this are not masked: they would garble text."""

FRAGMENT_LENGTH = 10
"""No run of this many consecutive characters of a sensitive region survives masking."""
