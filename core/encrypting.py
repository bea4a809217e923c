"""`timekeep encrypt`: an unencrypted repository becomes an encrypted one in place, crash-safely.

Under the writer lock, an encrypted copy (new key slots, sealed packs with keyed chunk ids, sealed manifests and
folders.json) is staged beside the old repository, which stays untouched and readable: a drive's `encrypting/`
folder or a bucket's `encrypting/` prefix (core/encrypt_staging.py). It is read back, then replacing config.json
commits it (a rename on a drive, one PUT in a bucket); then the copy moves into place and the plaintext (with
the index that names every file) is removed (core/storage/conversion.py, bucket_conversion.py). A conversion
killed before the commit is started over by the next `timekeep encrypt`: the old repository may have changed
since (a backup by the agent), and a fresh key each time means no half-made copy is ever trusted. One killed
after the commit is finished by whoever opens the repository next.

The repository keeps its id, so the agent and the window still know its drive. No index built from plaintext
ids is ever taken for its index: the one on the drive and the one on this computer are removed with the
plaintext, and one on another computer names packs the drive no longer holds, which makes it rebuild.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

from timekeep.core import units
from timekeep.core.crypto import keys, sealing
from timekeep.core.crypto.kdf import Argon2Params
from timekeep.core.encrypt_staging import Staging, staging_of
from timekeep.core.encrypted_copy import ChunkCopier, check_copy, copy_folders, copy_manifests
from timekeep.core.errors import CorruptData, DriveFull, RepositoryError, UsageError
from timekeep.core.index import checked
from timekeep.core.repository import Repository
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.layout import MANIFESTS, RepoConfig
from timekeep.core.storage.location import is_remote, locate
from timekeep.core.types import Progress

ProgressCallback = Callable[[Progress], None]
MARGIN = 16 << 20  # temporaries, folders and the key slots beside the copy itself


def free_space(path: Path) -> int:
    return shutil.disk_usage(path).free


def encrypt(path: str | Path, passphrase: str, progress: ProgressCallback | None = None,
            argon2: Argon2Params | None = None) -> str:
    """Encrypt the repository at `path` (a drive's folder or a bucket's prefix) under `passphrase`; the
    recovery key, to be shown once."""
    root = locate(path)
    if repo_layout.load_config(root).encrypted:
        raise UsageError(f"{root} is encrypted already: nothing to do")
    keys.check_passphrase(passphrase)
    repo = Repository.open(root, writer=True, progress=progress)
    old_id, staging = repo.config.repository_id, staging_of(root)
    try:
        with drive_errors(root):
            recovery = _stage_and_commit(repo, staging, passphrase, progress, argon2)
    except BaseException:
        repo.close()
        raise
    try:
        repo.reader.close()
        repo.db.close()
        with drive_errors(root):
            staging.finish(progress)
    finally:
        repo.close()
        checked.forget(old_id)
    with Repository.open(root, writer=True, progress=progress):  # this computer's index, built from the drive
        pass
    return recovery


def _stage_and_commit(repo: Repository, staging: Staging, passphrase: str, progress: ProgressCallback | None,
                      argon2: Argon2Params | None) -> str:
    _refuse_damage(repo)
    if staging.begun():
        staging.discard()  # a killed run's copy: started over (see the module's docstring)
    if not is_remote(repo.root):
        _check_room(repo)
    try:
        recovery, config = _stage(repo, staging, passphrase, progress, argon2)
        staging.commit(config.to_json(), repo.config.repository_id)
    except CorruptData as err:
        raise CorruptData(f"{err}; {repo.root} was left as it was: run `timekeep check --read-data` "
                          "(and `timekeep rebuild-index`) first") from None
    finally:
        if not staging.committed():
            staging.discard()
    return recovery


def _refuse_damage(repo: Repository) -> None:
    # a rebuilt index's pack '' holds the chunks no pack held: damage only when it holds any
    (bad,) = repo.db.execute_sql("SELECT COUNT(*) FROM pack p WHERE p.state != 'ok' AND (p.name != '' OR "
                                 "EXISTS (SELECT 1 FROM chunk c WHERE c.pack_id = p.id))").fetchone()
    if bad:
        raise RepositoryError(f"{repo.root} has {bad} missing or damaged pack(s): nothing was encrypted. Run "
                              "`timekeep check` (and `timekeep rebuild-index` if it says so) first")


def _check_room(repo: Repository) -> None:
    """The copy needs about the space of the packs and manifests again until the old ones go."""
    (packs,) = repo.db.execute_sql("SELECT COALESCE(SUM(size), 0) FROM pack WHERE state = 'ok'").fetchone()
    manifests = sum(found.size for found in repo.layout.store.list(MANIFESTS))
    needed, free = int(packs) + manifests + MARGIN, free_space(repo.root)
    if free < needed:
        raise DriveFull(f"encrypting {repo.root} needs about {units.size(needed)} free on its drive for the "
                        f"encrypted copy (the old data is removed only after), and {units.size(free)} is free: "
                        "nothing was changed")


def _stage(repo: Repository, staging: Staging, passphrase: str, progress: ProgressCallback | None,
           argon2: Argon2Params | None) -> tuple[str, RepoConfig]:
    staging.prepare()
    rid = repo.config.repository_id
    created = keys.create(staging.root, rid, passphrase, argon2)
    target = staging.layout(sealing.remember(rid, created.key), repo.layout.index_dir / "encrypting")
    ids = ChunkCopier(repo.layout, target, repo.config.compression_level, progress).copy(repo.db)
    copy_manifests(repo.db, repo.layout, target, ids)
    copy_folders(repo.layout, target)
    check_copy(target, ids)
    config = dataclasses.replace(repo.config, encryption="repokey", index="local",
                                 key_check=created.key.check(), key_derivation="argon2id")
    return created.recovery_text, config
