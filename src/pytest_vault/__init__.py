"""pytest-vault: encrypted test secrets for pytest.

The package is split into a pytest-free core (``key``, ``vaultfile``, ``keychain``,
``vault``, ``masking``, ``errors``, ``terminal``, ``settings``) and two thin front ends:
the pytest plugin (``plugin``) and the ``pytest-vault`` console script (``cli``).
Importing this package imports nothing heavy: ``cryptography`` and ``keyring`` load only
when a vault is opened.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
