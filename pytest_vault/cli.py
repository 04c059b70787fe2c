"""The ``pytest-vault`` console script: add, list, rotate and remove secrets.

New keys go alone to standard output (``KEY=$(pytest-vault init --no-keyring)``); every
message goes to standard error. Exit status: 0 success, 1 a vault error, 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__

TYPE_CHECKING = False  # not `typing`'s: `--version` and `list` need not import it
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from .key import VaultKey
    from .keychain import FoundKey, KeyLookup
    from .keyflows import Prompter
    from .settings import Settings
    from .vaultfile import VaultFile

# Nothing else is imported here: every command imports what it needs when it runs, so that
# `--version` is the interpreter plus argparse, and `get` adds only what opening a vault
# takes (tests/test_startup_imports.py holds this).

PROG = "pytest-vault"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(text: str) -> None:
    """Write to standard output as UTF-8, whatever the locale."""
    sys.stdout.flush()
    sys.stdout.buffer.write((text + "\n").encode("utf-8"))
    sys.stdout.buffer.flush()


class Command:
    """What every command needs: its parsed arguments, settings, key lookup and prompter."""

    def __init__(self, args: argparse.Namespace) -> None:
        from pathlib import Path

        from .settings import find_settings

        self.args = args
        self.settings: Settings = find_settings(
            Path.cwd(),
            vault_file_option=args.file,
            key_file_option=args.key_file,
            no_keyring=bool(args.no_keyring),
            environ=os.environ,
        )
        self.path: Path = self.settings.vault_file
        self._environ = dict(os.environ)
        self._lookup: KeyLookup | None = None
        self._prompter: Prompter | None = None

    @property
    def lookup(self) -> KeyLookup:
        """Where the key is looked for (built when first needed: `list` needs no key)."""
        if self._lookup is None:
            from .keychain import KeyLookup

            self._lookup = KeyLookup.from_settings(self.settings, environ=self._environ)
        return self._lookup

    @property
    def prompter(self) -> Prompter:
        """Messages to standard error, questions on the terminal (opened when first needed)."""
        if self._prompter is None:
            from .terminal import open_prompter

            self._prompter = open_prompter(sys.stderr)
        return self._prompter

    def vault_file(self) -> VaultFile:
        from .errors import VaultFileError
        from .vaultfile import VaultFile

        try:
            return VaultFile.load(self.path)
        except VaultFileError as exc:
            if not self.path.exists():
                raise VaultFileError(
                    f"{exc} Create one with `pytest-vault init` (or `pytest --vault-unlock`)."
                ) from None
            raise

    def found_key(self, vault_file: VaultFile | None = None) -> FoundKey:
        """The key: from its sources, else asked for on a terminal (and offered to save)."""
        from .errors import NoKeyError
        from .keychain import find_key

        header = (vault_file or self.vault_file()).header
        try:
            found = find_key(header, self.lookup)
        except NoKeyError as exc:
            from . import keyflows

            found = keyflows.ask_for_key(self.prompter, header, self.lookup, not_found=exc)
            keyflows.offer_to_save(self.prompter, self.lookup, found)
        self.warn(found)
        return found

    def current_key(self, vault_file: VaultFile) -> FoundKey | None:
        """The key from its sources when one opens the vault; never asks."""
        from .errors import VaultError
        from .keychain import find_key

        try:
            return find_key(vault_file.header, self.lookup)
        except VaultError:
            return None

    def warn(self, found: FoundKey) -> None:
        for warning in found.warnings:
            say(f"Warning: {warning}.")

    def keep_new_key(self, key: VaultKey) -> None:
        """Store a new key everywhere asked for; standard output always gets it."""
        from .keyflows import store_new_key

        store_new_key(self.prompter, self.lookup, key, show_key=emit, key_out=_key_out(self))


# -- commands ------------------------------------------------------------------------------


def cmd_init(command: Command) -> int:
    from .errors import VaultFileError
    from .key import VaultKey
    from .keychain import check_key_file_free
    from .vault import create_vault

    if command.path.exists():
        raise VaultFileError(f"{command.path} already exists; `init` never replaces a vault.")
    check_key_file_free(_key_out(command))
    key = VaultKey.generate()
    create_vault(command.path, key)
    say(f"Created the vault {command.path}.")
    try:
        command.keep_new_key(key)
    except BaseException:
        # Nobody got the key (e.g. --key-out failed): a vault no one can open is worse
        # than none, so take it back.
        command.path.unlink(missing_ok=True)
        say(f"Removed {command.path} again: its key could not be handed over.")
        raise
    _offer_git_setup(command)
    return 0


def _offer_git_setup(command: Command) -> None:
    """Offer to configure git's merge and diff drivers for the new vault (default yes)."""
    from .errors import VaultError
    from .gitdrivers import offer_setup
    from .terminal import terminal_available

    try:
        offer_setup(command.path, ask=terminal_available())
    except VaultError as exc:
        say(f"git was not configured: {exc}")


def cmd_set(command: Command) -> int:
    from .masking.limits import MIN_MASKED_LENGTH
    from .names import check_name, check_value
    from .vault import set_secrets

    name = check_name(command.args.name)
    vault_file = command.vault_file()
    found = command.found_key(vault_file)
    value = check_value(name, _read_value(command, name))
    replacing = name in vault_file.tokens
    set_secrets(command.path, found.key, {name: value})
    say(f"{'Replaced' if replacing else 'Set'} {name} in {command.path}.")
    if len(value) < MIN_MASKED_LENGTH:
        _warn_unmaskable([name])
    return 0


def _warn_unmaskable(names: list[str]) -> None:
    from .masking.limits import MIN_MASKED_LENGTH

    if names:
        say(
            f"Warning: {', '.join(names)} {'is' if len(names) == 1 else 'are'} shorter than "
            f"{MIN_MASKED_LENGTH} characters, so pytest-vault cannot mask "
            f"{'it' if len(names) == 1 else 'them'} in test output."
        )


def _read_value(command: Command, name: str) -> str:
    from pathlib import Path

    from .errors import SecretValueError, VaultUsageError, shown_path
    from .keyflows import MAX_PROMPT_TRIES

    if command.args.from_file:
        shown = shown_path(command.args.from_file)
        try:
            return Path(command.args.from_file).read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise VaultUsageError(f"There is no file {shown}.") from None
        except UnicodeDecodeError:
            raise SecretValueError(
                f"{shown} is not UTF-8 text; store binary data base64-encoded."
            ) from None
        except OSError as exc:
            raise VaultUsageError(f"Cannot read {shown}: {exc.strerror}.") from None
    empty = VaultUsageError(
        f"No value for {name} was given (it was empty); nothing was set. Type it at the "
        "prompt, pipe it in, or use --from-file PATH."
    )
    if command.prompter.interactive:
        for _ in range(MAX_PROMPT_TRIES):
            first = command.prompter.ask_hidden(f"Value for {name}: ")
            if first == command.prompter.ask_hidden(f"Value for {name} (again): "):
                if not first:
                    raise empty
                return first
            command.prompter.say("The two values differ; try again.")
        raise VaultUsageError(f"The values typed for {name} did not match; nothing was set.")
    data = sys.stdin.buffer.read()
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretValueError(
            "Standard input is not UTF-8 text; store binary data base64-encoded."
        ) from None
    # One trailing newline, as `$(...)` or `echo` add it (CRLF from Windows pipes too).
    value = value.removesuffix("\n").removesuffix("\r") if value.endswith("\n") else value
    if not value:
        raise empty
    return value


def cmd_get(command: Command) -> int:
    from .vault import open_vault

    vault_file = command.vault_file()
    found = command.found_key(vault_file)
    vault = open_vault(vault_file, found.key, found.source)
    emit(vault[command.args.name])
    return 0


def cmd_list(command: Command) -> int:
    for name in command.vault_file().names:
        emit(name)
    return 0


def cmd_rm(command: Command) -> int:
    from .vault import remove_secret

    command.vault_file()
    remove_secret(command.path, command.args.name)
    say(f"Removed {command.args.name} from {command.path}.")
    return 0


def cmd_status(command: Command) -> int:
    from .errors import NoKeyError, VaultError
    from .keychain import find_key

    vault_file = command.vault_file()
    count = len(vault_file.tokens)
    say(f"Vault file: {command.path}")
    say(f"Secrets: {count}")
    say(f"Key id: {vault_file.header.key_id}")
    try:
        found = find_key(vault_file.header, command.lookup)
    except NoKeyError as exc:
        say(f"Key: not found. {exc}")
        return 0
    except VaultError as exc:
        say(f"Key: found, but it does not open the vault. {exc}")
        return 0
    say(f"Key: found in {found.source}")
    command.warn(found)
    try:
        vault_file.decrypt_all(found.key)
    except VaultError as exc:
        say(f"Opens: no. {exc}")
    else:
        say("Opens: yes")
    return 0


def cmd_unlock(command: Command) -> int:
    from . import keyflows

    vault_file = command.vault_file()
    found = read_key_interactively(command, vault_file)
    vault_file.decrypt_all(found.key)
    saved = keyflows.save_checked_key(command.prompter, command.lookup, found)
    return 0 if saved else 1


def read_key_interactively(command: Command, vault_file: VaultFile) -> FoundKey:
    """A key from a hidden prompt (asking again after a mistake) or from standard input."""
    from . import keyflows
    from .errors import VaultUsageError
    from .keychain import check_key

    if not command.prompter.interactive:
        # Bytes, not text: undecodable input must read as "not a key", never a traceback.
        text = sys.stdin.buffer.read().decode("utf-8", "replace")
        if not text.strip():
            raise VaultUsageError("No key on standard input (and no terminal to ask on).")
        return check_key(vault_file.header, text, "standard input", command.path)
    return keyflows.ask_for_key(command.prompter, vault_file.header, command.lookup)


def cmd_lock(command: Command) -> int:
    from .errors import VaultUsageError, sentence
    from .keychain import remove_from_keyring

    vault_file = command.vault_file()
    if command.args.no_keyring:
        raise VaultUsageError("`lock` removes the key from the system keyring; drop --no-keyring.")
    problem = remove_from_keyring(vault_file.header.key_id)
    if problem:
        say(sentence(f"{problem}; nothing to remove"))
    else:
        say(f"Removed the key of {command.path} from the system keyring.")
    return 0


def cmd_key(command: Command) -> int:
    emit(command.found_key().key.text())
    return 0


def cmd_rotate(command: Command) -> int:
    from .keychain import check_key_file_free
    from .vault import rekey

    check_key_file_free(_key_out(command))
    found = command.found_key()
    count = len(command.vault_file().tokens)
    rekey(command.path, found.key, command.keep_new_key)
    say(
        f"Rotated the key of {command.path}: {count} secret(s) re-encrypted. Update "
        f"{command.settings.key_env} in CI (it may hold the old and the new key while this "
        "change is merged)."
    )
    return 0


def cmd_reset(command: Command) -> int:
    from . import keyflows
    from .keychain import check_key_file_free
    from .vault import rekey

    vault_file = command.vault_file()
    check_key_file_free(_key_out(command))
    names = vault_file.names
    keyflows.confirm_reset(
        command.prompter,
        command.path,
        names,
        confirmed=bool(command.args.yes),
        yes_option="--yes",
        current=command.current_key(vault_file),
    )
    rekey(command.path, None, command.keep_new_key)
    say(keyflows.reset_report(command.path, names))
    return 0


def cmd_check(command: Command) -> int:
    from .checkup import cmd_check as check

    return check(command)


def cmd_repair(command: Command) -> int:
    from .repair import cmd_repair as repair

    return repair(command)


def cmd_git_setup(command: Command) -> int:
    from .gitdrivers import cmd_git_setup as git_setup

    return git_setup(command)


def cmd_merge(command: Command) -> int:
    from .gitdrivers import cmd_merge as merge

    return merge(command)


def cmd_textconv(command: Command) -> int:
    from .gitdrivers import cmd_textconv as textconv

    return textconv(command)


def cmd_import(command: Command) -> int:
    from pathlib import Path

    from .errors import HIDDEN_PATH, VaultUsageError, shown_path
    from .importer import cmd_import as import_entries

    env_file = Path(command.args.env_file)
    if shown_path(env_file) == HIDDEN_PATH and not env_file.exists():
        # A key or a value typed in the file's place: never repeat it.
        raise VaultUsageError(f"There is no file {HIDDEN_PATH} to import.")
    return import_entries(command)


def cmd_export(command: Command) -> int:
    from .export import cmd_export as export

    return export(command)


def cmd_edit(command: Command) -> int:
    from .edit import cmd_edit as edit

    return edit(command)


def cmd_scan(command: Command) -> int:
    from .scan import cmd_scan as scan

    return scan(command)


def cmd_run(command: Command) -> int:
    from .run import cmd_run as run

    return run(command)


def _key_out(command: Command) -> Path | None:
    from pathlib import Path

    return Path(os.path.expanduser(command.args.key_out)) if command.args.key_out else None


# -- argument parsing ----------------------------------------------------------------------

COMMANDS: dict[str, tuple[Callable[[Command], int], str]] = {
    "init": (cmd_init, "create the vault file with a new key"),
    "set": (cmd_set, "add or replace a secret (value from a prompt, stdin or --from-file)"),
    "get": (cmd_get, "print a secret's value"),
    "list": (cmd_list, "print the secret names (needs no key)"),
    "rm": (cmd_rm, "remove a secret"),
    "status": (cmd_status, "show the vault file, its secrets' count and where the key is"),
    "unlock": (cmd_unlock, "check a key and save it in the system keyring"),
    "lock": (cmd_lock, "remove the key from the system keyring"),
    "key": (cmd_key, "print the current key"),
    "rotate": (cmd_rotate, "new key, every secret re-encrypted and kept"),
    "reset": (cmd_reset, "new key, every secret deleted (for a lost key)"),
    "check": (cmd_check, "validate the file; with a key, decrypt every value"),
    "import": (cmd_import, "add the secrets of a .env-style file"),
    "repair": (cmd_repair, "re-encrypt values left under a retired key"),
    "git-setup": (cmd_git_setup, "configure git to merge and diff the vault per secret"),
    "merge": (cmd_merge, "git merge driver: merge BASE OURS THEIRS per secret"),
    "textconv": (cmd_textconv, "git diff driver: names, header and value fingerprints"),
    "edit": (cmd_edit, "edit every secret, decrypted, in $VISUAL or $EDITOR"),
    "export": (cmd_export, "print the secrets (all or those named) as .env lines or JSON"),
    "run": (cmd_run, "run a command with the secrets as environment variables"),
    "scan": (cmd_scan, "look for secret values and vault keys in files (git's by default)"),
}


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--file", metavar="PATH", default=default, help="the vault file")
    parser.add_argument(
        "--key-file", metavar="PATH", default=default, help="read the key from this file"
    )
    parser.add_argument(
        "--no-keyring",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="neither read nor write the system keyring",
    )


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's own, told the terminal's width: argparse would import `shutil` (and with
    it zlib, bz2 and lzma) for every argument added, to ask it."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width() - 2)


def _terminal_width() -> int:
    """As `shutil.get_terminal_size().columns`: $COLUMNS, else standard output's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _command_in(argv: Sequence[str]) -> str | None:
    """The command argparse will run for ``argv``, when that is certain before parsing.

    Only the global options may come before it; anything else (``-h``, ``--version``, an
    unknown option or command) answers None, and the whole parser is built.
    """
    remaining = iter(argv)
    for arg in remaining:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        option, has_value, _ = arg.partition("=")
        if len(option) < 3:  # "-", "--", "-h" and other single-dash options
            return None
        # The options' third characters differ, so any prefix argparse accepts is one of them.
        if "--no-keyring".startswith(option) and not has_value:
            continue
        if "--file".startswith(option) or "--key-file".startswith(option):
            if not has_value:
                next(remaining, None)
            continue
        return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv`` that names its command, only that command's sub-parser
    is built (one of 21: building all is most of the cost of a fast command)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage the encrypted test secrets of a pytest-vault vault file.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = None if argv is None else _command_in(argv)
    for name, (_, summary) in COMMANDS.items():
        if wanted is not None and name != wanted:
            continue
        sub = commands.add_parser(
            name, help=summary, description=summary, formatter_class=_HelpFormatter
        )
        _global_options(sub, suppress=True)
        if name in ("set", "get", "rm"):
            sub.add_argument("name", metavar="NAME")
        if name == "set":
            sub.add_argument("--from-file", metavar="PATH", help="read the value from a file")
        if name in ("init", "rotate", "reset"):
            sub.add_argument(
                "--key-out", metavar="PATH", help="also write the new key to this new file"
            )
        if name == "reset":
            sub.add_argument("--yes", action="store_true", help="confirm without a prompt")
        if name in ("import", "export", "run", "scan"):
            _team_arguments(name, sub)
        if name == "merge":
            _merge_arguments(sub)
        if name == "textconv":
            sub.add_argument("textconv_file", metavar="FILE")
    return parser


def _team_arguments(name: str, sub: argparse.ArgumentParser) -> None:
    """The arguments of `import`, `export`, `run` and `scan`."""
    if name == "import":
        sub.add_argument("env_file", metavar="FILE")
        sub.add_argument("--force", action="store_true", help="replace existing names")
        sub.add_argument(
            "--skip-existing", action="store_true", help="keep the names the vault holds"
        )
        sub.add_argument("--only", metavar="NAMES", action="append", help="only these (A,B)")
        sub.add_argument(
            "--exclude", metavar="NAMES", action="append", help="leave these out (A,B)"
        )
    if name == "export":
        sub.add_argument("names", metavar="NAME", nargs="*", help="only these secrets")
        sub.add_argument(
            "--format", choices=("dotenv", "json"), default="dotenv", help="default: dotenv"
        )
    if name == "scan":
        sub.add_argument(
            "paths", metavar="PATH", nargs="*", help="files or folders (default: git's files)"
        )
    if name == "run":
        sub.add_argument(
            "--only", metavar="NAMES", action="append", help="only these secrets (A,B)"
        )
        sub.add_argument(
            "run_command",
            metavar="-- CMD [ARGS...]",
            nargs=argparse.REMAINDER,
            help="the command to run",
        )


def _merge_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "versions",
        nargs="*",
        metavar="BASE OURS THEIRS",
        help="as git's merge driver: the three versions (%%O %%A %%B; the result goes to "
        "OURS); without them, merge the vault file git is merging, from git's index",
    )
    side = sub.add_mutually_exclusive_group()
    side.add_argument("--ours", action="store_true", help="settle conflicts with our line")
    side.add_argument("--theirs", action="store_true", help="settle conflicts with their line")
    sub.add_argument(
        "--marker-size", type=int, default=7, metavar="N", help="conflict marker length (%%L)"
    )
    sub.add_argument("--path", metavar="PATH", help="the file's path, for messages (%%P)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; return its exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args, extra = parser.parse_known_args(arguments)
    if extra:
        # argparse would repeat them, and they are likely a value or a key typed where
        # it does not belong (`set NAME value`): never echo them.
        parser.error(
            f"{len(extra)} unexpected argument(s) for `{args.command}`, not repeated here in "
            "case they hold a secret or a key. Neither is ever taken from the command line: "
            "`set` reads the value from a prompt, standard input or --from-file, `unlock` "
            "the key from a prompt or standard input."
        )
    handler = COMMANDS[args.command][0]
    for option in ("key_out", "from_file", "yes", "force"):
        if not hasattr(args, option):
            setattr(args, option, None)
    from .errors import VaultError

    try:
        return handler(Command(args))
    except VaultError as exc:
        say(f"{PROG}: {exc}")
        return exc.exit_status
    except (KeyboardInterrupt, EOFError):
        say(f"{PROG}: interrupted; nothing was changed.")
        return 1
    except BrokenPipeError:
        return 1
