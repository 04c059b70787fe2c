"""Unlock and decrypt one vault: ``python _unlock_worker.py FILE [REPEAT]``.

The key comes from ``PYTEST_VAULT_KEY``, as in CI. The unlock is ``VaultFile.load`` +
``find_key`` + ``decrypt_all``. Without REPEAT: one unlock in this fresh process, the
like-for-like counterpart of ``sops -d`` and ``ansible-vault decrypt``. With REPEAT, CPU
times (``time.process_time``) are printed as JSON: ``cold``, the first unlock including the
imports it needs (``cryptography``, the vault modules) and building the masker for the
values, as the plugin does when a test first asks for the vault (what a pytest run pays
once); ``unlock`` and ``masker``, its two parts; and ``warm``, REPEAT more unlocks (the
work alone, to show how it grows; the caller takes their minimum, the least disturbed by
other work on the machine).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def unlock(path: Path) -> dict[str, str]:
    from pytest_vault.keychain import KeyLookup, find_key
    from pytest_vault.vaultfile import VaultFile

    vault_file = VaultFile.load(path)
    found = find_key(vault_file.header, KeyLookup(path=path, environ=os.environ, no_keyring=True))
    return vault_file.decrypt_all(found.key)


def main() -> None:
    path = Path(sys.argv[1])
    if len(sys.argv) < 3:
        unlock(path)
        return
    expected = int(os.environ.get("BENCH_EXPECTED", "-1"))
    start = time.process_time()
    values = unlock(path)
    unlocked = time.process_time()
    from pytest_vault.masking import Masker

    Masker(values)
    cold = time.process_time() - start
    masker = time.process_time() - unlocked
    warm = []
    for _ in range(int(sys.argv[2])):
        start = time.process_time()
        values = unlock(path)
        warm.append(time.process_time() - start)
    if expected >= 0 and len(values) != expected:
        raise SystemExit(f"decrypted {len(values)} values, expected {expected}")
    print(json.dumps({"cold": cold, "unlock": cold - masker, "masker": masker, "warm": warm}))


if __name__ == "__main__":
    main()
