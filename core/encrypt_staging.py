"""Where `timekeep encrypt` stages the encrypted copy and how it commits and finishes it, on each medium: a
drive's `encrypting/` folder, committed and finished by renames (core/storage/conversion.py), or a bucket's
`encrypting/` prefix, committed by replacing config.json and finished by copies inside the server
(core/storage/bucket_conversion.py). core/encrypting.py writes the copy the same way into either."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from timekeep.core.crypto.sealing import Sealing
from timekeep.core.errors import StorageError
from timekeep.core.storage import bucket_conversion, conversion
from timekeep.core.storage.atomic import make_private_dir
from timekeep.core.storage.layout import CONFIG_NAME, Layout, local_index_home
from timekeep.core.storage.location import RemoteRoot, backend_of
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.types import Progress

ProgressCallback = Callable[[Progress], None]


class Staging(Protocol):
    """One medium's staging of the encrypted copy."""

    @property
    def root(self) -> Path:
        """The staged copy's root: what key slots are created under."""
        ...

    def begun(self) -> bool: ...

    def discard(self) -> None: ...

    def prepare(self) -> None:
        """Make room for the copy (folders on a drive)."""
        ...

    def layout(self, sealing: Sealing, scratch_home: Path) -> Layout:
        """The copy as a repository layout, written sealed; temporaries under `scratch_home` where needed."""
        ...

    def commit(self, config_json: bytes, old_repository_id: str) -> None: ...

    def committed(self) -> bool: ...

    def finish(self, progress: ProgressCallback | None) -> None: ...


class DriveStaging:
    def __init__(self, root: Path) -> None:
        self.repository = root
        self.root = conversion.staging(root)

    def begun(self) -> bool:
        return conversion.begun(self.repository)

    def discard(self) -> None:
        conversion.discard(self.repository)

    def prepare(self) -> None:
        make_private_dir(self.root)

    def layout(self, sealing: Sealing, scratch_home: Path) -> Layout:
        target = Layout(self.root, None, sealing)
        make_private_dir(target.packs)
        make_private_dir(target.manifests)
        return target

    def commit(self, config_json: bytes, old_repository_id: str) -> None:
        conversion.write_staged_config(self.repository, config_json, old_repository_id)
        conversion.commit(self.repository)

    def committed(self) -> bool:
        return conversion.committed(self.repository)

    def finish(self, progress: ProgressCallback | None) -> None:
        conversion.finish(self.repository, local_index_home)


class BucketStaging:
    def __init__(self, store: S3Backend) -> None:
        self.store = store
        self.root: Path = RemoteRoot(bucket_conversion.staging(store))

    def begun(self) -> bool:
        return bucket_conversion.begun(self.store)

    def discard(self) -> None:
        bucket_conversion.discard(self.store)

    def prepare(self) -> None:
        """A bucket has no folders to make."""

    def layout(self, sealing: Sealing, scratch_home: Path) -> Layout:
        make_private_dir(scratch_home, exist_ok=True)
        return Layout(self.root, scratch_home, sealing, bucket_conversion.staging(self.store))

    def commit(self, config_json: bytes, old_repository_id: str) -> None:
        bucket_conversion.write_plan(self.store, old_repository_id)
        bucket_conversion.commit(self.store, config_json)

    def committed(self) -> bool:
        """Whether config.json already says encrypted (unsure counts as yes: keep everything)."""
        try:
            return bool(json.loads(self.store.read(CONFIG_NAME)).get("encryption", "none") != "none")
        except (StorageError, ValueError, AttributeError):
            return True

    def finish(self, progress: ProgressCallback | None) -> None:
        bucket_conversion.finish(self.store, local_index_home, progress)


def staging_of(root: Path) -> Staging:
    store = backend_of(root)
    if store is None:
        return DriveStaging(root)
    if not isinstance(store, S3Backend):
        raise TypeError(f"{root}: encrypting in place needs a drive or an S3 bucket")
    return BucketStaging(store)

