"""`timekeep unlock [--remember]`: give the running agent an encrypted repository's passphrase, so it can
back up to it again, for people without a keyring or whose keyring was locked when the agent started.

The passphrase comes from $TIMEKEEP_PASSPHRASE, --passphrase-file or the terminal (never echoed) and goes to
the agent over its private socket; the agent keeps the key in memory only. `--remember` also keeps the
passphrase in the system keyring, so the agent unlocks by itself after the next restart: as `timekeep key
remember` does it, checked first and never a recovery key (that one is kept apart from this computer).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from timekeep.core.cli.repo import repo_path
from timekeep.core.errors import UsageError


def cmd_unlock(args: argparse.Namespace) -> int:
    from timekeep.core import api
    from timekeep.core.agent.client import AgentClient, agent_socket

    path = repo_path(args)
    given = getattr(args, "passphrase_file", None)
    client = AgentClient.connect(agent_socket(), timeout=60)
    if client is None and not args.remember:
        raise UsageError("The agent is not running, so there is nothing to unlock: start it with `timekeep agent` "
                         "(add --remember to keep the passphrase in the keyring for it).")
    with contextlib.ExitStack() as stack:
        if client is not None:
            stack.enter_context(client)
        secret = api.given_passphrase(Path(given) if given else None)
        if args.remember:  # first: a secret the keyring may not keep stops the command before anything is done
            api.remember_passphrase(path, secret=secret)
        if client is not None:
            client.unlock(str(path), secret)
            print(f"The agent unlocked {path}: backups to it go on.")
    if args.remember:
        print("The passphrase is kept in the system keyring: the agent unlocks by itself from now on.")
    return 0
