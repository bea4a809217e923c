"""Where things live in a repository (its folder, and the index, on the drive or in this computer's cache
folder), and its config (format version, chunker, compression, where the index is kept)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from timekeep.core import __version__
from timekeep.core.errors import FormatTooNew, KeyNeeded, NotARepository, ObjectMissing, UsageError
from timekeep.core.storage.atomic import make_private_dir
from timekeep.core.storage.location import backend_of
from timekeep.core.types import Retention

if TYPE_CHECKING:  # the keys' code and the encryption in place load for an encrypted repository only
    from timekeep.core.crypto.sealing import Sealing
    from timekeep.core.storage.backend import Backend

FORMAT_VERSION = 3  # what this Timekeep reads and new repositories get
GENERATIONS_FORMAT = 2  # the format a first writer marks an older repository with (FORMAT.md)
CONFIG_NAME = "config.json"
FOLDERS_NAME = "folders.json"
COALESCING_NAME = "coalescing.json"
PACKS = "packs/"
MANIFESTS = "snapshots/"
KEYS = "keys/"
SCRATCH = "scratch"  # temporaries of a medium that is no local folder, beside the index on this computer
INDEX_MODES = ("drive", "local")  # where the index is kept: in the repository folder, or on each computer
ENCRYPTION_MODES = ("none", "repokey")  # repokey: a random repository key, wrapped in keys/ (FORMAT.md)


@dataclass(frozen=True)
class ChunkerParams:
    """Which FastCDC cuts the files, and its sizes: small enough that a 1 MiB edit stores about 1 MiB, large
    enough for a lean index. Cut points decide dedup across backups, so a repository keeps its chunker for
    life: `"fastcdc"` (fastcdc 1.7, the first repositories') or `"fastcdc2020"` (pyfastcdc, which cuts with the
    GIL released; new repositories). The default is what a config of the first release says."""

    algorithm: str = "fastcdc"
    min_size: int = 16 * 1024
    avg_size: int = 64 * 1024
    max_size: int = 256 * 1024

    @property
    def normalization(self) -> int | None:
        """pyfastcdc's normalization level, pinned by the chunker's name so that a changed default of the
        package cannot move cut points (None: fastcdc 1.7 takes none)."""
        return NORMALIZATION.get(self.algorithm)

    @classmethod
    def for_new_repository(cls) -> ChunkerParams:
        """The chunker a repository made now gets: the 2020 variant at the same sizes."""
        return cls(algorithm="fastcdc2020")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkerParams:
        """Refuses a chunker this Timekeep does not know (FormatTooNew): cutting with another would make every
        backup store every changed file whole again; sizes it cannot cut with are damage (ValueError)."""
        params = cls(**data)
        if params.algorithm not in CHUNKERS:
            raise FormatTooNew(f"its files are cut by the chunker {params.algorithm!r}, "
                               "which this Timekeep does not know")
        if params.algorithm == "fastcdc2020" and not _cuttable_2020(params):
            raise ValueError(f"chunk sizes {params.min_size}/{params.avg_size}/{params.max_size} are out of range")
        return params


def _cuttable_2020(params: ChunkerParams) -> bool:
    """pyfastcdc's own bounds, checked where the config is read rather than in the middle of a backup."""
    return (all(type(size) is int for size in (params.min_size, params.avg_size, params.max_size))
            and 64 <= params.min_size <= 1 << 20 and 256 <= params.avg_size <= 4 << 20
            and 1024 <= params.max_size <= 16 << 20 and params.min_size <= params.avg_size <= params.max_size)


# the chunkers this Timekeep cuts with
CHUNKERS = ("fastcdc", "fastcdc2020")
# the 2020 variant's level (the paper's NC, 0–3): of those measured, level 2 gives the mean chunk nearest
# fastcdc 1.7's and the fewest cut at `max_size` (bench/README.md)
NORMALIZATION = {"fastcdc2020": 2}


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
    encryption: str = "none"
    key_check: str = ""  # pins the repository key: a key slot holding another key is refused

    @property
    def encrypted(self) -> bool:
        return self.encryption != "none"

    def to_json(self) -> bytes:
        data = asdict(self)
        data["chunker"] = self.chunker.to_dict()
        if self.index == "drive":  # absent means on the drive: such a config reads as it always did
            del data["index"]
        if not self.encrypted:  # likewise: an unencrypted config is byte for byte what it always was
            del data["encryption"], data["key_check"]
        return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> RepoConfig:
        data = json.loads(raw)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:  # a newer Timekeep's setting: guessing what it means could lose a backup
            raise FormatTooNew(f"its config.json sets {', '.join(unknown)}, which this Timekeep does not know")
        data["chunker"] = ChunkerParams.from_dict(data["chunker"])
        if "retention" in data:
            data["retention"] = Retention(**data["retention"])
        if data.get("index", "drive") not in INDEX_MODES:
            raise FormatTooNew(f"its index is kept {data['index']!r}, which this Timekeep does not know")
        if data.get("encryption", "none") not in ENCRYPTION_MODES:
            raise FormatTooNew(f"it is encrypted as {data['encryption']!r}, which this Timekeep does not know")
        config = cls(**data)
        if config.encrypted and (config.index != "local" or len(config.key_check) != 32):
            raise ValueError("an encrypted repository keeps its index locally and pins its key (key_check)")
        return config


@dataclass(frozen=True)
class Layout:
    """`index_home` is the folder on this computer holding the index of a repository that keeps it locally;
    None keeps it in the repository folder. `backend` is the medium holding everything else (`store`): a
    LocalBackend of `root` unless another is given."""

    root: Path
    index_home: Path | None = None
    # the unlocked keys of an encrypted repository: what is written to the drive is sealed with them
    sealing: Sealing | None = field(default=None, compare=False, repr=False)
    backend: Backend | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend is None:
            from timekeep.core.storage.local_backend import LocalBackend  # it imports failures, which imports us

            object.__setattr__(self, "backend", backend_of(self.root) or LocalBackend(self.root))

    @property
    def store(self) -> Backend:
        """Where config.json, folders.json, keys, packs and manifests live."""
        assert self.backend is not None
        return self.backend

    def scratch(self, folder: str) -> Path:
        """A local folder for the temporaries of objects under `folder` ("packs", "snapshots"): that folder of
        the drive itself, so publishing one is a rename, or a folder beside the index on this computer."""
        local = self.store.local_folder
        return local / folder if local is not None else self.index_dir / SCRATCH

    @property
    def index_dir(self) -> Path:
        """The folder holding index.db, its -wal and -shm, a rebuild's new index and a damaged one set aside:
        the drive's repository folder itself unless the index is kept on this computer."""
        if self.index_home is not None:
            return self.index_home
        local = self.store.local_folder
        if local is None:  # SQLite needs a real file: such a medium's repository keeps its index locally
            raise UsageError(f"{self.store.where} cannot hold an index file; it is kept on this computer")
        return local

    @property
    def index(self) -> Path:
        return self.index_dir / "index.db"

    @property
    def index_local(self) -> bool:
        return self.index_home is not None

    @property
    def packs(self) -> Path:
        """The packs' folder of a repository on a drive (tests look into it; the engine uses `store`)."""
        return self.root / "packs"

    @property
    def manifests(self) -> Path:
        """The manifests' folder of a repository on a drive (tests look into it; the engine uses `store`)."""
        return self.root / "snapshots"

    @property
    def lock(self) -> Path:
        """The lock file of a repository on a drive, which a reader of its index file locks shared."""
        return self.root / "lock"

    @property
    def coalescing(self) -> Path:
        """The thinning marker's file on a drive (tests look for it; the engine uses `store`)."""
        return self.root / COALESCING_NAME

    def pack_path(self, name: str) -> Path:
        """The file of a pack in a repository folder on a drive (tests damage it there)."""
        return self.root / pack_name(name)

    def manifest_path(self, snapshot_id: int, gen: int = 0) -> Path:
        """The file of a manifest in a repository folder on a drive (tests damage it there)."""
        return self.root / manifest_name(snapshot_id, gen)


def pack_name(name: str) -> str:
    """The object holding pack `name` (FORMAT.md, "Packs")."""
    return f"{PACKS}{name[:2]}/{name}.pack"


def manifest_name(snapshot_id: int, gen: int = 0) -> str:
    """The object holding generation `gen` of the snapshot's manifest (FORMAT.md, "Manifests")."""
    file = f"{snapshot_id:010d}.manifest" if gen == 0 else f"{snapshot_id:010d}-{gen}.manifest"
    return MANIFESTS + file


def local_index_home(repository_id: str) -> Path:
    """Where this computer keeps the index of a repository whose config says `"index": "local"`."""
    return platformdirs.user_cache_path("timekeep") / "indexes" / repository_id


def layout_of(root: Path, config: RepoConfig, store: Backend | None = None) -> Layout:
    """The repository's layout on `store` (the folder `root` on a drive when None), with its index where its
    config says (on this computer, whatever it says, when the medium is no local folder), and the keys of an
    encrypted one (KeyNeeded when this process has not unlocked it)."""
    store = store or backend_of(root)
    sealing = None
    if config.encrypted:
        from timekeep.core.crypto import sealing as unlocked_keys

        sealing = unlocked_keys.unlocked(config.repository_id)
        if sealing is None or sealing.key.check() != config.key_check:
            raise KeyNeeded(f"{root} is encrypted and not unlocked: give its passphrase")
    if config.index == "local" or (store is not None and store.local_folder is None):
        return Layout(root, local_index_home(config.repository_id), sealing, store)
    return Layout(root, None, sealing, store)


def make_index_home(layout: Layout) -> None:
    """Create the local folder for the index, private to the user, where the repository keeps it there."""
    if layout.index_home is not None:
        layout.index_home.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private_dir(layout.index_home, exist_ok=True)


def create(root: Path, chunker: ChunkerParams | None = None, index: str = "drive",
           make_keys: Callable[[str], Sealing] | None = None) -> RepoConfig:
    """Lay out a new repository, private to its owner; refuses a folder that already holds anything.

    `make_keys` (given the new repository's id) makes it encrypted: its keys are finished before config.json,
    written last, says so, and its index is kept on each computer, since the index holds every name."""
    if make_keys is not None:
        index = "local"
    if index not in INDEX_MODES:
        raise UsageError(f"the index is kept on the drive or locally ({' or '.join(INDEX_MODES)}), not {index!r}")
    remote = backend_of(root)
    if remote is not None:
        if any(True for _ in remote.list()):
            raise UsageError(f"{remote.where} is not empty; choose an empty or new prefix for the repository")
    else:
        make_empty_folder(root)
    repository_id = uuid.uuid4().hex
    sealing = make_keys(repository_id) if make_keys is not None else None
    layout = Layout(root, None, sealing)
    if remote is None:  # a drive's repository shows its two folders from the start
        make_private_dir(layout.packs)
        make_private_dir(layout.manifests)
    config = RepoConfig(
        format=FORMAT_VERSION,
        repository_id=repository_id,
        chunker=chunker or ChunkerParams.for_new_repository(),
        created_by=f"timekeep {__version__}",
        index=index,
    )
    if sealing is not None:
        config = dataclasses.replace(config, encryption="repokey", key_check=sealing.key.check(),
                                     key_derivation="argon2id")
    write_folders(layout, [])
    write_config(layout.store, config, replace=False)
    return config


def make_empty_folder(root: Path) -> None:
    """The repository's folder, private to its owner; refuses one that already holds anything."""
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty; choose an empty or new folder for the repository")
    root.parent.mkdir(parents=True, exist_ok=True)
    make_private_dir(root, exist_ok=True)  # an empty folder made beforehand becomes private too


def write_config(store: Backend, config: RepoConfig, *, replace: bool = True) -> None:
    store.write(CONFIG_NAME, config.to_json(), replace=replace)


def load_config(root: Path, store: Backend | None = None) -> RepoConfig:
    """Read the config, turning every way it can be wrong into a one-line error."""
    store = store or Layout(root).store
    path = f"{store.where}/{CONFIG_NAME}"
    if store.local_folder is not None and not root.is_dir():
        raise NotARepository(f"{root} does not exist or is not a folder")
    try:
        raw = store.read(CONFIG_NAME)
    except ObjectMissing:
        raise NotARepository(f"{store.where} is not a Timekeep repository (no {CONFIG_NAME})") from None
    try:
        config = RepoConfig.from_json(raw)
    except FormatTooNew as err:
        raise FormatTooNew(f"{root} needs a newer Timekeep: {err} — upgrade Timekeep") from None
    except (ValueError, TypeError, KeyError) as err:
        raise NotARepository(f"{path} is damaged: {err}") from None
    if not config.encrypted and any(True for _ in store.list(KEYS)):  # never write in the clear beside sealed data
        raise NotARepository(f"{path} says the repository is not encrypted, but it holds key slots (keys/): "
                             "config.json was altered or damaged; nothing was read or written")
    if config.encrypted:
        _finish_any_encrypting(root, store)
    if config.format > FORMAT_VERSION:
        raise FormatTooNew(
            f"{root} uses repository format {config.format}; this Timekeep reads format "
            f"{FORMAT_VERSION} — upgrade Timekeep"
        )
    return config


def _finish_any_encrypting(root: Path, store: Backend) -> None:
    """An encryption in place committed but not finished, on a drive or in a bucket, is finished first."""
    if store.local_folder is not None:
        from timekeep.core.storage import conversion

        if conversion.begun(root):
            finish_encrypting(root)
        return
    from timekeep.core.storage import bucket_conversion
    from timekeep.core.storage.s3_backend import S3Backend

    if isinstance(store, S3Backend) and bucket_conversion.begun(store):
        lock = store.writer_lock()
        lock.acquire()
        try:
            bucket_conversion.finish(store, local_index_home)
        finally:
            lock.release()


def finish_encrypting(root: Path) -> None:
    """An encryption in place was committed (config.json says encrypted) but not finished: finish it, under the
    writer lock, before anything reads the drive (RepositoryLocked while the encrypting process still runs)."""
    from timekeep.core.storage import conversion

    lock = Layout(root).store.writer_lock()
    lock.acquire()
    try:
        if conversion.begun(root):
            conversion.finish(root, local_index_home)
    finally:
        lock.release()


def read_folders(layout: Layout) -> list[dict[str, Any]]:
    """The protected folders folders.json lists (sealed in an encrypted repository: SealBroken, a ValueError's
    kin for callers, when it does not open); ValueError when it is not JSON or not a list of folders."""
    try:
        raw = layout.store.read(FOLDERS_NAME)
    except ObjectMissing:
        return []
    if layout.sealing is not None:
        raw = layout.sealing.open_folders(raw)
    entries = json.loads(raw)
    if not (isinstance(entries, list) and all(
            isinstance(e, dict) and isinstance(e.get("path"), str)
            and isinstance(e.get("excludes", []), list) and all(isinstance(x, str) for x in e.get("excludes", []))
            for e in entries)):
        raise ValueError("it is not a list of folders, each a path and its exclusions")
    return entries


def write_folders(layout: Layout, folders: list[dict[str, Any]]) -> None:
    data = json.dumps(folders, indent=2).encode() + b"\n"
    layout.store.write(FOLDERS_NAME, data if layout.sealing is None else layout.sealing.seal_folders(data),
                       replace=True)

