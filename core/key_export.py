"""Key slots kept apart from the drive: `export` writes every slot of a repository to one file (wrapped keys
only: it opens nothing without a passphrase or the recovery key), `import` puts them back into a repository
whose `keys/` folder was damaged or emptied.

An import is checked whole before anything is written: the file must be an export of this very repository,
and the secret given must open one of its slots to this repository's key.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from timekeep.core.crypto import keys, slots
from timekeep.core.crypto.slots import Slot, SlotKind
from timekeep.core.crypto.small_files import read_at_most
from timekeep.core.crypto.unlock import PassphraseSource
from timekeep.core.errors import KeySlotDamaged, UsageError
from timekeep.core.rekeying import encrypted
from timekeep.core.storage import atomic

EXPORT_TYPE = "timekeep-key-export"
EXPORT_VERSION = 1
MAX_EXPORT_BYTES = 1024 * 1024


def export_keys(path: str | Path, destination: Path) -> int:
    """Write every readable key slot to `destination`, private (0600) and never over an existing file; how many.
    Keyring slots stay out: each opens only with one computer's keyring, which `key remember` fills again, and
    a Timekeep before them refuses an export holding a slot of a kind it does not know."""
    root, config = encrypted(path)
    found = [slot for slot in keys.readable_slots(root, config.repository_id) if slot.kind != SlotKind.KEYRING]
    if not found:
        raise UsageError(f"{keys.keys_dir(root)} holds no readable key slot: there is nothing to export.")
    data = {"type": EXPORT_TYPE, "version": EXPORT_VERSION, "repository_id": config.repository_id,
            "slots": [slot.fields for slot in found]}
    try:
        fd = atomic.create_private(destination)
    except FileExistsError:
        raise UsageError(f"{destination} already exists: choose another name.") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write((json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())
    return len(found)


def import_keys(path: str | Path, export: Path, source: PassphraseSource) -> int:
    """Put back the slots of `export` that the repository lacks, once the secret opened one of them to this
    repository's key; how many were put back."""
    root, config = encrypted(path)
    fields = _read_export(export, config.repository_id)
    with tempfile.TemporaryDirectory(prefix="timekeep-import-") as staging:
        staged = _stage(Path(staging), fields, export, config.repository_id)
        source.open(Path(staging), config.repository_id, config.key_check)  # WrongKey (exit 2) otherwise
    present = {slot.slot_id for slot in keys.readable_slots(root, config.repository_id)}
    missing = [slot for slot in staged if slot.slot_id not in present]
    for slot in missing:
        keys.remove_slot(root, slot.slot_id, missing_ok=True)  # a damaged one in its place
        keys.put_slot(root, slot)
    return len(missing)


def _read_export(export: Path, repository_id: str) -> list[Any]:
    try:
        raw = read_at_most(export, MAX_EXPORT_BYTES)
    except OSError as err:
        raise UsageError(f"{export} cannot be read: {err.strerror}.") from None
    try:
        data = json.loads(raw) if raw is not None else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("type") != EXPORT_TYPE or not isinstance(data.get("slots"), list):
        raise UsageError(f"{export} is not a key export of `timekeep key export`.")
    if data.get("version") != EXPORT_VERSION:
        raise UsageError(f"{export} is a key export of version {data.get('version')!r}, which this Timekeep "
                         "does not know.")
    if data.get("repository_id") != repository_id:
        raise UsageError(f"{export} holds the keys of another repository ({data.get('repository_id')!r}), "
                         f"not of this one ({repository_id}).")
    return list(data["slots"])


def _stage(folder: Path, fields: list[Any], export: Path, repository_id: str) -> list[Slot]:
    """The export's slots written as a keys/ folder of their own, each read back and checked for shape."""
    keys_folder = keys.keys_dir(folder)
    keys_folder.mkdir(mode=0o700)
    staged = []
    for entry in fields:
        slot_id = entry.get("slot_id") if isinstance(entry, dict) else None
        if not slots.is_slot_id(slot_id):
            raise UsageError(f"{export} is damaged: a slot in it has no slot id.")
        place = keys_folder / f"{slot_id}.json"
        place.write_bytes(slots.encode(entry))
        try:
            staged.append(slots.read(place, repository_id))
        except KeySlotDamaged as err:
            raise UsageError(f"{export} is damaged: {str(err).replace(str(place), 'a slot in it')}") from None
    if not staged:
        raise UsageError(f"{export} holds no key slot.")
    return staged
