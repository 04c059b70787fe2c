"""pytest-xdist support: the controller looks the key up once and hands it to workers.

The key travels in ``workerinput`` over xdist's own channel (never an environment
variable, which every subprocess of a test would inherit, nor a command-line argument).
Workers never prompt and never read the keyring. Plain-TCP ``socket`` gateways are
refused: the key would cross the network unencrypted.
"""

from __future__ import annotations

from typing import Any

import pytest

from .errors import NoKeyError, VaultError
from .state import VaultState


class XdistKeyHandover:
    """Controller-side hooks, registered only when pytest-xdist is active."""

    def __init__(self, state: VaultState) -> None:
        self.state = state
        self._handover: dict[str, str] | None = None

    def _result(self) -> dict[str, str]:
        if self._handover is None:
            try:
                found = self.state.found_key()
            except NoKeyError as exc:
                self._handover = {"kind": "missing", "error": str(exc)}
            except VaultError as exc:
                self._handover = {"kind": "wrong", "error": str(exc)}
            else:
                self._handover = {"key": found.key.text(), "source": found.source}
        return self._handover

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if not self.state.exists():
            return
        spec = getattr(getattr(node, "gateway", None), "spec", None)
        if spec is not None and getattr(spec, "socket", None):
            raise pytest.UsageError(
                "pytest-vault does not send the vault key over a plain-TCP socket gateway "
                f"({spec}); use popen or ssh workers."
            )
        node.workerinput["pytest_vault"] = self._result()


def refuse_socket_gateways(config: pytest.Config) -> None:
    """Stop before any worker starts when a ``--tx socket=...`` gateway is configured."""
    for spec in config.getoption("tx", None) or []:
        # "2*socket=host:port" starts two gateways of one spec (xdist's multiplier).
        count, star, rest = str(spec).partition("*")
        text = rest if star and count.strip().isdigit() else str(spec)
        for part in text.split("//"):
            if part.strip().startswith("socket="):
                raise pytest.UsageError(
                    "pytest-vault does not send the vault key over a plain-TCP socket "
                    f"gateway ({spec}); use popen or ssh workers."
                )
