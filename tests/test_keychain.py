"""The key chain: which source wins, and what each failure says (never the key)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
from projects import ThrowawayKeyring

from pytest_vault.errors import KeyFormatError, NoKeyError, VaultUsageError, WrongKeyError
from pytest_vault.key import VaultKey
from pytest_vault.keychain import (
    DEFAULT_KEY_ENV,
    KEYRING_SERVICE,
    FoundKey,
    KeyLookup,
    check_key,
    check_key_file_free,
    ci_is_set,
    find_key,
    keyring_name,
    read_keyring,
    remove_from_keyring,
    save_in_keyring,
    write_key_file,
)
from pytest_vault.vault import create_vault, rekey, set_secrets
from pytest_vault.vaultfile import VaultFile, VaultHeader


class Setup:
    """A vault on disk, its key, and a few other keys to get wrong."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.path = tmp_path / "secrets.vault.toml"
        self.key = VaultKey.generate()
        create_vault(self.path, self.key)
        set_secrets(self.path, self.key, {"API_TOKEN": "the-token-value"})
        self.other = VaultKey.generate()  # the key of some other vault

    @property
    def header(self) -> VaultHeader:
        return VaultFile.load(self.path).header

    def lookup(self, **kwargs: object) -> KeyLookup:
        kwargs.setdefault("environ", {})
        return KeyLookup(path=self.path, **kwargs)  # type: ignore[arg-type]

    def key_file(self, text: str, name: str = "vault.key") -> Path:
        path = self.tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    def find(self, **kwargs: object) -> FoundKey:
        return find_key(self.header, self.lookup(**kwargs))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def assert_never_shows(message: str, *keys: VaultKey) -> None:
    for key in keys:
        body = key.text()[len("PYTEST-VAULT-KEY-1") :]
        assert body not in message
        assert body.lower() not in message
        assert body[:20] not in message
    assert "the-token-value" not in message


def hook_returning(
    value: str | None, calls: list[tuple[str, str]]
) -> Callable[[str, str], str | None]:
    def hook(vault_id: str, key_id: str) -> str | None:
        calls.append((vault_id, key_id))
        return value

    return hook


# -- order: key file, environment, hook, keyring ----------------------------------------------


def test_key_file_beats_environment_hook_and_keyring(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    calls: list[tuple[str, str]] = []
    found = setup.find(
        key_file=setup.key_file(setup.key.text() + "\n"),
        environ={DEFAULT_KEY_ENV: "garbage that would fail"},
        hook=hook_returning("garbage", calls),
    )
    assert found.key == setup.key
    assert found.source == f"the key file {setup.tmp_path / 'vault.key'}"
    assert calls == []
    assert test_keyring.reads() == []


def test_environment_beats_hook_and_keyring(setup: Setup, test_keyring: ThrowawayKeyring) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    calls: list[tuple[str, str]] = []
    found = setup.find(
        environ={DEFAULT_KEY_ENV: setup.key.text()}, hook=hook_returning("garbage", calls)
    )
    assert found.key == setup.key
    assert found.source == DEFAULT_KEY_ENV
    assert calls == []
    assert test_keyring.reads() == []


def test_hook_beats_keyring_and_gets_vault_and_key_ids(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(setup.key.key_id, "not even a key")
    calls: list[tuple[str, str]] = []
    found = setup.find(hook=hook_returning(setup.key.text(), calls))
    assert found.key == setup.key
    assert found.source == "the pytest_vault_key hook"
    assert calls == [(setup.header.vault_id, setup.key.key_id)]
    assert test_keyring.reads() == []


def test_keyring_is_the_last_source(setup: Setup, test_keyring: ThrowawayKeyring) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    calls: list[tuple[str, str]] = []
    found = setup.find(hook=hook_returning(None, calls))
    assert found.key == setup.key
    assert found.source == "the system keyring (throwaway_keyring)"
    assert len(calls) == 1
    assert len(test_keyring.reads()) == 1
    assert test_keyring.reads()[0].split()[1:] == [KEYRING_SERVICE, setup.key.key_id]


def test_keyring_entry_of_another_key_id_is_not_found(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(setup.other.key_id, setup.other.text())
    with pytest.raises(NoKeyError) as info:
        setup.find()
    assert f"has no entry for {setup.key.key_id}" in str(info.value)


def test_os_environ_is_the_default(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_KEY_ENV, setup.key.text())
    found = find_key(setup.header, KeyLookup(path=setup.path, no_keyring=True))
    assert found.source == DEFAULT_KEY_ENV


# -- the environment variable ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("joiner", "position"),
    [(",", 1), (",", 2), (" ", 2), ("\n", 2), (" , ", 3), ("\t", 1)],
)
def test_environment_with_several_keys_picks_the_matching_one(
    setup: Setup, joiner: str, position: int
) -> None:
    keys = [VaultKey.generate().text() for _ in range(3)]
    keys[position - 1] = setup.key.text()
    found = setup.find(environ={DEFAULT_KEY_ENV: joiner.join(keys)})
    assert found.key == setup.key
    assert found.source == f"{DEFAULT_KEY_ENV} (key {position} of 3)"


def test_environment_with_several_keys_none_matching(setup: Setup) -> None:
    keys = [VaultKey.generate(), VaultKey.generate()]
    with pytest.raises(WrongKeyError) as info:
        setup.find(environ={DEFAULT_KEY_ENV: ",".join(k.text() for k in keys)})
    message = str(info.value)
    assert f"None of the 2 keys in {DEFAULT_KEY_ENV}" in message
    assert keys[0].key_id in message
    assert keys[1].key_id in message
    assert setup.key.key_id in message
    assert_never_shows(message, *keys, setup.key)


def test_environment_with_a_malformed_key_beside_the_matching_one_uses_the_match(
    setup: Setup,
) -> None:
    good = setup.key.text()
    found = setup.find(environ={DEFAULT_KEY_ENV: f"{good[:-3]},{good}"})
    assert found.key == setup.key
    assert found.source == f"{DEFAULT_KEY_ENV} (key 2 of 2)"


def test_environment_with_a_malformed_key_and_no_match_reports_the_typo(setup: Setup) -> None:
    good = setup.key.text()
    other = VaultKey.generate().text()
    with pytest.raises(KeyFormatError) as info:
        setup.find(environ={DEFAULT_KEY_ENV: f"{other},{good[:-3]}"})
    assert f"{DEFAULT_KEY_ENV} (key 2 of 2)" in str(info.value)
    assert_never_shows(str(info.value), setup.key)


@pytest.mark.parametrize("empty", ["", " ", "\n", " , ,\t"])
def test_empty_environment_variable_counts_as_not_set(
    setup: Setup, test_keyring: ThrowawayKeyring, empty: str
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    found = setup.find(environ={DEFAULT_KEY_ENV: empty})
    assert found.source.startswith("the system keyring")
    with pytest.raises(NoKeyError, match=f"{DEFAULT_KEY_ENV} is not set"):
        setup.find(environ={DEFAULT_KEY_ENV: empty}, no_keyring=True)


def test_renamed_key_variable(setup: Setup) -> None:
    found = setup.find(key_env="MY_VAULT_KEY", environ={"MY_VAULT_KEY": setup.key.text()})
    assert found.source == "MY_VAULT_KEY"
    with pytest.raises(NoKeyError) as info:
        setup.find(
            key_env="MY_VAULT_KEY", environ={DEFAULT_KEY_ENV: setup.key.text()}, no_keyring=True
        )
    assert "MY_VAULT_KEY is not set" in str(info.value)
    assert "Set MY_VAULT_KEY" in str(info.value)


# -- wrong, stale and malformed keys: three different messages ----------------------------------


def test_key_of_another_vault_from_the_environment(setup: Setup) -> None:
    with pytest.raises(WrongKeyError) as info:
        setup.find(environ={DEFAULT_KEY_ENV: setup.other.text()})
    message = str(info.value)
    assert f"The key from {DEFAULT_KEY_ENV} does not open {setup.path}" in message
    # It may as well be a newer key from a rotation this branch lacks: both are named,
    # and a reset (which deletes every secret) is not offered as the remedy.
    assert "a newer key from a rotation this branch does not have yet" in message
    assert "merge the main branch" in message
    assert "another vault's key" in message
    assert "reset" not in message
    assert setup.other.key_id in message
    assert setup.key.key_id in message
    assert_never_shows(message, setup.other, setup.key)


def test_stale_key_after_a_rotation(setup: Setup) -> None:
    old = setup.key
    new = rekey(setup.path, old, lambda _key: None)
    assert setup.header.key_id == new.key_id
    assert setup.header.retired_key_ids == (old.key_id,)
    with pytest.raises(WrongKeyError) as info:
        setup.find(environ={DEFAULT_KEY_ENV: old.text()})
    message = str(info.value)
    assert "from before a reset or rotation of this vault" in message
    assert "rotated; get the new key" in message
    assert "--vault-reset" not in message
    assert "pytest-vault reset" not in message
    assert old.key_id in message
    assert new.key_id in message
    assert "another vault" not in message
    assert_never_shows(message, old, new)


def test_stale_key_after_a_reset(setup: Setup) -> None:
    old = setup.key
    rekey(setup.path, None, lambda _key: None)
    with pytest.raises(WrongKeyError, match="from before a reset or rotation"):
        setup.find(key_file=setup.key_file(old.text()))


def test_malformed_key_from_the_environment(setup: Setup) -> None:
    text = setup.key.text()
    typo = text[:-10] + ("A" if text[-10] != "A" else "B") + text[-9:]
    with pytest.raises(KeyFormatError) as info:
        setup.find(environ={DEFAULT_KEY_ENV: typo})
    message = str(info.value)
    assert f"The key from {DEFAULT_KEY_ENV} cannot open {setup.path}" in message
    assert "mistyped" in message
    assert "Copy it again, in full" in message
    assert "another vault" not in message
    assert "before a reset" not in message
    assert_never_shows(message, setup.key)
    assert typo[18:] not in message


def test_the_three_failures_read_differently(setup: Setup) -> None:
    stale = setup.key
    rekey(setup.path, stale, lambda _key: None)
    messages = []
    for text in (setup.other.text(), stale.text(), "not-a-key-at-all-" + "x" * 40):
        with pytest.raises((WrongKeyError, KeyFormatError)) as info:
            setup.find(environ={DEFAULT_KEY_ENV: text})
        messages.append(str(info.value))
        assert text not in str(info.value)
    assert len(set(messages)) == 3
    assert "another vault" in messages[0]
    assert "before a reset or rotation" in messages[1]
    assert "not a pytest-vault key" in messages[2]


def test_a_wrong_key_is_an_error_not_a_reason_to_try_the_keyring(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    with pytest.raises(WrongKeyError):
        setup.find(environ={DEFAULT_KEY_ENV: setup.other.text()})
    assert test_keyring.reads() == []


# -- the key file ---------------------------------------------------------------------------


def test_key_file_with_surrounding_whitespace(setup: Setup) -> None:
    found = setup.find(key_file=setup.key_file(f"\n  {setup.key.text()}  \n\n"))
    assert found.key == setup.key


def test_missing_key_file_is_a_usage_error(setup: Setup) -> None:
    missing = setup.tmp_path / "nope.key"
    with pytest.raises(VaultUsageError) as info:
        setup.find(key_file=missing, environ={DEFAULT_KEY_ENV: setup.key.text()})
    assert str(info.value) == f"The key file {missing} does not exist."
    assert info.value.exit_status == 2


def test_key_file_that_is_a_folder(setup: Setup) -> None:
    folder = setup.tmp_path / "keydir"
    folder.mkdir()
    with pytest.raises(VaultUsageError, match=f"Cannot read the key file {folder}"):
        setup.find(key_file=folder)


def test_key_file_that_is_not_text(setup: Setup) -> None:
    path = setup.tmp_path / "binary.key"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(VaultUsageError, match="it is not text"):
        setup.find(key_file=path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key_file(setup: Setup) -> None:
    path = setup.key_file(setup.key.text())
    path.chmod(0)
    with pytest.raises(VaultUsageError, match="Cannot read the key file"):
        setup.find(key_file=path)


def test_key_file_with_a_wrong_key(setup: Setup) -> None:
    path = setup.key_file(setup.other.text())
    with pytest.raises(WrongKeyError) as info:
        setup.find(key_file=path)
    assert f"The key from the key file {path} does not open" in str(info.value)
    assert_never_shows(str(info.value), setup.other, setup.key)


def test_empty_key_file_is_malformed_not_missing(setup: Setup) -> None:
    with pytest.raises(KeyFormatError, match="not a pytest-vault key"):
        setup.find(key_file=setup.key_file(""))


# -- the hook -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [None, ""])
def test_hook_returning_nothing_falls_through(setup: Setup, answer: str | None) -> None:
    calls: list[tuple[str, str]] = []
    with pytest.raises(NoKeyError) as info:
        setup.find(hook=hook_returning(answer, calls), no_keyring=True)
    assert "no pytest_vault_key hook returned a key" in str(info.value)
    assert len(calls) == 1


def test_hook_returning_a_wrong_key(setup: Setup, test_keyring: ThrowawayKeyring) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    with pytest.raises(WrongKeyError) as info:
        setup.find(hook=hook_returning(setup.other.text(), []))
    assert "The key from the pytest_vault_key hook does not open" in str(info.value)
    assert_never_shows(str(info.value), setup.other, setup.key)
    assert test_keyring.reads() == []


def test_hook_returning_a_malformed_key(setup: Setup) -> None:
    with pytest.raises(KeyFormatError, match="the pytest_vault_key hook cannot open"):
        setup.find(hook=hook_returning(setup.key.text()[:-2], []))


# -- the keyring policy ---------------------------------------------------------------------


@pytest.mark.parametrize("ci", ["true", "1", "yes", "True", "anything"])
def test_keyring_not_read_when_ci_is_set(
    setup: Setup, test_keyring: ThrowawayKeyring, ci: str
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    with pytest.raises(NoKeyError) as info:
        setup.find(environ={"CI": ci})
    assert "the keyring was not read because CI is set" in str(info.value)
    assert "vault_keyring = always" in str(info.value)
    assert test_keyring.reads() == []


@pytest.mark.parametrize("ci", ["", "0", "false", "no", "FALSE", " "])
def test_ci_values_that_mean_not_set(setup: Setup, test_keyring: ThrowawayKeyring, ci: str) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    assert not ci_is_set({"CI": ci})
    assert setup.find(environ={"CI": ci}).source.startswith("the system keyring")


def test_keyring_policy_always_reads_it_on_ci(setup: Setup, test_keyring: ThrowawayKeyring) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    found = setup.find(environ={"CI": "true"}, keyring="always")
    assert found.key == setup.key
    assert len(test_keyring.reads()) == 1


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"keyring": "never"}, "vault_keyring = never"),
        ({"no_keyring": True}, "--no-keyring"),
        ({"no_keyring": True, "keyring": "always"}, "--no-keyring"),
        ({"keyring": "never", "environ": {"CI": ""}}, "vault_keyring = never"),
    ],
)
def test_keyring_never_read_with_never_or_no_keyring(
    setup: Setup, test_keyring: ThrowawayKeyring, options: dict[str, object], why: str
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    with pytest.raises(NoKeyError) as info:
        setup.find(**options)
    assert f"the keyring was not read ({why})" in str(info.value)
    assert test_keyring.reads() == []


def test_keyring_writable_follows_the_same_rules(setup: Setup) -> None:
    assert setup.lookup().keyring_writable() == (True, "")
    writable, why = setup.lookup(no_keyring=True).keyring_writable()
    assert not writable
    assert why == "the keyring was not used (--no-keyring)"
    writable, why = setup.lookup(environ={"CI": "1"}).keyring_writable()
    assert not writable
    assert "not used because CI is set" in why


def test_locked_keyring_is_not_found_because(
    setup: Setup, test_keyring: ThrowawayKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    monkeypatch.setenv("PYTEST_VAULT_TEST_KEYRING_FAIL", "1")
    with pytest.raises(NoKeyError) as info:
        setup.find()
    message = str(info.value)
    assert "the system keyring could not be read (KeyringLocked: the test keyring is locked)" in (
        message
    )
    assert "Traceback" not in message
    assert_never_shows(message, setup.key)


def test_locked_keyring_cannot_save_or_remove(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_VAULT_TEST_KEYRING_FAIL", "1")
    problem = save_in_keyring(setup.key)
    assert problem == (
        "the key could not be saved in the system keyring "
        "(KeyringLocked: the test keyring is locked)"
    )
    assert "KeyringLocked" in (remove_from_keyring(setup.key.key_id) or "")
    assert read_keyring(setup.key.key_id)[0] is None


def test_keyring_save_read_remove(setup: Setup, test_keyring: ThrowawayKeyring) -> None:
    assert save_in_keyring(setup.key) is None
    assert test_keyring.entries() == {setup.key.key_id: setup.key.text()}
    assert keyring.get_password(KEYRING_SERVICE, setup.key.key_id) == setup.key.text()
    assert read_keyring(setup.key.key_id) == (setup.key.text(), "")
    assert remove_from_keyring(setup.key.key_id) is None
    assert test_keyring.entries() == {}
    problem = remove_from_keyring(setup.key.key_id)
    assert problem == f"the system keyring (throwaway_keyring) has no entry for {setup.key.key_id}"
    assert keyring_name() == "throwaway_keyring"


def test_garbage_in_the_keyring_is_a_malformed_key_error(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text()[:-1])
    with pytest.raises(KeyFormatError, match="The key from the system keyring"):
        setup.find()


KEYRING_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_vault.errors import VaultError
    from pytest_vault.keychain import KeyLookup, find_key
    from pytest_vault.vaultfile import VaultFile

    path = Path(sys.argv[1])
    try:
        find_key(VaultFile.load(path).header, KeyLookup(path=path))
    except VaultError as exc:
        print(type(exc).__name__, exc)
    else:
        print("FOUND")
    print("keyring" in sys.modules)
    """
)


def run_script(setup: Setup, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", KEYRING_SCRIPT, str(setup.path)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("backend", "why"),
    [
        ("", "ValueError"),
        ("no_such_module.Keyring", "ModuleNotFoundError"),
        # keyring's own message for its fail backend is long; say it in a few words.
        ("keyring.backends.fail.Keyring", "no system keyring is available on this machine"),
    ],
    ids=["empty", "missing-module", "fail-backend"],
)
def test_broken_keyring_backend_means_not_found_because(
    setup: Setup, test_keyring: ThrowawayKeyring, backend: str, why: str
) -> None:
    test_keyring.put(setup.key.key_id, setup.key.text())
    done = run_script(setup, {"PYTHON_KEYRING_BACKEND": backend})
    assert done.returncode == 0, done.stderr
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith("NoKeyError No key for")
    if " " in why:
        assert why in first_line
    else:
        assert f"the system keyring could not be read ({why}" in first_line
    assert "Traceback" not in done.stderr
    assert "Traceback" not in done.stdout


def test_keyring_module_is_not_imported_when_the_environment_has_the_key(
    setup: Setup,
) -> None:
    done = run_script(setup, {DEFAULT_KEY_ENV: setup.key.text()})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["FOUND", "False"]
    # The same script does import it when it has to look there: the check can fail.
    done = run_script(setup, {DEFAULT_KEY_ENV: ""})
    assert done.stdout.splitlines()[-1] == "True"


# -- what NoKeyError says --------------------------------------------------------------------


def test_no_key_error_lists_every_source_tried(
    setup: Setup, test_keyring: ThrowawayKeyring
) -> None:
    with pytest.raises(NoKeyError) as info:
        setup.find(hook=hook_returning(None, []))
    message = str(info.value)
    assert message.startswith(f"No key for {setup.path} was found: ")
    tried = [
        "no key file was given",
        f"{DEFAULT_KEY_ENV} is not set",
        "no pytest_vault_key hook returned a key",
        f"the system keyring (throwaway_keyring) has no entry for {setup.key.key_id}",
    ]
    positions = [message.index(part) for part in tried]
    assert positions == sorted(positions)
    assert f"Set {DEFAULT_KEY_ENV}" in message
    assert "pytest-vault unlock" in message
    assert "pytest --vault-unlock" in message
    assert len(test_keyring.reads()) == 1


# -- check_key and key files --------------------------------------------------------------------


def test_check_key_accepts_the_right_key(setup: Setup) -> None:
    found = check_key(setup.header, f" {setup.key.text()}\n", "the prompt", setup.path)
    assert found == FoundKey(setup.key, "the prompt")


def test_check_key_names_the_source(setup: Setup) -> None:
    with pytest.raises(WrongKeyError, match="The key from standard input does not open"):
        check_key(setup.header, setup.other.text(), "standard input", setup.path)


def test_write_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    key = VaultKey.generate()
    path = tmp_path / "vault.key"
    write_key_file(path, key)
    assert path.read_text(encoding="utf-8") == key.text() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(VaultUsageError, match="never overwritten"):
        write_key_file(path, VaultKey.generate())
    assert path.read_text(encoding="utf-8") == key.text() + "\n"
    with pytest.raises(VaultUsageError, match="never overwritten"):
        check_key_file_free(path)
    check_key_file_free(None)
    check_key_file_free(tmp_path / "free.key")


def test_key_file_free_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "target-that-does-not-exist")
    with pytest.raises(VaultUsageError, match="never overwritten"):
        check_key_file_free(link)
    with pytest.raises(VaultUsageError, match="never overwritten"):
        write_key_file(link, VaultKey.generate())
    assert not (tmp_path / "target-that-does-not-exist").exists()
