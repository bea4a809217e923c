"""Two chunkers, chosen by the repository's config: new repositories are cut by pyfastcdc ("fastcdc2020", the
GIL released), every repository whose config says "fastcdc" keeps fastcdc 1.7's cut points and so dedups
against what it already stores. Cut points are pinned, streaming tiles each block as the whole file would,
and a config naming a chunker this Timekeep does not know is refused in one line."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import index_file, make_tree, new_repo, read_tree
from tests.s3_support import S3Server
from tests.test_chunker import stream_chunks as streamed
from tests.treeops import restore_into
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.away import store as away_store
from timekeep.core.capture.chunker import cutter
from timekeep.core.cli.main import main
from timekeep.core.storage.layout import CONFIG_NAME, ChunkerParams, load_config

OLD = ChunkerParams()  # what a config of the first release says
NEW = ChunkerParams.for_new_repository()
PINNED_INPUT = random.Random(2020).randbytes(1 << 20) + b"".join(b"line %d of a text file\n" % n
                                                                  for n in range(20_000))
# Chunk lengths of PINNED_INPUT. A release of either package that moves one would make every repository cut
# by it store each changed file whole again: this test fails first, and the release is not let in.
PINNED = {
    "fastcdc2020": [65797, 69712, 80485, 66036, 71335, 87718, 72168, 104382, 83187, 34179, 34438, 90590, 75456,
                    86581, 56630, 86758, 48267, 127295, 28534, 17113, 73004, 74964, 22837],
    "fastcdc": [61260, 64310, 55105, 66342, 112734, 77348, 42157, 90869, 64590, 108601, 43234, 54049, 30843,
                68730, 41344, 57594, 19566, 43959, 98322, 35557, 26567, 32600, 37995, 84159, 87436, 30186, 22009],
}


def whole(data: bytes, params: ChunkerParams) -> list[bytes]:
    return [data[c.offset : c.offset + c.length] for c in cutter(params)(memoryview(data))]


@pytest.mark.parametrize("params", [NEW, OLD], ids=lambda p: p.algorithm)
def test_cut_points_of_a_fixed_input_are_pinned(params: ChunkerParams) -> None:
    assert [len(c) for c in whole(PINNED_INPUT, params)] == PINNED[params.algorithm]


def test_new_repositories_get_the_2020_chunker_with_its_level_pinned() -> None:
    assert ChunkerParams("fastcdc2020", 16 * 1024, 64 * 1024, 256 * 1024) == NEW and NEW.normalization == 2
    from pyfastcdc.cy import fastcdc

    assert fastcdc.__file__ is not None and fastcdc.__file__.endswith(".so")  # compiled, not the slow fallback


@given(size=st.integers(0, 1_200_000), seed=st.integers(0, 2**32), style=st.sampled_from(["random", "zeros", "text"]),
       block=st.sampled_from([64 * 1024, 300_001, 1 << 20]), params=st.sampled_from([NEW, OLD]))
def test_streamed_cuts_tile_the_file_as_the_whole_file_would(tmp_path: Path, size: int, seed: int, style: str,
                                                             block: int, params: ChunkerParams) -> None:
    rnd = random.Random(seed)
    data = {"random": lambda: rnd.randbytes(size), "zeros": lambda: bytes(size),
            "text": lambda: (b"%d words\n" % rnd.randrange(1000) * (size // 8 + 1))[:size]}[style]()
    path = tmp_path / "f"  # one file, rewritten by each example
    path.write_bytes(data)
    got = streamed(path, params, block)
    assert b"".join(got) == data
    assert got == whole(data, params)
    assert all(len(c) <= params.max_size for c in got)
    assert all(len(c) >= params.min_size for c in got[:-1])


def extent_lengths(repo: Path, path: Path) -> list[list[int]]:
    """Each version's extent lengths, oldest version first."""
    with sqlite3.connect(index_file(repo)) as conn:
        rows = conn.execute("SELECT v.id, e.length FROM extent e JOIN version v ON v.id = e.version_id "
                            "JOIN file f ON f.id = v.file_id WHERE f.path = ? ORDER BY v.id, e.offset",
                            (os.fsencode(path),)).fetchall()
    versions: dict[int, list[int]] = {}
    for vid, length in rows:
        versions.setdefault(vid, []).append(length)
    return list(versions.values())


def chunk_count(repo: Path) -> int:
    with sqlite3.connect(index_file(repo)) as conn:
        return int(conn.execute("SELECT count(*) FROM chunk").fetchone()[0])


def set_chunker(repo: Path, chunker: dict[str, object]) -> None:
    """The config as another Timekeep wrote it (a test's edit of the drive, never the engine's)."""
    config = json.loads((repo / CONFIG_NAME).read_bytes())
    config["chunker"] = chunker
    (repo / CONFIG_NAME).write_bytes(json.dumps(config, indent=2, sort_keys=True).encode() + b"\n")


FIRST_RELEASE_CHUNKER = {"algorithm": "fastcdc", "min_size": 16384, "avg_size": 65536, "max_size": 262144}


def test_a_fastcdc_repository_keeps_its_cut_points_and_dedups_against_its_chunks(tmp_path: Path,
                                                                                 plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    data = random.Random(15).randbytes(3_000_000)
    make_tree(src, {"big.bin": data})
    repo = new_repo(tmp_path, src)
    set_chunker(repo, FIRST_RELEASE_CHUNKER)
    assert load_config(repo).chunker == OLD
    before = (repo / CONFIG_NAME).read_bytes()
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
        stored = chunk_count(repo)
        (src / "big.bin").write_bytes(data[:1_500_000] + b"x" * 100 + data[1_500_000:])
        tk.backup()
    assert (repo / CONFIG_NAME).read_bytes() == before  # never rewritten with the new chunker
    first, _ = extent_lengths(repo, src / "big.bin")
    assert first == [len(c) for c in whole(data, OLD)] != [len(c) for c in whole(data, NEW)]
    assert chunk_count(repo) - stored <= 2  # the chunks around the insertion; the rest were already stored


def test_a_new_repository_records_and_cuts_with_the_2020_chunker(tmp_path: Path, plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    data = random.Random(16).randbytes(1_000_000)
    make_tree(src, {"big.bin": data})
    repo = new_repo(tmp_path, src)
    assert json.loads((repo / CONFIG_NAME).read_bytes())["chunker"] == {
        "algorithm": "fastcdc2020", "min_size": 16384, "avg_size": 65536, "max_size": 262144}
    assert json.loads((repo / CONFIG_NAME).read_bytes())["format"] == 3  # older readers: "upgrade Timekeep"
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    assert extent_lengths(repo, src / "big.bin") == [[len(c) for c in whole(data, NEW)]]


@pytest.mark.parametrize("chunker", [FIRST_RELEASE_CHUNKER, None], ids=["fastcdc", "fastcdc2020"])
def test_restore_is_byte_exact_with_either_chunker(tmp_path: Path, plain_and_encrypted: str,
                                                   chunker: dict[str, object] | None) -> None:
    src = tmp_path / "src"
    rnd = random.Random(17)
    make_tree(src, {"empty": b"", "tiny.txt": b"a line\n", "edge.bin": rnd.randbytes(16_385),
                    "deep": {"big.bin": rnd.randbytes(2_500_000), "zeros": bytes(700_000),
                             "text.log": b"".join(b"%d entries\n" % n for n in range(90_000))}})
    repo = new_repo(tmp_path, src)
    if chunker is not None:
        set_chunker(repo, chunker)
    with Timekeep.open(repo, writer=True) as tk:
        sid = tk.backup().id
        restored, result = restore_into(tk, os.fsencode(src), sid, tmp_path / "back")
    assert not result.errors
    assert restored == read_tree(src)


@pytest.mark.parametrize(("chunker", "says"), [
    ({**FIRST_RELEASE_CHUNKER, "algorithm": "rabin9000"}, "the chunker 'rabin9000', which this Timekeep does not"),
    ({**FIRST_RELEASE_CHUNKER, "normalization": 2}, "is damaged"),  # the level is the name's, never the config's
    ({**FIRST_RELEASE_CHUNKER, "algorithm": "fastcdc2020", "min_size": 16384.5}, "out of range"),
    ({**FIRST_RELEASE_CHUNKER, "algorithm": "fastcdc2020", "max_size": 1 << 30}, "out of range"),
])
def test_a_chunker_this_timekeep_cannot_cut_with_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], chunker: dict[str, object], says: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = new_repo(tmp_path, src)
    set_chunker(repo, chunker)
    for args in (["snapshots"], ["backup"]):
        code = main(["--repo", str(repo), *args])
        out, err = capsys.readouterr()
        assert code == 2, (out, err)
        assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_bucket_and_an_away_store_are_new_repositories_too(tmp_path: Path, s3_server: S3Server,
                                                             s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/home/alice"
    api.init_repository(url, endpoint=s3_server.endpoint)
    assert load_config(api.locate(url)).chunker == NEW
    away = away_store.path_for("0" * 32)
    away_store.create(away, "0" * 32, None)
    assert load_config(away).chunker == NEW


def test_an_install_without_the_compiled_chunker_fails_a_backup_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """As a bundle that left pyfastcdc's compiled module out did (installer/timekeep.spec collects it)."""
    src = tmp_path / "src"
    make_tree(src, {"big.bin": random.Random(18).randbytes(100_000)})
    repo = new_repo(tmp_path, src)
    monkeypatch.setitem(sys.modules, "pyfastcdc.cy", None)  # importing it now raises ImportError
    cutter.cache_clear()
    try:
        code = main(["--repo", str(repo), "backup"])
    finally:
        cutter.cache_clear()
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "cannot cut files with 'fastcdc2020'" in err and "reinstall" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("was", [1, 2])
def test_a_repository_of_the_first_chunker_stays_readable_by_older_timekeeps(tmp_path: Path, was: int) -> None:
    """Format 3 says only that the chunker may be one an older Timekeep cannot cut with: a writer never marks a
    repository that keeps fastcdc 1.7 so (a format-1 one becomes 2, as ever), and a new one is made at 3."""
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = new_repo(tmp_path, src)
    set_chunker(repo, FIRST_RELEASE_CHUNKER)
    config = json.loads((repo / CONFIG_NAME).read_bytes())
    (repo / CONFIG_NAME).write_bytes(json.dumps({**config, "format": was}).encode())
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    assert json.loads((repo / CONFIG_NAME).read_bytes())["format"] == 2
