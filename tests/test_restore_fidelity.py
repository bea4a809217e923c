"""A restore gives back what was there: extended attributes and POSIX ACLs, numeric owners as root, set-id
bits only with the owner they had, hard links as hard links and sparse files sparse, each round-tripped
through a real backup and a byte-exact restore."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.restore_support import (
    NOBODY,
    acl,
    b,
    chown_tree,
    needs_root_and_setpriv,
    run_as_nobody,
    xattrs_of,
)
from tests.restore_support import shared_tmp as shared_tmp
from tests.restore_support import src as src
from tests.treeops import payload
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.restore import metadata

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* attributes and owners need root")




def restore(repo: Path, folder: Path, sid: int, dest: Path, overwrite: bool = False) -> None:
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(folder), sid, dest=b(dest), overwrite=overwrite)
    assert result.errors == (), result.errors


def attrs_under(root: Path) -> dict[str, dict[bytes, bytes]]:
    return {str(p.relative_to(root)): xattrs_of(p) for p in sorted(root.rglob("*"))}


# --- extended attributes and ACLs --------------------------------------------------------------------------


@root_only
def test_extended_attributes_and_acls_come_back_on_files_folders_and_links(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"doc.txt": b"a document", "shared": {}, "plain.txt": b"no attributes"})
    os.setxattr(src / "doc.txt", "user.origin", b"camera \x00\xff")
    os.setxattr(src / "doc.txt", "trusted.tag", b"t")
    os.setxattr(src / "doc.txt", "security.label", b"s")
    os.setxattr(src / "doc.txt", "system.posix_acl_access", acl(6, 4, 0, named_user=(1000, 4)))
    os.setxattr(src / "shared", "system.posix_acl_default", acl(7, 5, 0, named_user=(1001, 7)))
    os.setxattr(src / "shared", "user.color", b"blue")
    (src / "shared" / "inner.txt").write_bytes(b"inherits the folder's default ACL")
    os.symlink("doc.txt", src / "link")
    os.setxattr(src / "link", "trusted.kind", b"a link's own", follow_symlinks=False)
    want = attrs_under(src)
    assert want["shared/inner.txt"]  # the kernel gave it an ACL from the folder's default
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    restore(repo, src, sid, tmp_path / "dest")
    assert attrs_under(tmp_path / "dest" / "src") == want
    assert read_tree(tmp_path / "dest" / "src") == read_tree(src)
    rebuild_index(repo)  # what is recorded lives on the drive too, not only in the index
    restore(repo, src, sid, tmp_path / "rebuilt")
    assert attrs_under(tmp_path / "rebuilt" / "src") == want


def test_files_stored_without_attributes_lose_what_a_default_acl_gives_them_and_others_ask_nothing(
        src: Path, tmp_path: Path) -> None:
    """A new file starts with an ACL where its folder has a default ACL, and only there: files stored without
    attributes lose it; in a folder without one they are not looked at (metadata.gives_attributes)."""
    make_tree(src, {"plain.txt": b"no attributes", "sub": {"deep.txt": b"none either"}})
    dest = tmp_path / "dest"
    dest.mkdir()
    os.setxattr(dest, "system.posix_acl_default", acl(7, 5, 0, named_user=(1001, 7)))
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    restore(repo, src, sid, dest)
    assert attrs_under(dest / "src") == attrs_under(src)
    assert read_tree(dest / "src") == read_tree(src)
    for folder, gives in ((dest, True), (tmp_path, False)):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert metadata.gives_attributes(fd) is gives
        finally:
            os.close(fd)


def test_a_change_of_attributes_alone_is_a_new_version(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"photo.jpg": payload(1, 50_000), "album": {}})
    os.setxattr(src / "photo.jpg", "user.rating", b"3")
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    os.setxattr(src / "photo.jpg", "user.rating", b"5")
    os.setxattr(src / "album", "user.cover", b"photo.jpg")
    second = backup(repo)
    for sid, rating, album in ((first, b"3", {}), (second, b"5", {b"user.cover": b"photo.jpg"})):
        dest = tmp_path / f"at-{sid}"
        restore(repo, src, sid, dest)
        assert xattrs_of(dest / "src" / "photo.jpg") == {b"user.rating": rating}
        assert xattrs_of(dest / "src" / "album") == album


def test_a_restore_onto_a_filesystem_without_attributes_gives_the_files_quietly(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"a.txt": b"alpha", "sub": {"b.txt": b"beta"}})
    os.setxattr(src / "a.txt", "user.note", b"kept on the drive")
    os.setxattr(src / "sub", "user.note", b"a folder's")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with ramfs(tmp_path / "ramfs") as dest:
        restore(repo, src, sid, dest)
        assert read_tree(dest / "src") == read_tree(src)


@contextlib.contextmanager
def ramfs(where: Path) -> Iterator[Path]:
    """A ramfs (no extended attributes at all) mounted for the block's length."""
    where.mkdir()
    try:
        subprocess.run(["mount", "-t", "ramfs", "ramfs", str(where)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        pytest.skip(f"cannot mount a ramfs here: {err}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# --- owners and set-id bits ------------------------------------------------------------------------------------

OWNED = {  # name: (mode, uid, gid)
    "tool": (0o4755, 1000, 1000),  # a user's own setuid program
    "group-tool": (0o2755, 1000, 2000),
    "root-tool": (0o4755, 0, 0),
    "plain.txt": (0o644, 1234, 5678),
    "mine": (0o4755, NOBODY, NOBODY),
}


def make_owned(src: Path) -> None:
    for name, (mode, uid, gid) in OWNED.items():
        (src / name).write_bytes(b"#!/bin/sh\necho " + name.encode() + b"\n")
        os.chown(src / name, uid, gid)
        os.chmod(src / name, mode)
    (src / "team").mkdir()
    os.chown(src / "team", 1000, 2000)
    os.chmod(src / "team", 0o2775)
    os.symlink("tool", src / "link")
    os.chown(src / "link", 1000, 1000, follow_symlinks=False)


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@root_only
def test_root_restores_numeric_owners_and_a_users_setuid_program_stays_that_users(src: Path, tmp_path: Path) -> None:
    make_owned(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    restore(repo, src, sid, dest)
    for name, want in OWNED.items():
        assert owner_and_mode(dest / "src" / name) == want, name
    assert owner_and_mode(dest / "src" / "team") == (0o2775, 1000, 2000)
    assert os.lstat(dest / "src" / "link")[4:6] == (1000, 1000)
    tool = os.stat(dest / "src" / "tool")
    assert not (tool.st_mode & stat.S_ISUID and tool.st_uid == 0)  # never setuid-root
    assert read_tree(dest / "src") == read_tree(src)


@needs_root_and_setpriv
def test_an_unprivileged_restore_keeps_set_id_bits_only_on_its_own_files(shared_tmp: Path) -> None:
    src = shared_tmp / "src"
    src.mkdir()
    make_owned(src)
    os.setxattr(src / "plain.txt", "user.note", b"anyone's to keep")
    os.setxattr(src / "plain.txt", "trusted.note", b"root's alone")
    repo = new_repo(shared_tmp, src)
    sid = backup(repo)
    chown_tree(shared_tmp / "drive", NOBODY)
    dest = shared_tmp / "dest"
    dest.mkdir()
    os.chown(dest, NOBODY, NOBODY)
    code = ("import sys; from timekeep.core.api import Timekeep\n"
            "with Timekeep.open(sys.argv[1]) as tk:\n"
            "    r = tk.restore(sys.argv[2].encode(), int(sys.argv[3]), dest=sys.argv[4].encode())\n"
            "    sys.exit(repr(r.errors) if r.errors else 0)")
    run = run_as_nobody(code, str(repo), str(src), str(sid), str(dest))
    assert run.returncode == 0, run.stderr.decode()
    got = {name: owner_and_mode(dest / "src" / name) for name in OWNED}
    assert got == {"tool": (0o755, NOBODY, NOBODY), "group-tool": (0o755, NOBODY, NOBODY),
                   "root-tool": (0o755, NOBODY, NOBODY), "plain.txt": (0o644, NOBODY, NOBODY),
                   "mine": (0o4755, NOBODY, NOBODY)}  # its recorded owner restored it: nobody else's now
    assert owner_and_mode(dest / "src" / "team") == (0o775, NOBODY, NOBODY)
    assert xattrs_of(dest / "src" / "plain.txt") == {b"user.note": b"anyone's to keep"}
    assert contents(dest / "src") == contents(src)


def contents(root: Path) -> dict[bytes, tuple[str, bytes]]:
    return {rel: (kind, data) for rel, (kind, data, _) in read_tree(root).items()}


# --- hard links ---------------------------------------------------------------------------------------------


def test_hard_links_come_back_as_hard_links(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"a.bin": payload(2, 300_000), "sub": {"deeper": {}}, "twin.bin": payload(2, 300_000)})
    os.link(src / "a.bin", src / "sub" / "b.bin")
    os.link(src / "a.bin", src / "sub" / "deeper" / "c.bin")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    restore(repo, src, sid, dest)
    out = dest / "src"
    assert read_tree(out) == read_tree(src)
    inodes = {os.stat(out / rel).st_ino for rel in ("a.bin", "sub/b.bin", "sub/deeper/c.bin")}
    assert len(inodes) == 1 and os.stat(out / "a.bin").st_nlink == 3
    assert os.stat(out / "twin.bin").st_ino not in inodes  # the same bytes, but never one file


def test_hard_links_restored_in_place_link_to_each_other_not_to_what_stayed(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"a.bin": payload(3, 100_000), "sub": {}})
    for name in ("b.bin", "c.bin"):
        os.link(src / "a.bin", src / "sub" / name)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "a.bin").unlink()
    (src / "sub" / "b.bin").unlink()
    kept = os.stat(src / "sub" / "c.bin")
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), sid)
    assert result.errors == () and result.unchanged == 1
    assert os.stat(src / "a.bin").st_ino == os.stat(src / "sub" / "b.bin").st_ino
    after = os.stat(src / "sub" / "c.bin")
    assert (after.st_ino, after.st_nlink, after.st_ctime_ns) == (kept.st_ino, 1, kept.st_ctime_ns)  # untouched
    assert (src / "a.bin").read_bytes() == payload(3, 100_000)


# --- sparse files ---------------------------------------------------------------------------------------------

MIB = 1 << 20


def digest_of(path: Path) -> bytes:
    h = blake3.blake3()
    with open(path, "rb") as fh:
        while block := fh.read(MIB):
            h.update(block)
    return h.digest()


@pytest.fixture
def sparse_src(src: Path) -> Iterator[Path]:
    with open(src / "disk.img", "wb") as fh:  # data, a 96 MiB hole, data at an odd offset
        fh.write(payload(4, MIB + 123))
        fh.seek(97 * MIB + 5000)
        fh.write(payload(5, 3 * MIB))
    with open(src / "tail-hole.img", "wb") as fh:
        fh.write(payload(6, 10_000))
        fh.truncate(40 * MIB)
    with open(src / "zeros.img", "wb") as fh:
        fh.truncate(32 * MIB)
    yield src


def test_a_sparse_file_is_restored_sparse_and_byte_exact(sparse_src: Path, tmp_path: Path) -> None:
    repo = new_repo(tmp_path, sparse_src)
    sid = backup(repo)
    restore(repo, sparse_src, sid, tmp_path / "dest")
    for name, most in (("disk.img", 6 * MIB), ("tail-hole.img", MIB), ("zeros.img", 0)):
        got, want = tmp_path / "dest" / "src" / name, sparse_src / name
        st = os.stat(got)
        assert st.st_size == os.stat(want).st_size and digest_of(got) == digest_of(want), name
        assert st.st_blocks * 512 <= most < st.st_size, (name, st.st_blocks * 512)
