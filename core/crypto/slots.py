"""One key slot file: the repository key wrapped by a key-encryption key, with what it takes to derive it.

`keys/<slot-id>.json` holds the KDF's name, salt and parameters, the AEAD's nonce and the wrapped key. The
associated data of the wrap is every other field of the file (the repository id and the slot id among them),
so a slot copied from another repository, renamed, or with any field edited does not open. Reading checks
the shape first and names the file when it is wrong; nothing here returns a key that failed its tag.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from timekeep.core.crypto.kdf import SALT_BYTES, Argon2Params
from timekeep.core.crypto.small_files import read_at_most
from timekeep.core.crypto.subkeys import MASTER_KEY_BYTES
from timekeep.core.errors import KeySlotDamaged

SLOT_TYPE = "timekeep-key-slot"
SLOT_VERSION = 1
AEAD = "chacha20-poly1305"
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_SLOT_BYTES = 16 * 1024
AD_PREFIX = b"timekeep key slot\x00"
HEX32 = frozenset("0123456789abcdef")


class SlotKind(StrEnum):
    PASSPHRASE = "passphrase"
    RECOVERY = "recovery"
    KEYRING = "keyring"  # opened by a random secret one computer's keyring keeps beside the passphrase


@dataclass(frozen=True)
class Slot:
    """A slot file read and checked for shape (not yet opened)."""

    path: Path
    fields: dict[str, Any]

    @property
    def slot_id(self) -> str:
        return str(self.fields["slot_id"])

    @property
    def kind(self) -> SlotKind:
        return SlotKind(self.fields["kind"])

    @property
    def salt(self) -> bytes:
        return _b64(self.fields["kdf"]["salt"])

    @property
    def argon2(self) -> Argon2Params:
        kdf = self.fields["kdf"]
        return Argon2Params(memory_kib=kdf["memory_kib"], iterations=kdf["iterations"], lanes=kdf["lanes"])

    @property
    def key_check(self) -> str:
        return str(self.fields["key_check"])


def build(repository_id: str, slot_id: str, kind: SlotKind, kdf: dict[str, Any], kek: bytes, master: bytes,
          key_check: str, created: str) -> dict[str, Any]:
    """The fields of a new slot wrapping `master` under `kek`."""
    fields: dict[str, Any] = {"type": SLOT_TYPE, "version": SLOT_VERSION, "repository_id": repository_id,
                              "slot_id": slot_id, "kind": kind.value, "created": created, "kdf": kdf,
                              "aead": AEAD, "key_check": key_check}
    nonce = os.urandom(NONCE_BYTES)
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # loaded with the first key

    wrapped = ChaCha20Poly1305(kek).encrypt(nonce, master, associated_data(fields))
    return {**fields, "nonce": b64_text(nonce), "wrapped": b64_text(wrapped)}


def unwrap(slot: Slot, kek: bytes) -> bytes | None:
    """The master key, or None when `kek` does not open the slot (wrong secret, or a field edited)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    fields = {k: v for k, v in slot.fields.items() if k not in ("nonce", "wrapped")}
    try:
        return ChaCha20Poly1305(kek).decrypt(_b64(slot.fields["nonce"]), _b64(slot.fields["wrapped"]),
                                             associated_data(fields))
    except InvalidTag:
        return None


def associated_data(fields: dict[str, Any]) -> bytes:
    return AD_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def encode(fields: dict[str, Any]) -> bytes:
    return (json.dumps(fields, indent=1, sort_keys=True) + "\n").encode()


def read(path: Path, repository_id: str) -> Slot:
    """The slot at `path`, checked for shape and for belonging here; KeySlotDamaged names it otherwise."""
    try:
        raw = read_at_most(path, MAX_SLOT_BYTES)
    except OSError as err:
        raise KeySlotDamaged(f"Key slot {path} cannot be read: {err.strerror}.") from None
    return parse(raw, path, repository_id)


def parse(raw: bytes | None, path: Path, repository_id: str) -> Slot:
    """The slot in `raw` (None, or more than MAX_SLOT_BYTES: too large to be one), read from `path`."""
    if raw is None or len(raw) > MAX_SLOT_BYTES:
        raise KeySlotDamaged(f"Key slot {path} is larger than any key slot: not one Timekeep wrote.")
    try:
        fields = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeySlotDamaged(f"Key slot {path} is damaged: it is not whole JSON.") from None
    problem = shape_problem(fields, path, repository_id)
    if problem:
        raise KeySlotDamaged(f"Key slot {path} {problem}.")
    return Slot(path, fields)


def shape_problem(fields: Any, path: Path, repository_id: str) -> str | None:
    """What makes `fields` no slot of this repository at `path`, or None."""
    if not isinstance(fields, dict) or fields.get("type") != SLOT_TYPE:
        return "is not a Timekeep key slot"
    if fields.get("version") != SLOT_VERSION:
        return f"has version {fields.get('version')!r}, which this Timekeep does not know"
    if fields.get("repository_id") != repository_id:
        return f"belongs to another repository ({fields.get('repository_id')!r}), not to this one"
    if fields.get("slot_id") != path.stem or not _is_hex(fields.get("slot_id"), 32):
        return "was renamed or swapped: its slot id does not match its file name"
    if fields.get("kind") not in {k.value for k in SlotKind} or fields.get("aead") != AEAD:
        return "names a kind of slot or cipher this Timekeep does not know"
    if not _is_hex(fields.get("key_check"), 32) or not isinstance(fields.get("created"), str):
        return "is damaged: a field is missing or malformed"
    return _kdf_problem(fields) or _bytes_problem(fields)


def _kdf_problem(fields: dict[str, Any]) -> str | None:
    kdf = fields.get("kdf")
    wanted = "argon2id" if fields["kind"] == SlotKind.PASSPHRASE else "hkdf-sha256"
    if not isinstance(kdf, dict) or kdf.get("algorithm") != wanted:
        return f"is damaged: its key derivation is not {wanted}"
    if _length(kdf.get("salt")) != SALT_BYTES:
        return "is damaged: its salt is malformed"
    if wanted == "hkdf-sha256":
        return None if set(kdf) == {"algorithm", "salt"} else "is damaged: unknown key derivation fields"
    numbers = [kdf.get(name) for name in ("version", "memory_kib", "iterations", "lanes")]
    if not all(type(n) is int for n in numbers) or set(kdf) != {"algorithm", "salt", "version", "memory_kib",
                                                                 "iterations", "lanes"}:
        return "is damaged: its Argon2id parameters are malformed"
    if kdf["version"] != 0x13:
        return f"asks for Argon2 version {kdf['version']}, which this Timekeep does not compute"
    problem = Argon2Params(kdf["memory_kib"], kdf["iterations"], kdf["lanes"]).problem()
    return f"is refused: {problem}" if problem else None


def _bytes_problem(fields: dict[str, Any]) -> str | None:
    if _length(fields.get("nonce")) != NONCE_BYTES or _length(fields.get("wrapped")) != MASTER_KEY_BYTES + TAG_BYTES:
        return "is damaged: its wrapped key is truncated or malformed"
    return None


def _length(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return len(_b64(value))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def is_slot_id(value: Any) -> bool:
    return _is_hex(value, 32)


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= HEX32


def _b64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def b64_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
