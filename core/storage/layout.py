"""Where things live in a repository (its folder, and the index, on the drive or in this computer's cache
folder), and its config (format version, chunker, compression, where the index is kept)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from timekeep.core import __version__
from timekeep.core.errors import FormatTooNew, NotARepository, UsageError
from timekeep.core.storage.atomic import atomic_write, make_private_dir
from timekeep.core.types import Retention

FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
INDEX_MODES = ("drive", "local")  # where the index is kept: in the repository folder, or on each computer


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC sizes. Small enough that a 1 MiB edit stores about 1 MiB, large enough for a lean index."""

    algorithm: str = "fastcdc"
    min_size: int = 16 * 1024
    avg_size: int = 64 * 1024
    max_size: int = 256 * 1024


@dataclass(frozen=True)
class RepoConfig:
    format: int
    repository_id: str
    chunker: ChunkerParams
    compression: str = "zstd"
    compression_level: int = 3
    key_derivation: str = "none"
    created_by: str = ""
    retention: Retention = field(default_factory=Retention)
    index: str = "drive"

    def to_json(self) -> bytes:
        data = asdict(self)
        if self.index == "drive":  # absent means on the drive: such a config reads as it always did
            del data["index"]
        return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> RepoConfig:
        data = json.loads(raw)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:  # a newer Timekeep's setting: guessing what it means could lose a backup
            raise FormatTooNew(f"its config.json sets {', '.join(unknown)}, which this Timekeep does not know")
        data["chunker"] = ChunkerParams(**data["chunker"])
        if "retention" in data:
            data["retention"] = Retention(**data["retention"])
        if data.get("index", "drive") not in INDEX_MODES:
            raise FormatTooNew(f"its index is kept {data['index']!r}, which this Timekeep does not know")
        return cls(**data)


@dataclass(frozen=True)
class Layout:
    """`index_home` is the folder on this computer holding the index of a repository that keeps it locally;
    None keeps it in the repository folder."""

    root: Path
    index_home: Path | None = None

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def index_dir(self) -> Path:
        """The folder holding index.db, its -wal and -shm, a rebuild's new index and a damaged one set aside."""
        return self.root if self.index_home is None else self.index_home

    @property
    def index(self) -> Path:
        return self.index_dir / "index.db"

    @property
    def index_local(self) -> bool:
        return self.index_home is not None

    @property
    def packs(self) -> Path:
        return self.root / "packs"

    @property
    def manifests(self) -> Path:
        return self.root / "snapshots"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def folders(self) -> Path:
        return self.root / "folders.json"

    @property
    def coalescing(self) -> Path:
        """Present while a coalescer run still has manifests to rewrite or remove (crash recovery)."""
        return self.root / "coalescing.json"

    def pack_path(self, name: str) -> Path:
        return self.packs / name[:2] / f"{name}.pack"

    def manifest_path(self, snapshot_id: int, gen: int = 0) -> Path:
        """Where generation `gen` of the snapshot's manifest lives (FORMAT.md, "Manifests")."""
        name = f"{snapshot_id:010d}.manifest" if gen == 0 else f"{snapshot_id:010d}-{gen}.manifest"
        return self.manifests / name


def local_index_home(repository_id: str) -> Path:
    """Where this computer keeps the index of a repository whose config says `"index": "local"`."""
    return platformdirs.user_cache_path("timekeep") / "indexes" / repository_id


def layout_of(root: Path, config: RepoConfig) -> Layout:
    """The repository's layout, with its index where its config says."""
    if config.index == "local":
        return Layout(root, local_index_home(config.repository_id))
    return Layout(root)


def make_index_home(layout: Layout) -> None:
    """Create the local folder for the index, private to the user, where the repository keeps it there."""
    if layout.index_home is not None:
        layout.index_home.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private_dir(layout.index_home, exist_ok=True)


def create(root: Path, chunker: ChunkerParams | None = None, index: str = "drive") -> RepoConfig:
    """Lay out a new repository, private to its owner; refuses a folder that already holds anything."""
    if index not in INDEX_MODES:
        raise UsageError(f"the index is kept on the drive or locally ({' or '.join(INDEX_MODES)}), not {index!r}")
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty; choose an empty or new folder for the repository")
    root.parent.mkdir(parents=True, exist_ok=True)
    make_private_dir(root, exist_ok=True)  # an empty folder made beforehand becomes private too
    layout = Layout(root)
    make_private_dir(layout.packs)
    make_private_dir(layout.manifests)
    config = RepoConfig(
        format=FORMAT_VERSION,
        repository_id=uuid.uuid4().hex,
        chunker=chunker or ChunkerParams(),
        created_by=f"timekeep {__version__}",
        index=index,
    )
    atomic_write(layout.folders, b"[]\n")
    atomic_write(layout.config, config.to_json())
    return config


def load_config(root: Path) -> RepoConfig:
    """Read the config, turning every way it can be wrong into a one-line error."""
    path = Layout(root).config
    if not root.is_dir():
        raise NotARepository(f"{root} does not exist or is not a folder")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotARepository(f"{root} is not a Timekeep repository (no {CONFIG_NAME})") from None
    try:
        config = RepoConfig.from_json(raw)
    except FormatTooNew as err:
        raise FormatTooNew(f"{root} needs a newer Timekeep: {err} — upgrade Timekeep") from None
    except (ValueError, TypeError, KeyError) as err:
        raise NotARepository(f"{path} is damaged: {err}") from None
    if config.format > FORMAT_VERSION:
        raise FormatTooNew(
            f"{root} uses repository format {config.format}; this Timekeep reads format "
            f"{FORMAT_VERSION} — upgrade Timekeep"
        )
    return config


def read_folders(layout: Layout) -> list[dict[str, Any]]:
    try:
        data = json.loads(layout.folders.read_bytes())
    except FileNotFoundError:
        return []
    return list(data)


def write_folders(layout: Layout, folders: list[dict[str, Any]]) -> None:
    atomic_write(layout.folders, json.dumps(folders, indent=2).encode() + b"\n")

