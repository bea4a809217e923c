"""`timekeep encrypt`: turn an unencrypted repository into an encrypted one in place, with progress."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from timekeep.core.cli.progress import make_reporter
from timekeep.core.cli.repo import repo_path
from timekeep.core.errors import UsageError


def cmd_encrypt(args: argparse.Namespace) -> int:
    from timekeep.core import api

    path = repo_path(args)
    if api.is_encrypted(path):  # before asking for a passphrase that would not be used
        raise UsageError(f"{path} is encrypted already: nothing to do")
    given = getattr(args, "passphrase_file", None)
    passphrase = api.new_passphrase(Path(given) if given else None)
    reporter = make_reporter(sys.stderr, quiet=args.quiet, as_json=False)
    try:
        recovery = api.encrypt_repository(path, passphrase, reporter)
    finally:
        reporter.close()
    remote = api.is_remote(path)
    print(f"Encrypted the repository at {path}: everything {'in its bucket' if remote else 'on its drive'} is "
          "sealed, and its index now lives on each computer.")
    print(f"Recovery key (shown only now): {recovery}")
    print("Keep it apart from this computer (on paper, or in a password manager): with it you can open the "
          "backups if the passphrase is forgotten; losing both loses them.")
    print(WIPED_BUCKET if remote else WIPED_DRIVE)
    return 0


WIPED_DRIVE = ("The old unencrypted data was deleted, but a drive can keep deleted blocks readable: for the strongest "
               "protection, make a new encrypted repository on a wiped drive.")
WIPED_BUCKET = ("The old unencrypted objects were deleted, but a server may keep deleted objects (a bucket with "
                "versioning keeps them as older versions; a provider may keep backups): remove old versions with the "
                "server's own tools, or for the strongest protection make a new encrypted repository in a bucket "
                "that never held the plaintext.")
