"""pytest-vault: encrypted test secrets for pytest.

The package is split into a pytest-free core (``key``, ``vaultfile``, ``keychain``,
``vault``, ``masking``, ``errors``, ``terminal``, ``settings``) and two thin front ends:
the pytest plugin (``plugin``) and the ``pytest-vault`` console script (``cli``).
Importing this package imports nothing heavy: ``cryptography`` and ``keyring`` load only
when a vault is opened.
"""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"
__all__ = ["__version__"]


def _stdin_is_tty() -> bool:
    try:
        return _os.isatty(0)
    except OSError:  # pragma: no cover
        return False


# Whether standard input was a terminal when the process started (see `terminal`). Here,
# not in `terminal`: pytest points file descriptor 0 at /dev/null before any hook runs, so
# it must be asked at import, and the plugin should not import `terminal` in every run.
_STDIN_WAS_TTY = _stdin_is_tty()
