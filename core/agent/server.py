"""The agent's socket: a Unix socket readable by the user alone, one thread per connection, JSON lines.

Requests are answered in order on their connection; subscribed connections also receive every event the
agent broadcasts (progress, jobs starting and ending). A slow or vanished client is dropped, never waited on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timekeep.core.agent.protocol import MAX_LINE, Wire, encode
from timekeep.core.errors import TimekeepError

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 5
Dispatch = Callable[[str, Wire, "Connection"], Any]


class Connection:
    """One client. `send` is safe from any thread (answers and broadcast events interleave by line)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.subscribed = False
        self._lock = threading.Lock()

    def send(self, message: Wire) -> bool:
        """Write one message; False (and the connection closed) if the client is gone or stuck."""
        try:
            with self._lock:
                self.sock.sendall(encode(message))
            return True
        except OSError:
            self.close()
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class ProtocolServer:
    def __init__(self, path: Path, dispatch: Dispatch) -> None:
        self.path = path
        self.dispatch = dispatch
        self.listener: socket.socket | None = None
        self.connections: set[Connection] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Bind with a umask that leaves the socket at 0600 from its first instant, then accept in a thread."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by an agent that died: we hold the instance lock, so it is stale
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, name="timekeep-accept", daemon=True).start()

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            conns, self.connections = list(self.connections), set()
        for conn in conns:
            conn.close()

    def broadcast(self, event: Wire) -> None:
        with self._lock:
            listeners = [c for c in self.connections if c.subscribed]
        for conn in listeners:
            conn.send(event)

    def _accept(self) -> None:
        while self.listener is not None:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if not same_user(sock):  # the socket is 0600; this refuses even a process that got past it
                sock.close()
                continue
            # A client that stops reading must not stall the agent: sends give up after SEND_TIMEOUT_S.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", SEND_TIMEOUT_S, 0))
            conn = Connection(sock)
            with self._lock:
                self.connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="timekeep-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        try:
            with conn.sock.makefile("rb") as reader:
                for line in iter(lambda: reader.readline(MAX_LINE), b""):
                    if not conn.send(self._answer(line, conn)):
                        break
        except OSError:
            pass  # the client went away mid-line
        finally:
            with self._lock:
                self.connections.discard(conn)
            conn.close()

    def _answer(self, line: bytes, conn: Connection) -> Wire:
        """Run one request; every failure becomes an error answer, never a dead connection."""
        request_id: Any = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            op = str(request.pop("op"))
            request.pop("id", None)
            return {"id": request_id, "ok": True, "result": self.dispatch(op, request, conn)}
        except TimekeepError as err:
            return {"id": request_id, "ok": False, "error": str(err), "kind": type(err).__name__}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return {"id": request_id, "ok": False, "error": f"bad request: {err}"}
        except Exception as err:  # a bug must reach the log and the client, not kill the agent
            log.exception("request failed")
            return {"id": request_id, "ok": False, "error": f"internal error: {err}"}


def same_user(sock: socket.socket) -> bool:
    """Whether the process at the other end runs as this user (SO_PEERCRED): passphrases pass here."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())
