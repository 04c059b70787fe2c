"""The per-run state of the plugin, kept in ``config.stash`` (never in module globals).

Everything is lazy: the vault file is read, the key looked up and the values decrypted
only when a test (or a ``--vault-*`` option) first needs them, and each happens once per
run. Errors are remembered too, so every test that needs a locked vault gets the same
answer without looking again.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol

import pytest

from .errors import NoKeyError, VaultError, VaultFileMissingError, VaultUsageError
from .keyenv import environ_with_key, keep_key_env, taken_key_text
from .settings import Settings, settings_from_config
from .streams import masker_slot

if TYPE_CHECKING:
    from .keychain import FoundKey, KeyLookup
    from .masking import Masker
    from .vault import Vault
    from .vaultfile import VaultFile


class OpenListener(Protocol):
    """Told once, when the vault opens, with the run's masker (None: masking is off)."""

    def opened(self, vault: Vault, masker: Masker | None) -> None: ...


class VaultState:
    """What this run knows about its vault: file, key, opened values, masker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings: Settings = run_settings(config)
        self.path = self.settings.vault_file
        self.mask_enabled = mask_enabled(config)
        self.missing_policy = self.settings.missing
        self.keyring_policy = self.settings.keyring
        self.keep_key_env = keep_key_env(config)
        self._file: VaultFile | None = None
        self._file_error: VaultError | None = None
        self._file_read = False
        self._key: FoundKey | None = None
        self._key_error: VaultError | None = None
        self._key_resolved = False
        self._vault: Vault | None = None
        self._vault_error: VaultError | None = None
        #: The one holder of the run's masker, set once when the vault opens; the stream
        #: wrappers installed at start-up read it from there.
        self._slot = masker_slot(config)
        #: Held while the vault opens, and by whatever must happen once per run. An xdist
        #: controller unserializes its workers' reports in execnet's receiver threads,
        #: one per worker, so two threads may open the vault (and mask) at once.
        self.lock = threading.RLock()
        #: Told once when the vault opens (`when_open`).
        self._listeners: list[OpenListener] = []
        #: The header said "key looked up when a test needs it": the summary names it.
        self.source_pending = False
        #: Whether the ``::add-mask::`` lines of this run were written (once per run).
        self.github_masks_sent = False
        #: A worker's key result, handed over by the xdist controller.
        self.handed_over: dict[str, str] | None = None

    # -- the file ------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_file()

    def vault_file(self) -> VaultFile:
        """The parsed file (header and sealed values); raises a remembered `VaultError`."""
        if not self._file_read:
            self._file_read = True
            from .vaultfile import VaultFile

            try:
                self._file = VaultFile.load(self.path)
            except VaultError as exc:
                self._file_error = exc
        if self._file_error is not None:
            raise self._file_error
        assert self._file is not None
        return self._file

    # -- the key -------------------------------------------------------------------------

    def lookup(self) -> KeyLookup:
        from .keychain import KeyLookup

        return KeyLookup.from_settings(
            self.settings,
            path=self.path,
            environ=environ_with_key(self.config),
            hook=self._call_hook,
        )

    def _call_hook(self, vault_id: str, key_id: str) -> str | None:
        result = self.config.hook.pytest_vault_key(
            config=self.config, vault_id=vault_id, key_id=key_id
        )
        return result if isinstance(result, str) else None

    def found_key(self) -> FoundKey:
        """The key that opens the vault, looked up once; raises a remembered `VaultError`."""
        if not self._key_resolved:
            self._key_resolved = True
            try:
                self._key = self._resolve_key()
            except VaultError as exc:
                self._key_error = exc
        if self._key_error is not None:
            raise self._key_error
        assert self._key is not None
        return self._key

    def _resolve_key(self) -> FoundKey:
        header = self.vault_file().header
        if self.handed_over is not None:  # an xdist worker: the controller looked it up
            from .keychain import check_key

            if "key" in self.handed_over:
                handed = self.handed_over
                return check_key(header, handed["key"], handed["source"], self.path)
            error = self.handed_over.get("error", "No key was handed over by the controller.")
            if self.handed_over.get("kind") == "missing":
                raise NoKeyError(error)
            raise VaultError(error)
        from .keychain import find_key

        return find_key(header, self.lookup())

    def set_key(self, found: FoundKey) -> None:
        """Use a key found outside the chain (typed at the prompt, or newly created)."""
        self._key, self._key_error, self._key_resolved = found, None, True

    def key_texts(self) -> list[str]:
        """Every vault key this run has seen, as written: masked like secrets.

        The key found (whichever source: file, variable, hook, keyring, prompt, or the
        controller's hand-over), and every key listed in the key variable, even those that
        do not open this vault.
        """
        from .key import split_keys

        texts: list[str] = []
        taken = self.config.stash.get(taken_key_text, None)
        if taken is not None:
            texts.extend(text.strip() for text in split_keys(taken))
        if self._key is not None:
            texts.append(self._key.key.text())
        if self.handed_over is not None and "key" in self.handed_over:
            texts.append(self.handed_over["key"].strip())
        return list(dict.fromkeys(text for text in texts if text))

    def forget_file(self) -> None:
        self._file_read = False
        self._file = None
        self._file_error = None

    # -- the opened vault ----------------------------------------------------------------

    def vault(self) -> Vault:
        """The opened vault, decrypted once per run; raises a remembered `VaultError`."""
        with self.lock:
            if self._vault is None and self._vault_error is None:
                try:
                    from .vault import open_vault

                    found = self.found_key()
                    vault = open_vault(self.vault_file(), found.key, found.source)
                except VaultError as exc:
                    self._vault_error = exc
                else:
                    self._opened(vault)
            if self._vault_error is not None:
                raise self._vault_error
            assert self._vault is not None
            return self._vault

    def _opened(self, vault: Vault) -> None:
        # The masker first: whoever sees the vault open (`is_open`) may mask at once.
        masker: Masker | None = None
        if self.mask_enabled:
            from .masking import Masker

            masker = Masker(dict(vault.items()), keys=self.key_texts())
        self._slot.opened(vault, masker)
        self._vault = vault
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.opened(vault, masker)

    def when_open(self, listener: OpenListener) -> None:
        """Tell ``listener`` when the vault opens (at once if it is open)."""
        with self.lock:
            if self._vault is None:
                self._listeners.append(listener)
                return
        listener.opened(self._vault, self.masker)

    @property
    def is_open(self) -> bool:
        return self._vault is not None

    @property
    def masker(self) -> Masker | None:
        """The masker of the opened vault; None while it is closed, empty or masking is off."""
        return self._slot.masker

    # -- what a test that needs the vault gets -------------------------------------------

    def require_vault(self) -> Vault:
        """The vault, or the test's outcome: skipped (no key), failed, or errored."""
        # The outcome is raised outside the ``except`` block: raised inside it, the report
        # would show the VaultError too ("During handling of the above exception").
        try:
            return self.vault()
        except VaultError as exc:
            error = exc
        if not isinstance(error, (NoKeyError, VaultFileMissingError)):
            pytest.fail(str(error), pytrace=False)
        if self.missing_policy == "fail" or self.config.option.vault_unlock:
            pytest.fail(str(error), pytrace=False)
        skip_test(self.locked_reason())

    def locked_reason(self) -> str:
        """The skip reason of a test that needs a locked vault: how to provide the key."""
        key_env = self.settings.key_env
        if not self.exists():
            return (
                f"vault locked: there is no vault file {self._display_path()} "
                "(create it with `pytest --vault-unlock`)"
            )
        retired = [
            tried
            for tried in getattr(self._key_error, "tried", ())
            if "a key this vault has retired" in tried
        ]
        if retired:  # the keyring holds the key from before a rotation
            return f"vault locked: {retired[0]}"
        return (
            f"vault locked: no key for {self._display_path()} "
            f"(set {key_env}, or run `pytest --vault-unlock`)"
        )

    # -- the report header ---------------------------------------------------------------

    def header_line(self) -> str | None:
        """One line for pytest's report header; None when there is nothing to say."""
        if not self.exists():
            return None
        try:
            count = len(self.vault_file().tokens)
        except VaultError as exc:
            return f"vault: {exc}"
        where = f"vault: {self._display_path()} ({count} secret{'s' * (count != 1)})"
        if self._key_resolved or self.handed_over is not None:
            try:
                return f"{where}, unlocked by {self.found_key().source}"
            except NoKeyError:
                return f"{where}, locked (no key found)"
            except VaultError as exc:
                return f"{where}, {_key_problem(exc)}"
        # Only the cheap sources are tried for the header; the hook and the keyring wait
        # until a test needs the vault.
        lookup = self.lookup()
        if lookup.key_file is not None or lookup.environ.get(lookup.key_env, "").strip():
            try:
                return f"{where}, unlocked by {self.found_key().source}"
            except VaultError as exc:
                return f"{where}, {_key_problem(exc)}"
        self.source_pending = True
        return f"{where}, key looked up when a test needs it"

    def key_warnings(self) -> list[str]:
        """Warnings about how the key that was used is kept (a key file others can read)."""
        if self._key is None:
            return []
        return [f"vault: warning: {warning}." for warning in self._key.warnings]

    def summary_line(self) -> str | None:
        """For the end of the run: where the key came from, when the header could not say."""
        if not self.source_pending or self._key is None:
            return None
        return f"vault: {self._display_path()} was unlocked by {self._key.source}"

    def _display_path(self) -> str:
        try:
            return str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.path)


def _key_problem(exc: VaultError) -> str:
    """The header's words for a key lookup that failed with ``exc``."""
    from .errors import KeyFormatError, WrongKeyError

    if isinstance(exc, (KeyFormatError, WrongKeyError)):
        return f"the key found does not open it: {exc}"
    return f"no usable key: {exc}"  # e.g. a --vault-key-file that does not exist


def run_settings(config: pytest.Config) -> Settings:
    """The settings of this run (`settings` holds every rule); a bad value: usage error."""
    try:
        return settings_from_config(config)
    except VaultUsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def vault_path(config: pytest.Config) -> Path:
    return run_settings(config).vault_file


def mask_enabled(config: pytest.Config) -> bool:
    try:
        return bool(config.getini("vault_mask"))
    except (ValueError, pytest.UsageError) as exc:  # "invalid truth value 'perhaps'"
        raise pytest.UsageError(
            f"vault_mask in the pytest configuration is not true or false ({exc})."
        ) from None


def skip_test(reason: str) -> NoReturn:
    """Skip the current test, reported at the test's location rather than ours."""
    try:
        raise pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # pragma: no cover - a pytest without the private argument
        pytest.skip(reason)


state_key = pytest.StashKey[VaultState]()
#: When the run started (``time.time()``): files changed since are the run's.
run_started = pytest.StashKey[float]()


def get_state(config: pytest.Config) -> VaultState:
    """The run's `VaultState`, created on first use."""
    state = config.stash.get(state_key, None)
    if state is None:
        state = config.stash[state_key] = VaultState(config)
    return state
