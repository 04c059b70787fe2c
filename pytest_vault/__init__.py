"""pytest-vault: encrypted test secrets for pytest.

The package is split into a pytest-free core (``key``, ``vaultfile``, ``keychain``,
``vault``, ``masking``, ``errors``, ``terminal``, ``settings``) and two thin front ends:
the pytest plugin (``plugin``) and the ``pytest-vault`` console script (``cli``).
Importing this package imports nothing heavy: ``cryptography`` and ``keyring`` load only
when a vault is opened.
"""

from __future__ import annotations

import os as _os
import sys as _sys

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


def _import_normally() -> None:
    """Take this package out of the modules pytest's assertion rewriter will rewrite.

    pytest marks every module of a plugin's distribution for rewriting before it imports
    the plugin; rewriting parses each module again (~3 M instructions each, a quarter of
    the plugin's cost in a run that never uses the vault). Done here, at the package's
    import, the plugin and every module it imports load through Python's own loader;
    `plugin.pytest_addoption` does it again should something mark the package later. Our
    modules rely on no rewritten assert. The hook's set is pytest's private API: if it
    changes, modules are rewritten again, nothing worse.
    """
    for finder in _sys.meta_path:
        must_rewrite = getattr(finder, "_must_rewrite", None)
        if isinstance(must_rewrite, set) and type(finder).__module__.startswith("_pytest."):
            must_rewrite.discard(__name__)


_import_normally()
