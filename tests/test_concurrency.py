"""Concurrency (issue 6): many processes at once lose no update and never see a torn file.

`test_eight_processes_at_once` starts 8 processes on one vault: 4 writers (``set``, ``rm``,
``import``, and ``get`` of their own names), 1 rotator (``rotate`` in a loop), 2 readers
(``get`` of a secret nobody changes) and 1 process running ``pytest`` on a test that reads
the vault through the fixture. Each process runs the console script's ``main`` in-process,
many times, so the run stays short. A new key is published (appended to a shared file)
the moment ``rotate`` prints it, which is before the file is replaced; every other process
puts all published keys in ``PYTEST_VAULT_KEY`` before each command. Meanwhile the test
process reads the file in a loop: every snapshot must parse and decrypt with its key.

Afterwards: every name whose ``set``/``import`` reported success is present with its
value unless a later successful ``rm`` removed it, nothing removed came back, every value
decrypts with the final key (``pytest-vault check`` passes), and every failure was the
clean "this key does not open it / it changed while this command ran" error, never a
parse error or a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from projects import CONSOLE_SCRIPT, Project

from pytest_vault.errors import VaultError
from pytest_vault.fileio import write_atomic, write_lock
from pytest_vault.key import VaultKey
from pytest_vault.vault import create_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and locks")

ENV = "PYTEST_VAULT_KEY"
SEED = {"SEED_TOKEN": "seed-token-never-changes-01", "SEED_PASSWORD": "seed-password-02"}
# The clean errors a command may give when the key it holds was rotated away meanwhile.
ROTATED_AWAY = ("does not open", "None of the", "changed while this command ran")

WORKER = textwrap.dedent(
    '''
    """One process of the concurrency test: runs pytest_vault.cli.main in a loop."""
    import io
    import json
    import os
    import random
    import subprocess
    import sys
    import time
    from pathlib import Path

    from pytest_vault import cli

    role, number, config = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    keys_file, stop_file = Path(config["keys"]), Path(config["stop"])
    log = open(config["log"], "a", encoding="utf-8")
    rng = random.Random(config["seed"] * 100 + number)
    ROTATED_AWAY = tuple(config["rotated_away"])


    class Publish(io.RawIOBase):
        """Standard output of `rotate`: the new key is published as soon as it is printed."""

        def writable(self):
            return True

        def write(self, data):
            with open(keys_file, "ab") as keys:
                keys.write(bytes(data))
            return len(data)


    def known_keys():
        return keys_file.read_text(encoding="utf-8").split()


    def run(argv, stdin=b"", publish=False):
        """One console command in this process: (exit status, stdout, stderr)."""
        os.environ["PYTEST_VAULT_KEY"] = " ".join(known_keys())
        out, err = io.BytesIO(), io.StringIO()
        stdout = io.TextIOWrapper(io.BufferedWriter(Publish()) if publish else out, "utf-8")
        sys.stdout, sys.stderr = stdout, err
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), "utf-8")
        try:
            status = cli.main([*argv, "--no-keyring"])
        except SystemExit as exc:
            status = exc.code
        finally:
            stdout.flush()
            captured = out.getvalue().decode("utf-8")
            sys.stdout, sys.stderr, sys.stdin = sys.__stdout__, sys.__stderr__, sys.__stdin__
        return status, captured, err.getvalue()


    def record(**entry):
        log.write(json.dumps({"role": role, "worker": number, **entry}) + "\\n")
        log.flush()


    def attempt(op, argv, changes, stdin=b"", publish=False, expect_stdout=None):
        """Run a command, retrying while its key was rotated away; log the outcome."""
        for tries in range(1, 31):
            status, out, err = run(argv, stdin, publish)
            if status == 0:
                ok = expect_stdout is None or out == expect_stdout
                record(op=op, ok=True, changes=changes, tries=tries, good_output=ok,
                       out=out if publish else "")
                return True
            if not any(phrase in err for phrase in ROTATED_AWAY) or "Traceback" in err:
                record(op=op, ok=False, changes=changes, tries=tries, error=err, clean=False)
                return False
            record(op=op, ok=False, changes=changes, tries=tries, error=err, clean=True,
                   retry=True)
            time.sleep(rng.uniform(0.001, 0.01))
        record(op=op, ok=False, changes=changes, clean=True, exhausted=True)
        return False


    if role == "writer":
        mine = {}
        for step in range(config["operations"]):
            kind = rng.choices(["set", "replace", "rm", "import", "get"], [50, 10, 15, 10, 15])[0]
            if kind in ("replace", "rm", "get") and not mine:
                kind = "set"
            if kind == "set":
                name, value = f"W{number}_N{step}", f"value-{number}-{step}-{rng.random():.12f}"
                if attempt("set", ["set", name], {name: value}, value.encode()):
                    mine[name] = value
            elif kind == "replace":
                name = rng.choice(sorted(mine))
                value = f"replaced-{number}-{step}-{rng.random():.12f}"
                if attempt("set", ["set", name], {name: value}, value.encode()):
                    mine[name] = value
            elif kind == "rm":
                name = rng.choice(sorted(mine))
                if attempt("rm", ["rm", name], {name: None}):
                    del mine[name]
            elif kind == "import":
                values = {f"W{number}_I{step}_{i}": f"imp-{number}-{step}-{i}" for i in range(3)}
                env_file = Path(config["work"]) / f"w{number}-{step}.env"
                env_file.write_text("".join(f"{k}={v}\\n" for k, v in values.items()), "utf-8")
                if attempt("import", ["import", str(env_file)], values):
                    mine.update(values)
            else:
                name = rng.choice(sorted(mine))
                attempt("get", ["get", name], {}, expect_stdout=mine[name] + "\\n")
    elif role == "rotator":
        done = 0
        while done < config["rotations"] or not stop_file.exists():
            attempt("rotate", ["rotate"], {}, publish=True)
            done += 1
            time.sleep(rng.uniform(0.02, 0.08))
    elif role == "reader":
        name, value = config["read"]
        while not stop_file.exists():
            attempt("get", ["get", name], {}, expect_stdout=value + "\\n")
    elif role == "pytest":
        for run_number in range(config["pytest_runs"]):
            environ = dict(os.environ)
            hook = run_number % 2 == 0  # the key from a conftest hook, or from the variable
            environ.pop("PYTEST_VAULT_KEY", None)
            if not hook:
                environ["PYTEST_VAULT_KEY"] = " ".join(known_keys())
            environ["READ_KEYS_FROM_HOOK"] = "1" if hook else ""
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                 "-p", "no:hypothesispytest", "--vault-no-keyring", "-q", "test_reads_vault.py"],
                cwd=config["root"], env=environ, capture_output=True, text=True, timeout=120,
            )
            output = done.stdout + done.stderr
            passed = done.returncode == 0 and "1 passed" in output
            clean = passed or (
                not hook and done.returncode == 1 and any(p in output for p in ROTATED_AWAY)
            )
            clean = clean and "INTERNALERROR" not in output and "Traceback" not in output
            record(op="run", ok=passed, hook=hook, clean=clean, changes={},
                   error="" if passed else output[-3000:])
    log.close()
    '''
)

CONFTEST = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def pytest_vault_key(key_id):
        if not os.environ.get("READ_KEYS_FROM_HOOK"):
            return None
        from pytest_vault.key import VaultKey

        for text in Path(os.environ["KEYS_FILE"]).read_text().split():
            if VaultKey.parse(text).key_id == key_id:
                return text
        return None
    """
)

TEST_READS_VAULT = textwrap.dedent(
    f"""
    def test_reads_the_vault(vault):
        assert vault["SEED_TOKEN"] == {SEED["SEED_TOKEN"]!r}
        assert vault["SEED_PASSWORD"] == {SEED["SEED_PASSWORD"]!r}
    """
)


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def keys_by_id(keys_file: Path) -> dict[str, VaultKey]:
    keys = [VaultKey.parse(text) for text in keys_file.read_text("utf-8").split()]
    return {key.key_id: key for key in keys}


def run_eight_processes(
    project: Project, work: Path, operations: int, rotations: int, pytest_runs: int
) -> dict[str, Any]:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(project.vault_file, key, SEED)
    keys_file, stop_file, log_file = work / "keys.txt", work / "stop", work / "log.jsonl"
    keys_file.write_text(key.text() + "\n", encoding="utf-8")
    (project.root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (project.root / "test_reads_vault.py").write_text(TEST_READS_VAULT, encoding="utf-8")
    script = work / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    config = {
        "keys": str(keys_file),
        "stop": str(stop_file),
        "log": str(log_file),
        "work": str(work),
        "root": str(project.root),
        "seed": 6,
        "operations": operations,
        "rotations": rotations,
        "pytest_runs": pytest_runs,
        "rotated_away": list(ROTATED_AWAY),
    }
    roles = [("writer", n) for n in range(4)] + [("rotator", 0), ("pytest", 0)]
    roles += [("reader", n) for n in range(2)]
    environ = {**os.environ, "KEYS_FILE": str(keys_file)}
    workers = []
    for role, number in roles:
        own = dict(config)
        if role == "reader":
            own["read"] = list(SEED.items())[number]
        workers.append(
            subprocess.Popen(
                [sys.executable, str(script), role, str(number), json.dumps(own)],
                cwd=project.root,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    finite = [
        w for w, (role, _) in zip(workers, roles, strict=True) if role in ("writer", "pytest")
    ]

    # Meanwhile, read the file over and over: every snapshot is a whole, openable vault.
    snapshots = 0
    deadline = time.monotonic() + 600
    while any(w.poll() is None for w in finite) and time.monotonic() < deadline:
        snapshot = VaultFile.load(project.vault_file)  # a torn file would raise here
        known = keys_by_id(keys_file)
        assert snapshot.header.key_id in known, "a file under an unpublished key"
        snapshot.decrypt_all(known[snapshot.header.key_id])
        snapshots += 1
        time.sleep(0.005)
    stop_file.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
    return {"log": read_log(log_file), "keys": keys_file, "snapshots": snapshots}


def check_outcome(project: Project, run: dict[str, Any]) -> Counter[str]:
    log: list[dict[str, Any]] = run["log"]
    figures: Counter[str] = Counter(snapshots=run["snapshots"], processes=8)

    # Every failure was the clean "rotated away" error; every output was right.
    unclean = [entry for entry in log if not entry["ok"] and not entry.get("clean")]
    assert not unclean, json.dumps(unclean[:3], indent=1)
    wrong_output = [e for e in log if e["ok"] and e.get("good_output") is False]
    assert not wrong_output, wrong_output[:3]
    exhausted = [e for e in log if e.get("exhausted")]  # still rotated away after 30 tries
    assert not exhausted, exhausted[:3]

    # Replay each writer's successful changes in order: that is what the file must hold.
    expected = dict(SEED)
    removed: set[str] = set()
    for entry in log:
        if entry["ok"]:
            figures[f"{entry['role']} {entry['op']} succeeded"] += 1
            for name, value in entry["changes"].items():
                if value is None:
                    expected.pop(name)
                    removed.add(name)
                else:
                    expected[name] = value
                    removed.discard(name)
        elif entry.get("retry"):
            figures["clean 'rotated away' errors (retried)"] += 1
    figures["operations"] = sum(1 for e in log if e["ok"])

    final = VaultFile.load(project.vault_file)
    final_key = keys_by_id(run["keys"])[final.header.key_id]
    values = final.decrypt_all(final_key)  # every value opens with the one final key
    lost = {n for n, v in expected.items() if values.get(n) != v}
    resurrected = removed & set(values)
    unexpected = set(values) - set(expected)
    figures["losses"] = len(lost) + len(resurrected) + len(unexpected)
    assert not lost, f"lost updates: {sorted(lost)[:10]}"
    assert not resurrected, f"removed names came back: {sorted(resurrected)[:10]}"
    assert not unexpected, f"names nobody set: {sorted(unexpected)[:10]}"

    check = project.cli("check", "--no-keyring", env={ENV: final_key.text()})
    assert check.returncode == 0, check.stderr
    assert f"Every value decrypts with the key from {ENV}" in check.stderr
    # .benchmarks is pytest-benchmark's folder (the test extra installs it), not a leftover.
    leftovers = sorted(
        p.name for p in project.root.iterdir() if p.name.startswith(".") and p.name != ".benchmarks"
    )
    assert leftovers == [], leftovers
    assert figures["rotator rotate succeeded"] >= 1
    assert figures["pytest run succeeded"] >= 1
    assert figures["reader get succeeded"] >= 1
    return figures


def report(figures: Counter[str]) -> None:
    print("\n" + "\n".join(f"{name}: {count}" for name, count in sorted(figures.items())))


def test_eight_processes_at_once(project: Project, tmp_path: Path) -> None:
    run = run_eight_processes(project, tmp_path, operations=40, rotations=8, pytest_runs=2)
    report(check_outcome(project, run))


@pytest.mark.slow
def test_eight_processes_at_once_long(project: Project, tmp_path: Path) -> None:
    run = run_eight_processes(project, tmp_path, operations=200, rotations=30, pytest_runs=4)
    report(check_outcome(project, run))


# -- a writer whose key is rotated away while it waits for the lock ---------------------------

needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def wait_for_lock_attempt(process: subprocess.Popen[bytes], lock: Path) -> None:
    """Until ``process`` has opened the lock file: it has read the file and found its key."""
    fds = Path(f"/proc/{process.pid}/fd")
    for _ in range(3000):
        assert process.poll() is None, process.communicate()
        try:
            if any(os.path.realpath(fd) == str(lock) for fd in fds.iterdir()):
                return
        except (FileNotFoundError, PermissionError):  # an fd closed while we looked
            pass
        time.sleep(0.01)
    raise AssertionError("the command never tried to take the lock")


@needs_proc
@pytest.mark.parametrize("command", ["set", "import", "rotate", "rm"])
def test_a_writer_whose_key_was_rotated_away_meanwhile_writes_nothing(
    project: Project, tmp_path: Path, command: str
) -> None:
    old_key = VaultKey.generate()
    create_vault(project.vault_file, old_key)
    set_secrets(project.vault_file, old_key, SEED)
    env_file = tmp_path / "late.env"
    env_file.write_text("LATE=late-value-0007\n", encoding="utf-8")
    argv = {
        "set": ["set", "LATE"],
        "import": ["import", str(env_file)],
        "rotate": ["rotate"],
        "rm": ["rm", "SEED_TOKEN"],
    }[command]
    lock = project.vault_file.with_name(project.vault_file.name + ".lock").resolve()
    new_key = VaultKey.generate()
    with write_lock(project.vault_file):
        late = subprocess.Popen(
            [CONSOLE_SCRIPT, *argv, "--no-keyring"],
            cwd=project.root,
            env={**os.environ, ENV: old_key.text()},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert late.stdin is not None
        late.stdin.write(b"late-value-0007")
        late.stdin.close()
        wait_for_lock_attempt(late, lock)
        # While it waits, someone else rotates the vault (as `rotate` would, under the lock).
        current = VaultFile.load(project.vault_file)
        rotated = VaultFile(project.vault_file, current.header.rekeyed(new_key.key_id))
        cipher = rotated.cipher(new_key)
        rotated.tokens = {n: cipher.seal(n, v) for n, v in current.decrypt_all(old_key).items()}
        write_atomic(project.vault_file, rotated.render().encode("utf-8"))
    rotated_bytes = project.vault_file.read_bytes()
    assert late.stdout is not None
    assert late.stderr is not None
    late.wait(timeout=60)
    out, message = late.stdout.read(), late.stderr.read().decode()
    final = VaultFile.load(project.vault_file)
    assert final.header.key_id == new_key.key_id
    if command == "rm":
        # Removing needs no key and reveals nothing: it applies to the rotated file.
        assert late.returncode == 0, message
        assert final.decrypt_all(new_key) == {"SEED_PASSWORD": SEED["SEED_PASSWORD"]}
        return
    assert late.returncode == 1, message
    assert out == b""  # `rotate` printed no new key: it stopped before making one
    assert "changed while this command ran" in message
    assert f"it now needs the key {new_key.key_id}" in message
    assert "Nothing was written." in message
    assert "Traceback" not in message
    assert old_key.text() not in message
    assert project.vault_file.read_bytes() == rotated_bytes
    assert final.decrypt_all(new_key) == SEED


# -- import without --force: the "name already there" check must hold under the lock ---------


def test_set_secrets_without_replace_refuses_existing_names_under_the_lock(
    project: Project,
) -> None:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    set_secrets(project.vault_file, key, SEED)
    before = project.vault_file.read_bytes()
    with pytest.raises(VaultError, match="already holds SEED_TOKEN; nothing was written"):
        set_secrets(project.vault_file, key, {"SEED_TOKEN": "x-1234", "NEW": "y"}, replace=False)
    assert project.vault_file.read_bytes() == before
    set_secrets(project.vault_file, key, {"NEW": "new-value-1"}, replace=False)
    assert VaultFile.load(project.vault_file).decrypt_all(key)["NEW"] == "new-value-1"


@needs_proc
def test_two_concurrent_imports_of_one_name_do_not_both_succeed(
    project: Project, tmp_path: Path
) -> None:
    key = VaultKey.generate()
    create_vault(project.vault_file, key)
    lock = project.vault_file.with_name(project.vault_file.name + ".lock").resolve()
    importers = []
    with write_lock(project.vault_file):
        for number in (1, 2):
            env_file = tmp_path / f"import{number}.env"
            env_file.write_text(f"TOKEN=value-from-import-{number}\n", encoding="utf-8")
            importers.append(
                subprocess.Popen(
                    [CONSOLE_SCRIPT, "import", str(env_file), "--no-keyring"],
                    cwd=project.root,
                    env={**os.environ, ENV: key.text()},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        for importer in importers:  # both checked for TOKEN and now wait for the lock
            wait_for_lock_attempt(importer, lock)
    statuses = [importer.wait(timeout=60) for importer in importers]
    assert sorted(statuses) == [0, 1], "without --force, one import must be refused"
    winner = statuses.index(0) + 1
    values = VaultFile.load(project.vault_file).decrypt_all(key)
    assert values == {"TOKEN": f"value-from-import-{winner}"}
