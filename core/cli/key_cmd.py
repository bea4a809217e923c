"""`timekeep key ...`: living with an encrypted repository's key from the command line (change the passphrase,
add a recovery key, export and import the key slots, list and remove them, keep the passphrase in the
keyring or forget it). The work is the engine's (timekeep.core.api); this says what happened, in one line."""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.cli.repo import repo_path
from timekeep.core.errors import KeyringUnavailable, NoKeySlot, PassphraseUnavailable, UsageError

if TYPE_CHECKING:
    from timekeep.core.cli.parser import Subparsers

KEEP_IT = ("Keep it apart from this computer (on paper, or in a password manager): with it you can open the "
           "backups if the passphrase is forgotten; losing both loses them.")


def recovery_lines(text: str) -> list[str]:
    """How a new recovery key is shown, by `init` and `key add-recovery` alike: once, with what it is for."""
    return [f"Recovery key (shown only now): {text}", KEEP_IT]


def add_key_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from timekeep.core.cli.parser import lazy

    key = sub.add_parser("key", help="manage an encrypted repository's key: passphrase, recovery keys, keyring",
                         description="Manage an encrypted repository's key. No data is rewritten: only the "
                         "wrapped copies of the key (key slots) under keys/ change.")
    verbs = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)

    def verb(name: str, func: str, text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, parents=[common], help=text, description=text)
        parser.set_defaults(func=lazy("key_cmd", func))
        return parser

    change = verb("change", "cmd_key_change", "change the passphrase (asks the current one or the recovery key)")
    change.add_argument("--new-passphrase-file", metavar="FILE", help="read the new passphrase from FILE "
                        "(else it is asked twice on the terminal)")
    verb("add-recovery", "cmd_key_add_recovery", "make another recovery key and show it once")
    export = verb("export", "cmd_key_export", "write the key slots (never the key itself) to a new file FILE")
    export.add_argument("file", metavar="FILE")
    restore = verb("import", "cmd_key_import", "put key slots from `key export`'s FILE back into the repository")
    restore.add_argument("file", metavar="FILE")
    listing = verb("list", "cmd_key_list", "list the key slots: id, kind, created")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    remove = verb("remove", "cmd_key_remove", "remove a key slot (never the last one)")
    remove.add_argument("slot", metavar="SLOT", help="a slot id from `timekeep key list`")
    remove.add_argument("--force", action="store_true", help="also remove the last passphrase slot or the slot "
                        "of the secret given")
    verb("remember", "cmd_key_remember", "keep the passphrase in the system keyring (after it opens the key)")
    verb("forget", "cmd_key_forget", "remove the passphrase from the system keyring")


def _passphrase_file(args: argparse.Namespace) -> Path | None:
    given = getattr(args, "passphrase_file", None)
    return Path(given) if given else None


def _new_passphrase(args: argparse.Namespace) -> Callable[[], str]:
    from timekeep.core import api

    given = Path(args.new_passphrase_file) if args.new_passphrase_file else None

    def ask() -> str:
        try:
            return api.new_passphrase(given, from_environment=False)
        except PassphraseUnavailable:
            raise UsageError("No new passphrase: give --new-passphrase-file FILE, or run in a terminal. "
                             "Nothing was changed.") from None

    return ask


def cmd_key_change(args: argparse.Namespace) -> int:
    from timekeep.core import api

    path = repo_path(args)
    change = api.change_passphrase(path, _new_passphrase(args), passphrase_file=_passphrase_file(args))
    print(f"Changed the passphrase of {path}: the old one no longer opens it (the recovery key still does; "
          "no data was rewritten).")
    if change.note:
        print(change.note)
    return 0


def cmd_key_add_recovery(args: argparse.Namespace) -> int:
    from timekeep.core import api

    text = api.add_recovery_key(repo_path(args), passphrase_file=_passphrase_file(args))
    print("\n".join(recovery_lines(text)))
    return 0


def cmd_key_export(args: argparse.Namespace) -> int:
    from timekeep.core import api
    from timekeep.core.cli.output import plural

    path, file = repo_path(args), Path(args.file).absolute()
    count = api.export_keys(path, file)
    print(f"Wrote {plural(count, 'key slot')} to {file} (readable by you alone; it opens nothing without the "
          "passphrase or a recovery key).")
    print(f"Keep it apart from the drive. Should the repository's keys/ folder be damaged: "
          f"timekeep key import {shlex.quote(str(file))} --repo {shlex.quote(str(path))}")
    return 0


def cmd_key_import(args: argparse.Namespace) -> int:
    from timekeep.core import api
    from timekeep.core.cli.output import plural

    count = api.import_keys(repo_path(args), Path(args.file), passphrase_file=_passphrase_file(args))
    if count:
        print(f"Put back {plural(count, 'key slot')} from {args.file}.")
    else:
        print(f"Every key slot in {args.file} is already in the repository: nothing was put back.")
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    from timekeep.core import api
    from timekeep.core.cli.output import print_json

    path = repo_path(args)
    found = api.key_slots(path)
    if not found and not args.json:
        raise NoKeySlot(f"{path} holds no readable key slot: `timekeep key import FILE` puts back exported ones.")
    if args.json:
        print_json([{"slot_id": s.slot_id, "kind": s.kind, "created": s.created} for s in found])
    else:
        print("\n".join(f"{s.slot_id}  {s.kind:<10}  {s.created}" for s in found))
    return 0


def cmd_key_remove(args: argparse.Namespace) -> int:
    from timekeep.core import api

    path = repo_path(args)
    info = api.remove_key_slot(path, args.slot, args.force, passphrase_file=_passphrase_file(args))
    print(f"Removed the {info.kind} key slot {info.slot_id}: what it held no longer opens this repository.")
    if not any(slot.kind == "recovery" for slot in api.key_slots(path)):
        print("No recovery key is left: `timekeep key add-recovery` makes one.")
    return 0


def cmd_key_remember(args: argparse.Namespace) -> int:
    from timekeep.core import api

    api.remember_passphrase(repo_path(args), passphrase_file=_passphrase_file(args))
    print("The system keyring keeps the passphrase now: the agent and the window unlock without asking.")
    return 0


def cmd_key_forget(args: argparse.Namespace) -> int:
    from timekeep.core import api

    if api.forget_passphrase(repo_path(args)):
        print("The system keyring no longer holds this repository's passphrase.")
    else:
        print("The system keyring held no passphrase for this repository: nothing to forget.")
    return 0


KEYRING_QUESTION = ("Keep the passphrase in the system keyring, so the agent can back up after a restart without "
                    "asking? [Y/n] ")


def offer_keyring(path: str, passphrase: str, wanted: bool | None, typed: bool,
                  ask: Callable[[str], bool] | None = None) -> None:
    """After `init`: keep the new passphrase in the keyring when `wanted` (--keyring / --no-keyring), else ask
    once when it was typed on the terminal. A keyring that cannot keep it is one line; the repository stands."""
    from timekeep.core import api

    keep = wanted if wanted is not None else typed and (ask or ask_terminal)(KEYRING_QUESTION)
    if not keep:
        return
    try:
        api.keep_new_passphrase(path, passphrase)
    except KeyringUnavailable as err:
        print(f"timekeep: {err} The repository was created; `timekeep key remember` keeps it later.",
              file=sys.stderr)
    else:
        print("The system keyring keeps the passphrase: the agent can back up after a restart without asking.")


def ask_terminal(question: str) -> bool:
    """A yes-or-no question on the terminal the passphrase was typed on; Enter means yes, no answer means no."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        with io.TextIOWrapper(io.FileIO(fd, "w+"), encoding="utf-8") as tty:  # a tty cannot seek: not open("r+")
            tty.write(question)
            tty.flush()
            answer = tty.readline()
    except OSError:
        return False
    return bool(answer) and answer.strip().lower() in ("", "y", "yes")
