"""The agent's local protocol: JSON lines over a Unix socket, and the client the CLI, GUI and tests use.

A request is `{"id": 1, "op": "status", ...}`; its answer `{"id": 1, "ok": true, "result": ...}` or
`{"id": 1, "ok": false, "error": "..."}`. After `subscribe`, events arrive on the same connection as
`{"event": "progress", ...}`. Ops: status, subscribe, backup_now, cancel, pause, resume, plan, chunk,
changed. Paths travel as os.fsdecode strings (undecodable bytes as surrogate escapes, which Python's JSON
keeps), digests as hex, chunk contents as base64.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import TimekeepError
from core.types import Piece, Plan, Progress

MAX_LINE = 64 << 20  # a chunk is at most 256 KiB, a plan of a huge file some MiB


class AgentError(TimekeepError):
    """The agent answered a request with an error, or went away in the middle of one."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def path_text(path: bytes) -> str:
    return os.fsdecode(path)


def path_bytes(text: str) -> bytes:
    return os.fsencode(text)


def progress_json(p: Progress) -> dict[str, Any]:
    return {"phase": p.phase, "files_done": p.files_done, "files_total": p.files_total,
            "bytes_done": p.bytes_done, "bytes_total": p.bytes_total, "elapsed_s": round(p.elapsed_s, 3),
            "current": None if p.current is None else path_text(p.current)}


def progress_from(data: dict[str, Any]) -> Progress:
    current = data.get("current")
    return Progress(data["phase"], data["files_done"], data["files_total"], data["bytes_done"],
                    data["bytes_total"], data["elapsed_s"], None if current is None else path_bytes(current))


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "path": path_text(plan.path), "snapshot_id": plan.snapshot_id, "kind": plan.kind, "size": plan.size,
        "mode": plan.mode, "mtime_ns": plan.mtime_ns,
        "link_target": None if plan.link_target is None else path_text(plan.link_target),
        "pieces": [[p.offset, p.length, p.digest.hex(), p.chunk_offset] for p in plan.pieces],
        "digest": plan.digest.hex() if plan.digest is not None else None, "uid": plan.uid, "gid": plan.gid,
        "xattrs": [[path_text(name), base64.b64encode(value).decode()] for name, value in plan.xattrs],
    }


def plan_from(data: dict[str, Any]) -> Plan:
    link = data.get("link_target")
    pieces = tuple(Piece(offset, length, bytes.fromhex(digest), chunk_offset)
                   for offset, length, digest, chunk_offset in data["pieces"])
    digest = data.get("digest")
    xattrs = tuple((path_bytes(name), base64.b64decode(value)) for name, value in data.get("xattrs") or [])
    return Plan(path_bytes(data["path"]), data["snapshot_id"], data["kind"], data["size"], data["mode"],
                data["mtime_ns"], None if link is None else path_bytes(link), pieces,
                bytes.fromhex(digest) if digest else None, data.get("uid"), data.get("gid"), xattrs)


def chunk_json(data: bytes) -> dict[str, Any]:
    return {"data": base64.b64encode(data).decode()}


def chunk_from(result: dict[str, Any]) -> bytes:
    return base64.b64decode(result["data"])


class AgentClient:
    """One connection to the agent. Answers come back in order; events seen while waiting are kept."""

    def __init__(self, sock: socket.socket, timeout: float = 60.0) -> None:
        self.sock = sock
        self.timeout = timeout  # how long a request waits for its answer
        self.buffer = b""
        self.pending: collections.deque[dict[str, Any]] = collections.deque()
        self.next_id = 0

    @classmethod
    def connect(cls, path: Path, timeout: float = 30.0) -> AgentClient | None:
        """A client, or None when no agent listens at `path` (not started, or gone)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5.0)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            return None
        return cls(sock, timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, op: str, **params: Any) -> Any:
        """Send one request and wait for its answer; an error answer raises AgentError."""
        self.next_id += 1
        wanted = self.next_id
        self._send({"id": wanted, "op": op, **params})
        while True:
            message = self._read(self.timeout)
            if message is None:
                raise AgentError("the agent did not answer in time")
            if message.get("id") != wanted:
                self.pending.append(message)
                continue
            if not message.get("ok"):
                raise AgentError(str(message.get("error", "the agent refused the request")))
            return message.get("result")

    def events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Events as they arrive (after `subscribe`); ends when `timeout` passes without one."""
        while True:
            if self.pending:
                yield self.pending.popleft()
                continue
            message = self._read(timeout)
            if message is None:
                return
            yield message

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.sock.sendall(encode(message))
        except OSError as err:
            raise AgentError(f"the agent went away ({err.strerror or err})") from None

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None if `timeout` seconds pass first (None waits for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else deadline - time.monotonic()
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
