"""Drive detection over D-Bus: a private bus stands in for the system bus and a test process plays
udisks. Its signals wake the agent's mount-point poll at once; anyone else's are ignored; without a bus
the agent polls as before and says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jeepney import DBusAddress, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, Proxy, open_dbus_connection

from tests.agent_support import InProcess, agent_config, wait_for
from tests.bus_support import BUS_CONFIG
from tests.helpers import make_tree
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.cli.agent_cmd import status_lines
from timekeep.core.udisks import UDISKS, UDisksListener


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    """The address of a private message bus, running for the test."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed here")
    folder = Path(os.path.realpath(tmp_path)) / "bus"
    folder.mkdir()
    (folder / "bus.conf").write_text(BUS_CONFIG.format(socket=folder / "socket"))
    process = subprocess.Popen([daemon, f"--config-file={folder / 'bus.conf'}", "--nofork"])
    try:
        wait_for(lambda: (folder / "socket").exists(), what="the message bus")
        yield f"unix:path={folder / 'socket'}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def as_udisks(address: str) -> DBusConnection:
    conn = open_dbus_connection(address)
    reply = Proxy(message_bus, conn).RequestName(UDISKS, 0)
    assert reply == (1,), reply  # primary owner
    return conn


def mount_points_changed(conn: DBusConnection) -> None:
    where = DBusAddress("/org/freedesktop/UDisks2/block_devices/sdb1", interface="org.freedesktop.DBus.Properties")
    conn.send(new_signal(where, "PropertiesChanged", "sa{sv}as", ("org.freedesktop.UDisks2.Filesystem", {}, [])))


def drive_added(conn: DBusConnection) -> None:
    where = DBusAddress("/org/freedesktop/UDisks2", interface="org.freedesktop.DBus.ObjectManager")
    conn.send(new_signal(where, "InterfacesAdded", "oa{sa{sv}}", ("/org/freedesktop/UDisks2/block_devices/sdb1", {})))


def test_udisks_signals_are_heard_and_others_are_not(bus: str) -> None:
    heard = threading.Semaphore(0)
    listener = UDisksListener(heard.release, bus)
    assert listener.start() and listener.listening and "udisks" in listener.status
    try:
        udisks, imposter = as_udisks(bus), open_dbus_connection(bus)
        mount_points_changed(imposter)  # the same signal from someone else...
        Proxy(message_bus, imposter).GetId()  # ...routed (or dropped) by the bus before this round trip ends
        mount_points_changed(udisks)
        assert heard.acquire(timeout=30)
        assert not heard.acquire(blocking=False)  # udisks's alone: the listener reads one message at a time
        drive_added(udisks)
        assert heard.acquire(timeout=30)
        udisks.close()
        imposter.close()
    finally:
        listener.stop()
    assert not listener.listening


def test_without_a_bus_the_agent_polls_and_says_so(tmp_path: Path) -> None:
    listener = UDisksListener(lambda: None, f"unix:path={tmp_path / 'no-bus'}")
    assert not listener.start() and not listener.listening
    assert listener.status == "no system D-Bus here: drives are found by polling mount points"


def test_a_drive_plugged_in_is_noticed_at_once_when_udisks_speaks(tmp_path: Path, bus: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        tk.backup()
    hidden = tmp_path / "unplugged"
    with InProcess(agent_config(repo, drive_poll_s=3600.0, udisks_bus=bus)) as run:
        dest = run.agent.destinations[str(repo)]
        assert dest.present and "udisks" in run.agent.drive_detection
        status = Service(run.agent).status()
        assert "Drive detection: udisks over D-Bus, with mount-point polling." in status_lines(status)
        udisks = as_udisks(bus)
        (tmp_path / "drive").rename(hidden)  # "unplugged": the hourly poll would not see it for an hour
        run.ticked(3)
        assert dest.present  # ticks went by, the poll was not due: what follows is udisks's doing
        mount_points_changed(udisks)
        run.until(lambda: not dest.present, timeout=30, what="the unplugged drive to be noticed")
        hidden.rename(tmp_path / "drive")
        drive_added(udisks)
        run.until(lambda: dest.present, timeout=30, what="the plugged-in drive to be noticed")
        udisks.close()
