"""pytest plugin entry point (``pytest11`` name ``vault``)."""

from __future__ import annotations
