"""Keeping secret values out of everything pytest prints or writes.

The masking happens at the few places all output passes through (research.md, "choke
points"), so that every reporter downstream (terminal, ``-rA``, JUnit XML, the cache,
xdist, third-party reporters) only ever sees masked text. The layers, each switchable on
its own (``tests/test_leaks.py`` removes them one by one), by module:

- `layers`: test reports (and subtests' copies of them) when they are logged
  (`pytest_runtest_logreport`, first: pytest logs each report right after making it);
  collection reports, as they are made; node ids of items whose parametrize ids hold a
  secret (renamed as their collector makes them, before ``--lf``, the cache or xdist see
  them); warnings, before any reporter records them; generated parametrize ids; internal
  errors. Under xdist, workers mask before sending and tell the controller their vault is
  open; the controller then opens its own and masks again;
- `walker`: the one walker over a report's strings that both finds and rewrites them;
- `logs`: the live-log and log-file handlers' formatting (``caplog`` keeps the records);
- `junit`: the JUnit fixtures that write into the XML file directly;
- `files`: report files of other plugins masked in place, values stored in the cache,
  other files holding a secret named in a warning;
- `github`: under GitHub Actions, ``::add-mask::`` for every secret and key, once;
- ``pytest_vault.streams`` (outside this package: installed at start-up): the terminal
  writer's file, ``sys.stdout`` / ``sys.stderr`` and pytest's hook trace, as a last net.

The layers are registered when the vault opens (`register_layers`), so a run that never
opens it pays nothing per test; they then ask the `Masker` first whether a report's texts
hold a secret at all (one look at all of them), so tests that involve no secret cost
little; captured output, which a test's later reports repeat and the terminal prints
again, is masked once (`walker.TextMemo`).
"""

from __future__ import annotations

import pytest

from pytest_vault.state import VaultState


def register_layers(config: pytest.Config, state: VaultState) -> None:
    """Register the masking layers now; they start masking when the vault opens.

    `plugin.py` calls this when the vault opens (at once on an xdist controller): before
    that there is nothing to mask. Registered late, the layers still get their
    `pytest_configure` (a historic hook: pluggy replays it), so the terminal net is
    installed then. The state hands each its masker once, when the vault opens.
    """
    from .files import FileMasks
    from .layers import CollectReportMasks, MaskingLayers

    layers = MaskingLayers(config, state)
    files = FileMasks(config, state)
    config.pluginmanager.register(layers, "vault-masking")
    config.pluginmanager.register(CollectReportMasks(layers), "vault-masking-collect")
    config.pluginmanager.register(files, "vault-masking-files")
    state.when_open(layers)
    state.when_open(files)


def register_junit_masks(config: pytest.Config) -> None:
    """Register the JUnit fixture overrides (`junit.JunitRecordMasks`), before collection."""
    from .junit import JunitRecordMasks

    config.pluginmanager.register(JunitRecordMasks(), "vault-masking-junit")
