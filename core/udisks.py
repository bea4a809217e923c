"""Hear about drives from udisks over D-Bus where the system has it, so a drive plugged in is seen at once.

A drive being plugged in, mounted, unmounted or pulled makes udisks emit signals on the system bus; each
one wakes the agent's mount-point poll at once instead of at its next interval. Polling stays the truth
(it proves the repository is there) and the fallback: without a system bus, or without udisks, nothing
changes but the delay. jeepney speaks D-Bus in pure Python, so there is nothing to build.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from jeepney import DBusAddress, MatchRule, Message, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

log = logging.getLogger(__name__)

UDISKS = "org.freedesktop.UDisks2"
UDISKS_PATH = "/org/freedesktop/UDisks2"
BUS = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")


def _rules(sender: str | None) -> tuple[MatchRule, ...]:
    return (
        # a drive (block device, filesystem) appearing or going away
        MatchRule(type="signal", sender=sender, interface="org.freedesktop.DBus.ObjectManager", path=UDISKS_PATH),
        # a filesystem mounted or unmounted (its MountPoints property changes)
        MatchRule(type="signal", sender=sender, interface="org.freedesktop.DBus.Properties",
                  member="PropertiesChanged", path_namespace=UDISKS_PATH),
    )


# The bus delivers only what udisks (whoever owns its name) sends; messages carry the sender's unique
# name, so the connection's own filter matches on the rest.
BUS_RULES = _rules(UDISKS)
LOCAL_RULES = _rules(None)
WAIT_S = 0.5  # how often the listening thread looks at its stop flag


class UDisksListener:
    """Calls `on_change` (from its own thread) whenever udisks reports a drive or mount change."""

    def __init__(self, on_change: Callable[[], None], bus: str = "SYSTEM") -> None:
        self.on_change = on_change
        self.bus = bus
        self.status = "drives are found by polling mount points (udisks not asked yet)"
        self.detail = ""  # the underlying error, for the log: the status stays in plain words
        self._conn: DBusConnection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heard: deque[Message] = deque(maxlen=64)

    @property
    def listening(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Connect and subscribe; False (and `status` says why) when there is no bus to listen to."""
        try:
            conn = open_dbus_connection(self.bus, auth_timeout=2.0)
        except (OSError, RuntimeError, KeyError, ValueError) as err:
            self.status = "no system D-Bus here: drives are found by polling mount points"
            self.detail = f"cannot connect to the {self.bus} bus: {err}"
            return False
        try:
            for bus_rule, local_rule in zip(BUS_RULES, LOCAL_RULES, strict=True):
                conn.filter(local_rule, queue=self._heard)
                reply = conn.send_and_get_reply(new_method_call(BUS, "AddMatch", "s", (bus_rule.serialise(),)),
                                                timeout=2.0)
                if reply.header.message_type == MessageType.error:
                    raise OSError(f"AddMatch refused: {reply.body}")
        except (OSError, TimeoutError) as err:
            conn.close()
            self.status = "udisks cannot be heard on D-Bus: drives are found by polling mount points"
            self.detail = f"D-Bus refused the subscription: {err}"
            return False
        self._conn = conn
        self.status = "udisks over D-Bus, with mount-point polling"
        self._thread = threading.Thread(target=self._listen, name="timekeep-udisks", daemon=True)
        self._thread.start()
        return True

    def _listen(self) -> None:
        assert self._conn is not None
        while not self._stop.is_set():
            try:
                self._conn.recv_until_filtered(self._heard, timeout=WAIT_S)
            except TimeoutError:
                continue
            except (OSError, ValueError) as err:  # the bus went away (restart, shutdown): poll as before
                self.status = "the system D-Bus went away: drives are found by polling mount points"
                self.detail = str(err)
                log.warning("udisks: %s (%s)", self.status, err)
                return
            self._heard.clear()
            try:
                self.on_change()
            except Exception:  # a failing callback must not end the listening
                log.exception("udisks: drive change handler failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
