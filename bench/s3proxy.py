"""A counting HTTP proxy in front of the bench's S3 server: every request each tool makes, by kind, and the
body bytes it sends and receives, per bucket (each tool has its own).

The bodies are moved by the kernel (splice through a pipe), not copied through Python, so the proxy costs
the racing tools little of the machine's two cores; every request still pays one loopback hop more, which
a real network's round trip dwarfs. Only what S3 clients send is understood: HTTP/1.1 with keep-alive,
bodies framed by Content-Length or chunked. `Expect: 100-continue` is answered here, so the server sees a
plain request (the header is not signed by SigV4).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

PIPE_BYTES = 1 << 20  # the pipe splice moves through: Linux's default ceiling for an unprivileged pipe
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
HEAD_LIMIT = 64 << 10
KINDS = ("LIST", "GET", "HEAD", "PUT", "POST", "DELETE")


@dataclass
class Traffic:
    """What one bucket's client did: requests by kind (LIST is a GET of the bucket itself), refusals among
    them (status 400 and above, such as a HEAD finding no object), body bytes sent and received."""

    requests: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    sent: int = 0
    received: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def copy(self) -> Traffic:
        return Traffic(Counter(self.requests), self.refused, self.sent, self.received)

    def since(self, earlier: Traffic) -> Traffic:
        """The traffic between `earlier` (a copy taken before) and now."""
        requests = Counter(self.requests)
        requests.subtract(earlier.requests)
        return Traffic(+requests, self.refused - earlier.refused, self.sent - earlier.sent,
                       self.received - earlier.received)


class Closed(Exception):
    """The peer closed the connection."""


class Stream:
    """A blocking socket read through a small buffer for heads and chunk lines; bodies go by splice."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(PIPE_BYTES)
        if not data:
            raise Closed
        self.buffer += data

    def until(self, end: bytes) -> bytes:
        """Everything up to and including `end` (a head's blank line, a chunk's line end)."""
        while (at := self.buffer.find(end)) < 0:
            if len(self.buffer) > HEAD_LIMIT:
                raise Closed
            self._fill()
        line = bytes(self.buffer[: at + len(end)])
        del self.buffer[: at + len(end)]
        return line

    def pump(self, count: int, out: socket.socket, pipe: tuple[int, int]) -> int:
        """Move `count` bytes (or, with -1, everything until the peer closes) to `out`; bytes moved."""
        moved = min(len(self.buffer), count) if count >= 0 else len(self.buffer)
        out.sendall(self.buffer[:moved])
        del self.buffer[:moved]
        read, write = pipe
        while count < 0 or moved < count:
            want = PIPE_BYTES if count < 0 else min(PIPE_BYTES, count - moved)
            got = os.splice(self.sock.fileno(), write, want)
            if got == 0:
                if count < 0:
                    return moved
                raise Closed
            moved += got
            while got:
                got -= os.splice(read, out.fileno(), got)
        return moved


@dataclass
class Head:
    line: bytes
    headers: list[tuple[str, str]]

    @classmethod
    def read(cls, stream: Stream) -> Head:
        raw = stream.until(b"\r\n\r\n").decode("latin-1")
        first, *rest = raw[:-4].split("\r\n")
        headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in rest) if k]
        return cls(first.encode("latin-1"), headers)

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def encode(self, drop: tuple[str, ...] = ()) -> bytes:
        kept = "".join(f"{k}: {v}\r\n" for k, v in self.headers if k.lower() not in drop)
        return self.line + b"\r\n" + kept.encode("latin-1") + b"\r\n"

    def wants_close(self) -> bool:
        return (self.get("connection") or "").lower() == "close" or self.line.startswith(b"HTTP/1.0")


def relay_body(head: Head, stream: Stream, out: socket.socket, pipe: tuple[int, int], until_close: bool) -> int:
    """Pass on one message's body as framed by its head; its payload bytes."""
    if "chunked" in (head.get("transfer-encoding") or "").lower():
        total = 0
        while True:
            line = stream.until(b"\r\n")
            out.sendall(line)
            size = int(line.split(b";")[0], 16)
            if size == 0:  # trailers, if any, then an empty line
                while (trailer := stream.until(b"\r\n")) != b"\r\n":
                    out.sendall(trailer)
                out.sendall(trailer)
                return total
            total += stream.pump(size, out, pipe)
            out.sendall(stream.until(b"\r\n"))
    length = head.get("content-length")
    if length is not None:
        return stream.pump(int(length), out, pipe)
    return stream.pump(-1, out, pipe) if until_close else 0


def kind_of(method: str, target: str) -> tuple[str, str]:
    """The bucket a path-style request is for, and its kind: LIST for a GET of the bucket itself."""
    path = target.split("?", 1)[0]
    bucket, _, key = path.lstrip("/").partition("/")
    if method == "GET" and not key:
        return bucket, "LIST"
    return bucket, method


class CountingProxy:
    """Listens on a loopback port and passes every connection on to `upstream` ("127.0.0.1:port"). With
    `latency` (seconds), each request waits that long before it is passed on: one round trip to a distant
    server, so what a tool's request count costs over a network shows in its times."""

    def __init__(self, upstream: tuple[str, int], latency: float = 0.0) -> None:
        self.upstream, self.latency = upstream, latency
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._traffic: dict[str, Traffic] = {}
        self._lock = threading.Condition()
        self._busy = 0  # exchanges begun and not yet counted
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="s3-counting-proxy")

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def traffic(self, bucket: str, settle: float = 10.0) -> Traffic:
        """A copy of the traffic so far to `bucket`, once every exchange under way is counted (a client has
        its answer a moment before the proxy has counted it; up to `settle` seconds)."""
        with self._lock:
            self._lock.wait_for(lambda: self._busy == 0, settle)
            return self._traffic.get(bucket, Traffic()).copy()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _count(self, bucket: str, kind: str, status: int, sent: int, received: int) -> None:
        with self._lock:
            traffic = self._traffic.setdefault(bucket, Traffic())
            traffic.requests[kind] += 1
            traffic.refused += status >= 400
            traffic.sent += sent
            traffic.received += received

    def _begun(self, change: int) -> None:
        with self._lock:
            self._busy += change
            self._lock.notify_all()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        pipe = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe[1], F_SETPIPE_SZ, PIPE_BYTES)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._open.update((client, upstream))
        try:
            from_client, from_server = Stream(client), Stream(upstream)
            while self._exchange(from_client, from_server, client, upstream, pipe):
                pass
        except (Closed, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._open.difference_update((client, upstream))
            for fd in pipe:
                os.close(fd)
            client.close()
            upstream.close()

    def _exchange(self, from_client: Stream, from_server: Stream, client: socket.socket, upstream: socket.socket,
                  pipe: tuple[int, int]) -> bool:
        """One request and its answer; whether the connection stays open for another."""
        request = Head.read(from_client)
        self._begun(+1)
        try:
            return self._answer(request, from_client, from_server, client, upstream, pipe)
        finally:
            self._begun(-1)

    def _answer(self, request: Head, from_client: Stream, from_server: Stream, client: socket.socket,
                upstream: socket.socket, pipe: tuple[int, int]) -> bool:
        method, target = request.line.decode("latin-1").split(" ")[:2]
        if self.latency:
            time.sleep(self.latency)  # the network's round trip, not a wait for anything
        if (request.get("expect") or "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        upstream.sendall(request.encode(drop=("expect",)))
        sent = relay_body(request, from_client, upstream, pipe, until_close=False)
        response = Head.read(from_server)
        while response.line.split(b" ")[1].startswith(b"1"):  # interim answers: pass on, read on
            client.sendall(response.encode())
            response = Head.read(from_server)
        status = int(response.line.split(b" ")[1])
        client.sendall(response.encode())
        bodiless = method == "HEAD" or status in (204, 304)
        received = 0 if bodiless else relay_body(response, from_server, client, pipe, until_close=True)
        self._count(*kind_of(method, target), status, sent, received)
        framed = bodiless or response.get("content-length") is not None or response.get("transfer-encoding")
        return bool(framed) and not request.wants_close() and not response.wants_close()
