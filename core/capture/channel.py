"""Messages between a backup and its capture process over a socket pair, with as few copies as a socket allows.

multiprocessing's Connection reads a message in socket-buffer-sized pieces into a growing buffer and copies it out
again; a capture process sends the backup every stored byte (hundreds of MB in a first backup), so each frame is
read here straight into its final buffer, and small messages (pickled) share the same length-prefixed framing.
"""

from __future__ import annotations

import contextlib
import pickle
import select
import socket
import struct
from typing import Any

LENGTH = struct.Struct("<Q")
BUFFER_BYTES = 4 << 20  # a frame (at most about 1 MiB) passes in one write where the system allows it


class Channel:
    """One end of a socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):  # else the system's default size: more writes, the same bytes
                sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        self.sock.sendall(LENGTH.pack(len(data)) + data)

    def send_bytes(self, data: bytes | bytearray) -> None:
        self.sock.sendall(LENGTH.pack(len(data)))
        self.sock.sendall(data)

    def recv(self) -> Any:
        return pickle.loads(self.recv_bytes())

    def recv_bytes(self) -> bytearray:
        """The next message's bytes; EOFError when the other end has gone."""
        (size,) = LENGTH.unpack(self._exactly(bytearray(LENGTH.size)))
        return self._exactly(bytearray(size))

    def poll(self, timeout: float) -> bool:
        """Whether a message has begun to arrive within `timeout` seconds."""
        return bool(select.select([self.sock], [], [], timeout)[0])

    def close(self) -> None:
        self.sock.close()

    def _exactly(self, buf: bytearray) -> bytearray:
        view, got = memoryview(buf), 0
        while got < len(buf):
            n = self.sock.recv_into(view[got:])
            if n == 0:
                raise EOFError("the other end of the channel has gone")
            got += n
        return buf
