"""Secret hygiene audit (issue 6): no key and no secret anywhere it does not belong.

After every console command (and a failing pytest run whose test prints, logs and asserts
on secrets), standard output, standard error and *every file* under the project folder and
the (isolated) HOME are searched for each key and each secret: the whole string, each of
its lines, its escaped (``repr``) form, and every run of 10 consecutive characters. The
only places allowed to hold one are the ones whose job is to show it: `get` prints the
value, `init`/`key`/`rotate`/`reset` print the key on standard output (and nothing else
there), and a ``--key-out`` file holds the key (mode 0600, never overwritten). Prompts
never echo (a real terminal through pexpect). Reprs, pickling and exception messages of
the objects that hold keys and secrets show neither.
"""

from __future__ import annotations

import copy
import os
import pickle
import re
import stat
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest
from projects import CONSOLE_SCRIPT, CliResult, Project, ThrowawayKeyring

from pytest_vault.dotenv import parse_dotenv
from pytest_vault.errors import VaultError
from pytest_vault.key import KEY_PREFIX, VaultKey
from pytest_vault.keychain import FoundKey, KeyLookup, check_key, find_key
from pytest_vault.names import check_name, check_value
from pytest_vault.vault import Vault, create_vault, open_vault, set_secrets
from pytest_vault.vaultfile import VaultFile

ENV = "PYTEST_VAULT_KEY"
API_TOKEN = "tok-9f8e7d6c5b4a3210-live"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBdLUVFqJrW3tOW3oWm+fH4Uq5s3yQ2Kj0sZ8m3b0pXmQAAAJhVx0hKVcdI\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
IMPORTED = {"DB_PASSWORD": "db-pässword-Ωμέγα-77", "WEBHOOK": 'hook "quoted" \\ secret 88'}
TYPED = "typed-on-the-terminal-Xq7"


def windows(text: str, size: int = 10) -> set[str]:
    text = text.strip()
    if len(text) < 4:
        return set()
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


#: PEM armour lines carry nothing secret: masking leaves them (issue 12's precision rule).
ARMOUR = re.compile(r"-----(?:BEGIN|END) [A-Z ]+-----")


def forms(secret: str) -> set[str]:
    """The strings whose presence would reveal ``secret``."""
    found = {secret.strip(), repr(secret)[1:-1]}
    found |= windows(secret) | windows(repr(secret)[1:-1])
    for line in secret.splitlines():
        found |= windows(line)
    for armour in ARMOUR.findall(secret):
        for text in (armour + "\n", "\n" + armour):
            for shown in (text, repr(text)[1:-1]):
                found -= {shown[at : at + 10] for at in range(len(shown) - 9)}
    return {f for f in found if len(f) >= 4}


def key_forms(key_text: str) -> set[str]:
    # Only the random body: the fixed prefix is quoted by messages on purpose.
    body = key_text[len(KEY_PREFIX) :]
    return {key_text, key_text.lower(), *windows(body), *windows(body.lower())}


@dataclass
class Audit:
    """Everything secret so far, and where it may legitimately be."""

    project: Project
    home: Path
    keys: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    key_files: set[Path] = field(default_factory=set)
    checked_files: int = 0
    checked_outputs: int = 0

    def forbidden(self) -> dict[str, str]:
        """Each revealing string, and what it reveals."""
        table: dict[str, str] = {}
        for number, secret in enumerate(self.secrets):
            table.update(dict.fromkeys(forms(secret), f"secret #{number}"))
        for number, key in enumerate(self.keys):
            table.update(dict.fromkeys(key_forms(key), f"key #{number}"))
        return table

    def assert_absent(self, where: str, text: str) -> None:
        leaks = {what for part, what in self.forbidden().items() if part in text}
        assert not leaks, f"{where} reveals {sorted(leaks)}"

    def files(self) -> Iterable[Path]:
        for root in (self.project.root, self.home):
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    yield path

    def scan_files(self, after: str) -> None:
        for path in self.files():
            if path in self.key_files:
                continue
            data = path.read_bytes()
            self.assert_absent(f"{path} (after {after})", data.decode("utf-8", "replace"))
            self.checked_files += 1

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        status: int = 0,
        shows: str | None = None,
    ) -> CliResult:
        """Run a command; check its streams and every file; ``shows`` is the only thing
        allowed on standard output (a value or a key)."""
        result = self.project.cli(*args, input=input, env=env)
        where = f"`pytest-vault {' '.join(args)}`"
        assert result.returncode == status, f"{where}: {result.output}"
        assert "Traceback" not in result.output
        self.assert_absent(f"stderr of {where}", result.stderr)
        if shows is None:
            self.assert_absent(f"stdout of {where}", result.stdout)
        else:
            assert result.stdout == shows + "\n", f"{where} printed more than it should"
        self.checked_outputs += 2
        self.scan_files(where)
        return result

    def new_key(self, result: CliResult) -> str:
        key = result.stdout.strip()
        VaultKey.parse(key)
        self.keys.append(key)
        return key


FAILING_TEST = textwrap.dedent(
    """
    import logging

    import pytest


    @pytest.mark.parametrize("suffix", ["a", "b"])
    def test_leaks_everything(vault, suffix, record_property):
        token = vault["API_TOKEN"]
        pem = vault["PEM_KEY"]
        print("token is", token, "pem is", pem)
        print("repr", repr(token), repr(pem), file=__import__("sys").stderr)
        logging.getLogger("app").warning("token=%s pem=%r", token, pem)
        record_property("token", token)
        assert token + suffix == pem
    """
)


def test_no_command_leaves_a_key_or_secret_where_it_does_not_belong(
    project: Project, tmp_path: Path, test_keyring: ThrowawayKeyring
) -> None:
    home = Path(os.environ["HOME"])
    audit = Audit(project, home)
    inputs = tmp_path / "inputs"  # the user's own plaintext files, outside both trees
    inputs.mkdir()
    (inputs / "pem.txt").write_text(PEM, encoding="utf-8")
    env_file = inputs / "secrets.env"
    env_file.write_text(
        f'DB_PASSWORD=\'{IMPORTED["DB_PASSWORD"]}\'\nWEBHOOK="hook \\"quoted\\" \\\\ secret 88"\n',
        encoding="utf-8",
    )
    assert parse_dotenv(env_file.read_text("utf-8")) == IMPORTED
    keys_dir = home / "keys"
    keys_dir.mkdir()

    init = project.cli("init")
    assert init.returncode == 0, init.stderr
    key = audit.new_key(init)
    audit.assert_absent("stderr of init", init.stderr)
    assert init.stdout == key + "\n"
    audit.scan_files("init")
    audit.secrets += [API_TOKEN, PEM, *IMPORTED.values(), TYPED]

    audit.run("set", "API_TOKEN", input=API_TOKEN + "\n")
    audit.run("set", "PEM_KEY", "--from-file", str(inputs / "pem.txt"))
    audit.run("import", str(env_file))
    audit.run("list")
    audit.run("get", "API_TOKEN", shows=API_TOKEN)
    audit.run("get", "PEM_KEY", shows=PEM)
    audit.run("status")
    audit.run("check")
    audit.run("key", shows=key)

    # Failures: wrong, mistyped and misplaced keys and values.
    stranger = VaultKey.generate().text()
    audit.keys.append(stranger)
    audit.run("get", "API_TOKEN", env={ENV: stranger}, status=1)
    audit.run("get", "API_TOKEN", env={ENV: key[:-3] + "AAA"}, status=1)
    audit.run("check", env={ENV: key.lower()[:-1]}, status=1)
    audit.run("get", key, status=1)  # a key typed where a name belongs
    audit.run("rm", API_TOKEN, status=2)  # a value typed where a name belongs
    audit.run("set", "X", API_TOKEN, status=2)  # a value on the command line
    audit.run("get", "NOPE", status=1)
    audit.run("unlock", input=stranger, status=1)
    audit.run("import", str(env_file), status=1)  # names exist: refused

    # A failing test that prints, logs, records and asserts on the secrets.
    (project.root / "test_leaky.py").write_text(FAILING_TEST, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:hypothesispytest",
            "-rA",
            "-vv",
            "--showlocals",
            "--junitxml=report.xml",
            "--log-file=pytest.log",
            "--log-file-level=DEBUG",
        ],
        cwd=project.root,
        env={**os.environ, ENV: key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed" in done.stdout
    assert "<vault:API_TOKEN>" in done.stdout
    audit.assert_absent("stdout of the failing pytest run", done.stdout)
    audit.assert_absent("stderr of the failing pytest run", done.stderr)
    assert (project.root / "report.xml").exists()
    assert (project.root / "pytest.log").exists()
    audit.scan_files("the failing pytest run")

    rotated_out = keys_dir / "rotated.key"
    rotate = project.cli("rotate", "--key-out", str(rotated_out))
    assert rotate.returncode == 0, rotate.stderr
    new = audit.new_key(rotate)
    assert rotate.stdout == new + "\n"
    audit.assert_absent("stderr of rotate", rotate.stderr)
    audit.key_files.add(rotated_out)
    audit.scan_files("rotate")
    assert rotated_out.read_text("utf-8") == new + "\n"
    assert stat.S_IMODE(rotated_out.stat().st_mode) == 0o600

    audit.run("get", "API_TOKEN", env={ENV: key}, status=1)  # the old key, rotated away
    audit.run("lock")
    audit.run("unlock", input=new + "\n")
    audit.run("rm", "API_TOKEN")

    reset_out = keys_dir / "reset.key"
    reset = project.cli("reset", "--yes", "--key-out", str(reset_out))
    assert reset.returncode == 0, reset.stderr
    last = audit.new_key(reset)
    assert reset.stdout == last + "\n"
    audit.assert_absent("stderr of reset", reset.stderr)
    audit.key_files.add(reset_out)
    audit.scan_files("reset")
    assert stat.S_IMODE(reset_out.stat().st_mode) == 0o600
    audit.run("status")
    audit.run("check")

    # The keyring (outside HOME here) holds the keys, and nothing else.
    assert set(test_keyring.entries().values()) <= set(audit.keys)
    print(f"\naudited {audit.checked_outputs} outputs and {audit.checked_files} file reads")
    assert audit.checked_files > 50


# -- --key-out files ------------------------------------------------------------------------------


def run_with_umask(project: Project, *args: str, env: dict[str, str] | None = None) -> CliResult:
    done = subprocess.run(
        ["sh", "-c", 'umask 000; exec "$@"', "sh", CONSOLE_SCRIPT, *args],
        cwd=project.root,
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return CliResult(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_key_files_are_private_even_under_a_permissive_umask(project: Project) -> None:
    out = project.root / "init.key"
    result = run_with_umask(project, "init", "--no-keyring", "--key-out", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text("utf-8") == result.stdout
    key = result.stdout.strip()
    for command in (["rotate"], ["reset", "--yes"]):
        target = project.root / f"{command[0]}.key"
        result = run_with_umask(
            project, *command, "--no-keyring", "--key-out", str(target), env={ENV: key}
        )
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        key = result.stdout.strip()
        assert target.read_text("utf-8") == key + "\n"


@pytest.mark.parametrize("command", ["init", "rotate", "reset"])
@pytest.mark.parametrize("occupant", ["file", "dangling symlink"])
def test_a_key_file_is_never_overwritten(
    project: Project, tmp_path: Path, command: str, occupant: str
) -> None:
    key = None
    if command != "init":
        key = project.init()
        set_value = project.cli("set", "A_SECRET", input="a-secret-value-1", env={ENV: key})
        assert set_value.returncode == 0
    before = project.vault_file.read_bytes() if project.vault_file.exists() else None
    target = project.root / "existing.key"
    victim = tmp_path / "victim.txt"
    if occupant == "file":
        target.write_text("precious, not a key\n", encoding="utf-8")
    else:
        target.symlink_to(victim)  # points at a file that does not exist (yet)
    args = {"init": ["init"], "rotate": ["rotate"], "reset": ["reset", "--yes"]}[command]
    result = project.cli(*args, "--no-keyring", "--key-out", str(target), env={ENV: key or ""})
    assert result.returncode == 2, result.output
    assert "already exists; a key file is never overwritten" in result.stderr
    assert result.stdout == ""  # no key was made, none shown
    if occupant == "file":
        assert target.read_text("utf-8") == "precious, not a key\n"
    else:
        assert target.is_symlink()
        assert not victim.exists()
    if before is None:
        assert not project.vault_file.exists()
    else:
        assert project.vault_file.read_bytes() == before


# -- prompts never echo ---------------------------------------------------------------------------


def spawn(project: Project, *args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    child = pexpect.spawn(
        CONSOLE_SCRIPT,
        list(args),
        cwd=str(project.root),
        env={**os.environ, **(env or {})},
        encoding="utf-8",
        timeout=20,
    )
    child.logfile_read = transcript = _Transcript()
    child.transcript = transcript  # type: ignore[attr-defined]
    return child


class _Transcript:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.parts)


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a pty")
def test_typed_values_and_keys_are_never_echoed(project: Project) -> None:
    key = project.init()
    child = spawn(project, "set", "TYPED", env={ENV: key})
    for attempt in ("first-mismatch-value-1", TYPED, TYPED):
        child.expect(r"Value for TYPED( \(again\))?: ")
        assert child.waitnoecho(timeout=20)
        child.sendline(attempt)
        if attempt.startswith("first"):
            child.expect("Value for TYPED \\(again\\): ")
            assert child.waitnoecho(timeout=20)
            child.sendline(TYPED)
            child.expect("The two values differ; try again.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = child.transcript.text()  # type: ignore[attr-defined]
    assert TYPED not in shown
    assert "first-mismatch" not in shown
    assert "typed-on-the" not in shown

    child = spawn(project, "unlock")
    child.expect("Vault key: ")
    assert child.waitnoecho(timeout=20)
    child.sendline(key)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = child.transcript.text()  # type: ignore[attr-defined]
    assert key not in shown
    assert not any(part in shown for part in key_forms(key))
    got = project.cli("get", "TYPED", env={ENV: key})
    assert got.stdout == TYPED + "\n"


# -- objects: reprs, pickling, exception messages -------------------------------------------------


def test_keys_and_vaults_never_show_or_travel_their_secrets(tmp_path: Path) -> None:
    key = VaultKey.generate()
    path = tmp_path / "secrets.vault.toml"
    create_vault(path, key)
    set_secrets(path, key, {"API_TOKEN": API_TOKEN, "PEM_KEY": PEM})
    vault = open_vault(VaultFile.load(path), key, "a test")
    found = FoundKey(key, "a test")
    secret_forms = forms(API_TOKEN) | forms(PEM) | key_forms(key.text())
    shown = [
        repr(key),
        str(key),
        f"{key}",
        f"{key!r}",
        repr(vault),
        str(vault),
        repr(found),
        repr(vault.keys()),
        repr(vault.items()),
        repr(vault.values()),
        repr(VaultFile.load(path)),
        repr(VaultFile.load(path).cipher(key)),
    ]
    for text in shown:
        assert not [part for part in secret_forms if part in text], text
    assert key.key_id in repr(key)
    assert "API_TOKEN" in repr(vault)
    for thing in (key, vault, found):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(thing)
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.deepcopy(thing)
    for thing in (key, vault):
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.copy(thing)


def test_exception_messages_and_tracebacks_hold_no_secret(tmp_path: Path) -> None:
    key = VaultKey.generate()
    path = tmp_path / "secrets.vault.toml"
    create_vault(path, key)
    set_secrets(path, key, {"API_TOKEN": API_TOKEN})
    header = VaultFile.load(path).header
    tampered = path.read_text("utf-8").replace("API_TOKEN = ", 'API_TOKEN_MOVED = ""\nAPI_TOKEN = ')
    errors: list[BaseException] = []

    def capture(call: object, *args: object) -> None:
        try:
            call(*args)  # type: ignore[operator]
        except VaultError as error:
            errors.append(error)
        else:  # pragma: no cover - every call below must fail
            raise AssertionError(f"{call} did not fail")

    typo = key.text()[:-4] + ("B" if key.text()[-4] == "A" else "A") + key.text()[-3:]
    capture(VaultKey.parse, typo)
    capture(VaultKey.parse, key.text()[:-1])
    capture(VaultKey.parse, API_TOKEN)
    capture(check_key, header, VaultKey.generate().text(), "somewhere", path)
    capture(check_key, header, typo, "somewhere", path)
    capture(check_name, key.text())
    capture(check_name, API_TOKEN)
    capture(check_value, "BIG", API_TOKEN * 50_000)
    capture(parse_dotenv, f"A='{API_TOKEN}")
    capture(parse_dotenv, f"{API_TOKEN}")
    capture(parse_dotenv, f"A='x' {API_TOKEN}")
    capture(Vault({"API_TOKEN": API_TOKEN}, path, "x").__getitem__, key.text())
    capture(Vault({"API_TOKEN": API_TOKEN}, path, "x").__getitem__, API_TOKEN)
    capture(
        find_key,
        header,
        KeyLookup(path=path, environ={ENV: f"{VaultKey.generate().text()},{typo}"}),
    )
    capture(find_key, header, KeyLookup(path=path, environ={ENV: typo}, no_keyring=True))
    swapped = VaultFile.load(path)
    swapped.tokens["OTHER"] = swapped.tokens["API_TOKEN"]
    capture(swapped.decrypt_all, key)
    capture(VaultFile.parse, path, tampered.encode())
    assert len(errors) == 17
    secret_forms = forms(API_TOKEN) | key_forms(key.text()) | key_forms(typo)
    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error)
        assert str(error).strip()
        leaks = [part for part in secret_forms if part in text]
        assert not leaks, f"{type(error).__name__}: {error}"
