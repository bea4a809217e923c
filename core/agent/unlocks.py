"""The agent's locked destinations: tried again when that can help, opened when a person gives the
passphrase over the socket, and a storage time skipped for one said once in the log, not once a minute.

Trying costs a keyring look-up and, with a secret, half a second of key derivation, and a keyring that is
locked may ask its owner to unlock it; so a locked destination is tried again only when the drive comes back,
when its key slots change, or when its key was given meanwhile, never on a timer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from timekeep.core.agent import locked as locking
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.executor import FAILURES
from timekeep.core.agent.messages import DestinationChanged
from timekeep.core.errors import UsageError

if TYPE_CHECKING:
    from timekeep.core.agent.agent import Agent

log = logging.getLogger(__name__)
GIVEN_WAIT_S = 10.0  # how long an unlock request waits for the agent's next poll to take the key up


class Unlocks:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._opened = threading.Condition()

    def attached(self, dest: Destination) -> bool:
        """A drive came and was tried: True when it stays locked (said in the log; its storage times wait)."""
        if dest.locked is None:
            return False
        dest.skip_noted = False
        log.warning("%s is locked: %s. Its changes are journaled and stored once it is unlocked.",
                    dest.key, dest.locked)
        return True

    def check(self) -> None:
        """Open each connected locked destination whose key was given, or whose key slots changed, if it
        now opens without asking."""
        for dest in self.agent.present():
            try:
                if dest.may_unlock_now() and dest.unlock():
                    self._open(dest)
            except FAILURES as err:
                log.warning("%s: cannot be unlocked now: %s", dest.key, err)

    def _open(self, dest: Destination) -> None:
        dest.opened()
        log.info("%s is unlocked; a storage time stores what changed while it was locked", dest.key)
        self.agent._rewatch()
        self.agent._publish(DestinationChanged(dest.key, True))
        dest.owed = "first" if dest.snapshot_count == 0 else "unlocked"
        if not dest.folders:
            dest.owed = None
        with self._opened:
            self._opened.notify_all()

    def give(self, key: str, secret: str) -> None:
        """A person gave the passphrase (or recovery key) of destination `key`: keep the key in memory and
        return once the agent took it up. WrongKey (exit 2) when it opens no key slot."""
        dest = self.agent.destinations.get(key)
        if dest is None:
            raise UsageError(f"{key} is not one of the agent's destinations")
        locking.with_secret(dest.path, secret)
        if not dest.present:
            return  # taken up when its drive comes back
        self.agent._drives_changed()  # poll at the next tick
        with self._opened:
            self._opened.wait_for(lambda: dest.locked is None or not dest.present, GIVEN_WAIT_S)

    def skipped(self, trigger: str) -> None:
        """A storage time came due with only locked destinations connected: say so once per destination."""
        for dest in self.agent.present():
            if dest.locked is not None and not dest.skip_noted:
                dest.skip_noted = True
                log.info("%s: storage time (%s) skipped: locked: %s", dest.key, trigger, dest.locked)
