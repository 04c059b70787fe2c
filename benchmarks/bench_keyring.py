"""Figure 5: how often a pytest run reads the system keyring.

The runs use the tests' throw-away keyring backend (``tests/support/throwaway_keyring.py``),
which logs every read to ``<store>.reads``; ``tests/test_keyring_reads.py`` asserts the
same counts. Goal: at most one read per session, also under ``-n 4``; none when the key
comes from the environment, and none when no test uses the vault.
Run alone: ``python benchmarks/bench_keyring.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from _common import ROOT, Row, base_env, make_vault, pytest_command, run_timed, status_line

SUPPORT = ROOT / "tests" / "support"
TESTS = 20

USES_VAULT = "".join(
    f'def test_{n}(vault):\n    assert vault["SECRET_00000"] == "s3cret-value-0001"\n\n'
    for n in range(TESTS)
)
DORMANT = "".join(f"def test_{n}():\n    pass\n\n" for n in range(TESTS))


def _xdist_available() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


def count_reads(root: Path, name: str, tests: str, *, key_in: str, workers: int) -> int:
    """Keyring reads of one run; ``key_in`` is "keyring" or "environment"."""
    project = root / f"keyring_{name}"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (project / "test_it.py").write_text(tests, encoding="utf-8")
    key = make_vault(project / "secrets.vault.toml", {"SECRET_00000": "s3cret-value-0001"})
    store = project / "keyring.json"
    reads = Path(str(store) + ".reads")
    reads.unlink(missing_ok=True)
    from pytest_vault.key import VaultKey

    store.write_text(
        json.dumps({f"pytest-vault\0{VaultKey.parse(key).key_id}": key}), encoding="utf-8"
    )
    extra = {
        "PYTHON_KEYRING_BACKEND": "throwaway_keyring.Keyring",
        "PYTEST_VAULT_TEST_KEYRING": str(store),
        "PYTHONPATH": str(SUPPORT),
    }
    if key_in == "environment":
        extra["PYTEST_VAULT_KEY"] = key
    args = ["-n", str(workers)] if workers else []
    run_timed(pytest_command(*args), cwd=project, env=base_env(**extra))
    return len(reads.read_text("utf-8").splitlines()) if reads.exists() else 0


def rows(root: Path, runs: int) -> list[Row]:
    status_line("figure 5: keyring reads per session")
    cases = [
        ("key in the keyring, tests use the vault", "serial", USES_VAULT, "keyring", 0, 1),
        ("key in the keyring, tests use the vault, -n 4", "n4", USES_VAULT, "keyring", 4, 1),
        ("key in PYTEST_VAULT_KEY", "env", USES_VAULT, "environment", 0, 0),
        ("key in PYTEST_VAULT_KEY, -n 4", "env_n4", USES_VAULT, "environment", 4, 0),
        ("key in the keyring, no test uses the vault", "dormant", DORMANT, "keyring", 0, 0),
        (
            "key in the keyring, no test uses the vault, -n 4",
            "dormant_n4",
            DORMANT,
            "keyring",
            4,
            1,
        ),
    ]
    result = []
    for label, name, tests, key_in, workers, most in cases:
        if workers and not _xdist_available():
            result.append(
                Row(
                    f"5. keyring reads: {label}",
                    "n/a",
                    f"<= {most}",
                    None,
                    "pytest-xdist is not installed",
                )
            )
            continue
        reads = count_reads(root, name, tests, key_in=key_in, workers=workers)
        result.append(
            Row(
                f"5. keyring reads: {label}",
                str(reads),
                f"<= {most}" if most else "0",
                reads <= most,
                f"{TESTS} tests; counted by the throw-away backend's read log",
            )
        )
    return result


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        for row in rows(Path(folder), 1):
            print(f"{row.figure}: {row.measured} (goal {row.goal}: {row.verdict})")
