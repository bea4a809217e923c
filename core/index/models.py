"""The index tables (docs/ARCHITECTURE.md, FORMAT.md). Paths and digests are BLOBs so any byte string round-trips.

`Version` + `Extent` are the first index (file → changed locations at each storage time); `Chunk` +
`Pack` the second (location content → where its bytes are stored).
"""

from __future__ import annotations

from peewee import (
    SQL,
    BlobField,
    BooleanField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


class BaseModel(Model):
    class Meta:
        database = None
        legacy_table_names = False


class Meta(BaseModel):
    key = TextField(primary_key=True)
    value = TextField()


class Folder(BaseModel):
    path = BlobField(unique=True)
    excludes = TextField(default="[]")
    active = BooleanField(default=True)


class File(BaseModel):
    folder = ForeignKeyField(Folder, backref="files")
    # indexed with `live` and `head` (core/index/live.py), which also serves every look-up by parent alone
    parent = ForeignKeyField("self", null=True, backref="children", index=False)
    path = BlobField(unique=True)
    head = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])  # schema 4: snapshot of its newest version
    seal = BlobField(null=True)  # schema 4: core/index/seal.py
    live = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])  # schema 6: core/index/live.py
    # schema 13: the id of its version at `head`, a hint a listing checks before it trusts it (listing.py)
    head_version = IntegerField(null=True)


class Snapshot(BaseModel):
    time_ns = IntegerField(index=True)
    trigger = TextField()
    state = TextField(default="running")
    files_scanned = IntegerField(default=0)
    files_read = IntegerField(default=0)
    files_changed = IntegerField(default=0)
    bytes_read = IntegerField(default=0)
    bytes_new = IntegerField(default=0)
    errors = IntegerField(default=0)
    duration_s = FloatField(default=0.0)
    gen = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])  # schema 4: its manifest's generation
    absorbed = TextField(default="[]", constraints=[SQL("DEFAULT '[]'")])  # schema 4: ids thinned into it


class SnapshotError(BaseModel):
    snapshot = ForeignKeyField(Snapshot, backref="error_rows", index=True)
    path = BlobField()
    kind = TextField()
    message = TextField()


class Version(BaseModel):
    file = ForeignKeyField(File, backref="versions", index=False)
    snapshot = ForeignKeyField(Snapshot, backref="versions", index=True)
    state = TextField()
    kind = TextField()
    size = IntegerField(default=0)
    mode = IntegerField(default=0)
    mtime_ns = IntegerField(default=0)
    inode = IntegerField(default=0)
    ctime_ns = IntegerField(default=0)
    full = BooleanField(default=True)
    depth = IntegerField(default=0)
    chain_rows = IntegerField(default=0)
    content_id = BlobField(null=True)
    link_target = BlobField(null=True)
    racy = BooleanField(default=False, constraints=[SQL("DEFAULT 0")])
    origin = IntegerField(null=True)  # schema 3: the File this one was moved from, when a watcher saw the move
    # schema 4: what a restore is checked against (core/index/seal.py, FORMAT.md "Seals")
    digest = BlobField(null=True)  # BLAKE3-256 of the whole content (files); None where never recorded
    prev = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])  # snapshot of the file's previous version
    uid = IntegerField(null=True)
    gid = IntegerField(null=True)
    xattrs = BlobField(null=True)  # extended attributes and ACLs, encoded (core/capture/attrs.py)
    xhash = BlobField(null=True)  # hash of its own extents
    seal = BlobField(null=True)
    # schema 9: what a listing shows, packed, and its own seal (core/index/shown.py); None on older rows
    shown = BlobField(null=True)
    shown_seal = BlobField(null=True)
    # schema 10: what a scan compares, packed, and its own seal (core/index/scanned.py); None on older rows
    scan = BlobField(null=True)
    scan_seal = BlobField(null=True)

    class Meta:
        indexes = ((("file", "snapshot"), False),)


class Pack(BaseModel):
    name = TextField(unique=True)
    size = IntegerField()
    # schema 4: 'ok', or 'missing' / 'damaged' once the drive is found to have lost it; chunks in a pack
    # that is not ok are stored again by the next backup that meets them
    state = TextField(default="ok", constraints=[SQL("DEFAULT 'ok'")])


class Chunk(BaseModel):
    digest = BlobField(unique=True)
    pack = ForeignKeyField(Pack, backref="chunks", index=True)
    offset = IntegerField()
    length = IntegerField()
    inner = IntegerField()
    raw_length = IntegerField()


class Extent(BaseModel):
    version = ForeignKeyField(Version, backref="extents", index=True)
    offset = IntegerField()
    length = IntegerField()
    chunk = ForeignKeyField(Chunk, backref="extents", index=True)
    skip = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])  # schema 3: bytes of the chunk before `offset`

    class Meta:
        primary_key = False


class Journal(BaseModel):
    """A path a watcher saw change since this repository's last storage time (schema 2). `seq` rises with
    every event, so a snapshot clears only the rows it saw; `folder` is the protected root holding it."""

    path = BlobField(unique=True)
    folder = BlobField()
    seq = IntegerField(index=True)
    size = IntegerField(default=0)
    first_ns = IntegerField()
    last_ns = IntegerField()
    origin = BlobField(null=True)  # schema 3: where a watched move came from


class Loss(BaseModel):
    """What the drive is known to have lost (schema 4): a whole snapshot whose manifest could not be read
    (`path` null), or one path's version at a snapshot, found missing when the index was rebuilt."""

    snapshot_id = IntegerField(index=True)
    path = BlobField(null=True)
    reason = TextField()


MODELS: list[type[BaseModel]] = [Meta, Folder, File, Snapshot, SnapshotError, Version, Pack, Chunk, Extent, Journal,
                                 Loss]
