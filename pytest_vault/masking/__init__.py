"""The masking engine: replace what reveals a secret in a text with ``<vault:NAME>``.

Pure Python, no pytest import. The package, by job:

* `limits`: the two lengths the contract is written in;
* `regions`: which parts of a value are sensitive (the precision rule);
* `forms`: how a value is written when escaped (repr, JSON, URL quoting, XML, ...);
* `index`: the gram index that finds common runs with those forms in linear time;
* `masker`: the `Masker`, deciding what is masked and naming it;
* `github`: the ``::add-mask::`` lines for GitHub Actions.

Importing the package costs nearly nothing (the console script needs only the limits);
the rest loads when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .limits import FRAGMENT_LENGTH, MIN_MASKED_LENGTH

if TYPE_CHECKING:
    from .github import github_add_mask_lines, short_secret_names
    from .masker import KEY_NAME, Masker

__all__ = [
    "FRAGMENT_LENGTH",
    "KEY_NAME",
    "MIN_MASKED_LENGTH",
    "Masker",
    "github_add_mask_lines",
    "short_secret_names",
]

_LAZY = {
    "Masker": "masker",
    "KEY_NAME": "masker",
    "github_add_mask_lines": "github",
    "short_secret_names": "github",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
