"""`timekeep agent`: take the per-user lock, open the socket, tick until SIGTERM, shut down cleanly.

A clean shutdown stops the watcher, journals every pending path (so nothing is lost across a restart of
the agent or of the machine), gives a running or final storage time its budget, and removes the socket.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from timekeep.core.agent.agent import Agent
from timekeep.core.agent.config import AgentConfig, SettingsFile
from timekeep.core.agent.instance import InstanceLock
from timekeep.core.agent.logs import setup_logging
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.agent.server import ProtocolServer
from timekeep.core.agent.service import Service
from timekeep.core.drives import load_known, save_known

log = logging.getLogger(__name__)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (systemd, logout) and SIGINT (Ctrl-C) ask for a clean stop; the journal is kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def asked(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, asked) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_agent(paths: AgentPaths, config: AgentConfig, stop: threading.Event | None = None,
              settings: SettingsFile | None = None) -> int:
    """Run until `stop` is set or a signal arrives; raises AgentRunning if another agent holds the lock.
    `settings`: the settings.json `config` came from, followed while the agent runs."""
    paths.ensure()
    lock = InstanceLock(paths.lock)
    lock.acquire()
    handler = setup_logging(paths.log_file)
    stop = stop or threading.Event()
    agent = Agent(config, known=load_known(paths.known_drives), settings=settings, guard_file=paths.guard_file)
    server = ProtocolServer(paths.socket, Service(agent).dispatch)
    agent.publish = lambda event: server.broadcast(event.to_wire())
    try:
        with stop_on_signals(stop):
            _serve(agent, server, paths, stop)
    finally:
        save_known(paths.known_drives, agent.poller.known)
        server.close()
        lock.release()
        logging.getLogger().removeHandler(handler)
        handler.close()
    return 0


def _serve(agent: Agent, server: ProtocolServer, paths: AgentPaths, stop: threading.Event) -> None:
    agent.start()
    server.start()
    log.info("agent ready (process %s), socket %s", os.getpid(), paths.socket)
    print(f"Timekeep agent running (process {os.getpid()}); log: {paths.log_file}", file=sys.stderr, flush=True)
    try:
        while not stop.is_set():
            try:
                agent.tick()
                if agent.poller.learned:  # at once: the CLI names an absent drive from this record
                    agent.poller.learned = False
                    save_known(paths.known_drives, agent.poller.known)
            except Exception:  # a bug in one tick is logged; the agent keeps protecting the folders
                log.exception("agent tick failed")
            stop.wait(agent.config.tick_s)
    finally:
        log.info("stopping")
        agent.shutdown()
