"""One connection to the agent's socket: JSON lines sent and read, answers matched to their requests.

Below the typed client (`timekeep.core.agent.client`), and light on purpose: it loads neither the engine's
records nor the agent's messages, so the command line's slim path (`timekeep.core.cli.slim`) reaches a running
agent with the interpreter, `socket` and `json` alone. The wire itself is `timekeep.core.agent.protocol`'s.
"""

from __future__ import annotations

import _socket
import collections
import json
import time

from timekeep.core.errors import TimekeepError

TYPE_CHECKING = False  # as typing's flag (the checker reads it so): importing `typing` costs the slim path ~2 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

MAX_LINE = 64 << 20  # a chunk is at most 256 KiB, a plan of a huge file some MiB
Wire = dict[str, "Any"]  # one JSON object as it travels; the records it carries are timekeep.core.agent.messages


class AgentError(TimekeepError):
    """The agent answered a request with an error (of `kind`, the engine error's class), or went away in the
    middle of one."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def encode(message: Wire) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def open_socket(path: Path | str) -> _socket.socket | None:
    """A socket connected to the agent at `path`, or None when none listens there (not started, or gone). The
    C module under `socket`: a socket's connect, sends and receives are all here, and `socket`'s own import (its
    enums converted, `selectors`) would be ~2 ms of the slim path's start (bench/README.md "The agent row,
    second pass")."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(5.0)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


class Connection:
    """Requests and their answers in order; messages that arrive while a request waits (events) are kept in
    `pending` for whoever reads events."""

    def __init__(self, sock: _socket.socket, timeout: float = 60.0) -> None:
        self.sock = sock
        self.timeout = timeout  # how long a request waits for its answer
        self.buffer = b""
        self.pending: collections.deque[Wire] = collections.deque()
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, op: str, **params: Any) -> Any:
        """Send one request and wait for its answer (raw JSON); an error answer raises AgentError."""
        self.next_id += 1
        wanted = self.next_id
        self._send({"id": wanted, "op": op, **params})
        while True:
            message = self.read(self.timeout)
            if message is None:
                raise AgentError("the agent did not answer in time")
            if message.get("id") != wanted:
                self.pending.append(message)
                continue
            if not message.get("ok"):
                error = str(message.get("error", "the agent refused the request"))
                raise AgentError(error, str(message.get("kind") or ""))
            return message.get("result")

    def next_message(self, timeout: float | None = None) -> Wire | None:
        """The next message that answers no request (an event): a kept one first, else one read within
        `timeout` seconds (None when none came)."""
        return self.pending.popleft() if self.pending else self.read(timeout)

    def _send(self, message: Wire) -> None:
        try:
            self.sock.sendall(encode(message))
        except OSError as err:
            raise AgentError(f"the agent went away ({err.strerror or err})") from None

    def read(self, timeout: float | None) -> Wire | None:
        """The next message, or None if `timeout` seconds pass first (None waits for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = left_until(deadline)
            if left is not None and left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                return None
            except OSError as err:
                raise AgentError(f"the agent went away ({err.strerror or err})") from None
            if not data:
                raise AgentError("the agent closed the connection")
            self.buffer += data
            if len(self.buffer) > MAX_LINE:
                raise AgentError("the agent sent an oversized message")
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise AgentError("the agent sent something that is not a message")
        return message


def left_until(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
