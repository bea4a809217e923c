"""The agent's local protocol on the wire: JSON lines over a Unix socket, and the encodings of its values.

A request is `{"id": 1, "op": "status", ...}`; its answer `{"id": 1, "ok": true, "result": ...}` or
`{"id": 1, "ok": false, "error": "..."}`. After `subscribe`, events arrive on the same connection as
`{"event": "progress", ...}` (or after a `backup_now` with `subscribe`). Ops: status, subscribe, backup_now,
coalesce_now, cancel, pause, resume, plan, chunk, changed, unlock, guard_clear (the `guard` event: an incident
suspected or cleared). An error answer also names the error's `kind` (its class), so a client can raise it as
what it is (a wrong passphrase). Paths travel as os.fsdecode strings (undecodable bytes as surrogate escapes,
which Python's JSON keeps), digests as hex, chunk contents as base64. The records these carry are
`timekeep.core.agent.messages`; the client that speaks it is `timekeep.core.agent.client`.
"""

from __future__ import annotations

import base64
import os

from timekeep.core.agent.connection import MAX_LINE as MAX_LINE
from timekeep.core.agent.connection import AgentError as AgentError
from timekeep.core.agent.connection import Wire as Wire
from timekeep.core.agent.connection import encode as encode
from timekeep.core.types import Piece, Plan, Progress


def path_text(path: bytes) -> str:
    return os.fsdecode(path)


def path_bytes(text: str) -> bytes:
    return os.fsencode(text)


def progress_json(p: Progress) -> Wire:
    return {"phase": p.phase, "files_done": p.files_done, "files_total": p.files_total,
            "bytes_done": p.bytes_done, "bytes_total": p.bytes_total, "elapsed_s": round(p.elapsed_s, 3),
            "current": None if p.current is None else path_text(p.current)}


def progress_from(data: Wire) -> Progress:
    current = data.get("current")
    return Progress(data["phase"], data["files_done"], data["files_total"], data["bytes_done"],
                    data["bytes_total"], data["elapsed_s"], None if current is None else path_bytes(current))


def plan_json(plan: Plan) -> Wire:
    return {
        "path": path_text(plan.path), "snapshot_id": plan.snapshot_id, "kind": plan.kind, "size": plan.size,
        "mode": plan.mode, "mtime_ns": plan.mtime_ns,
        "link_target": None if plan.link_target is None else path_text(plan.link_target),
        "pieces": [[p.offset, p.length, p.digest.hex(), p.chunk_offset] for p in plan.pieces],
        "digest": plan.digest.hex() if plan.digest is not None else None, "uid": plan.uid, "gid": plan.gid,
        "xattrs": [[path_text(name), base64.b64encode(value).decode()] for name, value in plan.xattrs],
    }


def plan_from(data: Wire) -> Plan:
    link = data.get("link_target")
    pieces = tuple(Piece(offset, length, bytes.fromhex(digest), chunk_offset)
                   for offset, length, digest, chunk_offset in data["pieces"])
    digest = data.get("digest")
    xattrs = tuple((path_bytes(name), base64.b64decode(value)) for name, value in data.get("xattrs") or [])
    return Plan(path_bytes(data["path"]), data["snapshot_id"], data["kind"], data["size"], data["mode"],
                data["mtime_ns"], None if link is None else path_bytes(link), pieces,
                bytes.fromhex(digest) if digest else None, data.get("uid"), data.get("gid"), xattrs)


def chunk_json(data: bytes) -> Wire:
    return {"data": base64.b64encode(data).decode()}


def chunk_from(result: Wire) -> bytes:
    return base64.b64decode(result["data"])
