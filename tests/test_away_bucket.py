"""A bucket out of reach, through the agent as a separate process and the command line, against a real S3
server (`rclone serve s3`) that the test stops and starts again: "Back up now" while the server is gone keeps
the history on this computer (its away store), the command line browses the bucket's history from this
computer's index and refuses, in one line, a version stored only in the bucket; once the server is back the
away snapshots move onto the bucket in time order, each restoring byte-exact, and the store is gone."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import agent_process, cli, wait_for
from tests.helpers import PASSPHRASE, make_tree, read_tree
from tests.s3_support import Rclone, S3Server
from tests.test_agent_s3 import env, ours, run, server, write_settings
from timekeep.core.agent.client import AgentClient
from timekeep.core.storage.layout import RepoConfig

__all__ = ["env", "server"]


def away_home(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "timekeep" / "away"


def away_store(env: dict[str, str]) -> Path | None:
    """The one away store the agent made (beside it, an encrypted bucket's copied key slots)."""
    found = [p for p in away_home(env).glob("*") if not p.name.endswith(".slots") and (p / "config.json").exists()]
    return found[0] if found else None


def journaled(env: dict[str, str], store: Path, path: Path) -> bool:
    """Whether the store's journal names `path` (its index read as a file: an encrypted one's needs no key)."""
    config = RepoConfig.from_json((store / "config.json").read_bytes())
    home = Path(env["XDG_CACHE_HOME"]) / "timekeep" / "indexes" / config.repository_id if config.index == "local" \
        else store
    if not (home / "index.db").exists():
        return False
    try:
        with sqlite3.connect(home / "index.db") as db:
            return db.execute("SELECT count(*) FROM journal WHERE path = ?", (bytes(path),)).fetchone()[0] > 0
    except sqlite3.OperationalError:  # being made by the agent just now
        return False


def keep_away(env: dict[str, str], bucket: str, src: Path, i: int, new: bytes) -> dict[bytes, object]:
    """Change files while the bucket is out of reach and, once the agent journaled them, "Back up now": an
    away snapshot; the tree as it was stored."""
    (src / "notes.txt").write_bytes(f"written while offline, {i}\n".encode() * (i + 1))
    (src / f"new{i}.txt").write_bytes(new)
    wait_for(lambda: (store := away_store(env)) is not None and journaled(env, store, src / f"new{i}.txt"), 30,
             what="the change journaled in the away store")
    done = run(env, "--repo", bucket, "backup")  # "Back up now"
    assert "kept on this computer" in done.stderr
    return dict(read_tree(src))


def snapshots(env: dict[str, str], repo: str) -> tuple[list[dict[str, object]], str]:
    done = run(env, "--repo", repo, "snapshots", "--json")
    return json.loads(done.stdout), done.stderr


def lose_the_server(client: AgentClient, bucket: str, server: Rclone) -> None:
    """The agent's first storage time lands in the bucket, then the server goes and the agent notices."""
    wait_for(lambda: ours(client, bucket).snapshots == 1, 60, what="the first storage time, in the bucket")
    server.kill()
    wait_for(lambda: not ours(client, bucket).present, 30, what="the agent to notice the server is gone")


@pytest.fixture
def bucket(server: Rclone) -> Iterator[str]:
    yield f"s3://{S3Server('rclone', server.endpoint).new_bucket()}/laptop"


# encrypted only: the plain bucket's away store, move and offline reads are the stale-index and kill tests' below
@pytest.mark.parametrize("encryption", ["repokey"])
def test_a_bucket_out_of_reach_keeps_history_here_browses_offline_and_gets_it_back(
        tmp_path: Path, server: Rclone, env: dict[str, str], bucket: str, encryption: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"in the bucket", "keep.txt": b"untouched"})
    if encryption != "none":
        env["TIMEKEEP_PASSPHRASE"] = PASSPHRASE
    run(env, "init", bucket, "--endpoint", server.endpoint, "--encryption", encryption)
    run(env, "--repo", bucket, "add", str(src))
    write_settings(env, bucket, server.endpoint)
    states = []
    with agent_process(env, bucket) as (_proc, paths):  # type: ignore[arg-type]  # --repo s3://… too
        client = AgentClient.connect(paths.socket, timeout=30)
        assert client is not None
        with client:
            lose_the_server(client, bucket, server)
            for i in range(2):
                states.append(keep_away(env, bucket, src, i, b"new %d" % i))
            store = away_store(env)
            assert store is not None and (encryption != "none") == (store.with_name(f"{store.name}.slots").is_dir())
            assert "2 snapshots kept on this computer" in run(env, "status").stdout

            browse_offline(env, bucket, src, store, tmp_path)

            server.start()
            wait_for(lambda: not store.exists(), 60, what="the away store to be moved onto the bucket and removed")
            wait_for(lambda: ours(client, bucket).present and client.status().job is None, 60,
                     what="an idle agent")
    listed, said = snapshots(env, bucket)
    assert "out of reach" not in said
    moved = [s for s in listed if s["trigger"] == "away"]
    assert len(moved) == 2 and listed[0]["trigger"] != "away" and listed.index(moved[0]) == 1
    assert moved[0]["time"] <= moved[1]["time"]  # to the second; the restores below tell them apart
    for snap, state in zip(moved, states, strict=True):
        to = tmp_path / f"r{snap['id']}"
        run(env, "--repo", bucket, "restore", str(src), "--at", str(snap["id"]), "--to", str(to))
        assert read_tree(to / "src") == state


def browse_offline(env: dict[str, str], bucket: str, src: Path, store: Path, tmp_path: Path) -> None:
    """The server is gone: the bucket's history reads from this computer's index; what only the bucket
    holds is refused in one line; the away store's snapshots are named and restore byte-exact."""
    listed, said = snapshots(env, bucket)
    assert len(listed) == 1, listed
    assert "out of reach" in said and "2 snapshots kept on this computer" in said and str(store) in said
    assert "Traceback" not in said
    for args, shown in ((("ls", str(src), "--at", "latest"), "keep.txt"), (("log", str(src / "notes.txt")), "created"),
                        (("find", "notes"), "notes.txt"), (("diff", "1", "now"), "new0.txt")):
        done = cli(env, "--repo", bucket, *args)
        assert done.returncode == 0 and shown in done.stdout, (args, done.stdout, done.stderr)
    refused = cli(env, "--repo", bucket, "cat", str(src / "notes.txt"))
    assert refused.returncode == 4 and refused.stdout == "", refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "out of reach" in last and "stored only there" in last and "Traceback" not in refused.stderr
    written = cli(env, "--repo", bucket, "add", str(tmp_path))
    assert written.returncode != 0 and "Traceback" not in written.stderr
    kept = cli(env, "--repo", str(store), "restore", str(src), "--at", "latest", "--to", str(tmp_path / "kept"))
    assert kept.returncode == 0, kept.stderr
    now, kept_here = read_tree(src), read_tree(tmp_path / "kept" / "src")  # it holds what changed while away
    assert sorted(kept_here) == [b"new0.txt", b"new1.txt", b"notes.txt"]
    assert all(kept_here[name] == now[name] for name in kept_here)


def test_offline_a_stale_index_shows_only_what_the_bucket_sealed_and_names_the_away_snapshots(
        tmp_path: Path, server: Rclone, s3_credentials: None) -> None:
    """This computer's index, read while the bucket is out of reach, lags behind it (another computer stored
    since): offline it shows exactly the snapshots it knows were sealed there, says it may be behind, and names
    the away store's snapshots, which read back byte-exact; nothing can be stored in the bucket meanwhile."""
    from tests.helpers import child_env
    from timekeep.core.api import Timekeep, repository_id
    from timekeep.core.away import keeping, store
    from timekeep.core.capture.excludes import Excludes
    from timekeep.core.errors import OutOfReach
    from timekeep.core.index.journal import JournalEntry
    from timekeep.gui.engine_jobs import open_away

    location = f"s3://{S3Server('rclone', server.endpoint).new_bucket()}/laptop"
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    here = child_env()
    run(here, "init", location, "--endpoint", server.endpoint, "--encryption", "none")
    run(here, "--repo", location, "add", str(src))
    run(here, "--repo", location, "backup")
    rid = repository_id(location)
    elsewhere = {**here, "XDG_CACHE_HOME": str(tmp_path / "other-computer")}
    run(elsewhere, "--repo", location, "backup")  # the bucket moves on; this computer's index does not know
    away = store.path_for(rid)
    store.create(away, rid, None, location)
    with Timekeep.open(away, writer=True) as tk:
        keeping.sync_folders(tk, {bytes(src): Excludes([])})
    keeping.record(away, [JournalEntry(bytes(src), bytes(src / "notes.txt"), 7, None)], 1)
    (src / "notes.txt").write_bytes(b"kept here")
    assert keeping.storage_time(away, 1 << 30).snapshot is not None
    server.kill()

    listed, said = snapshots(here, location)
    assert [s["id"] for s in listed] == [1], listed
    assert "out of reach" in said and "last reached" in said
    assert "1 snapshots kept on this computer" in said and str(away) in said
    kept = run(here, "--repo", str(away), "cat", str(src / "notes.txt"))
    assert kept.stdout == "kept here"
    status = json.loads(run(here, "--repo", location, "status", "--json").stdout)  # no agent runs
    assert status["present"] is False and status["snapshots"] == 1 and "1 snapshots kept" in status["away"]
    assert "absent" in run(here, "--repo", location, "status").stdout
    reader = open_away(location)  # the window's timeline, as it opens a repository that is away
    assert reader is not None
    with reader:
        assert [s.id for s in reader.snapshots()] == [1]
        with pytest.raises(OutOfReach, match="out of reach; this version is stored only there"):
            reader.write_version(reader.plan(bytes(src / "notes.txt"), 1), io.BytesIO())
    restored = cli(here, "--repo", location, "restore", str(src), "--at", "1", "--to", str(tmp_path / "r"))
    assert restored.returncode == 1 and "stored only there" in restored.stderr, restored.stderr  # a file not restored
    assert "Traceback" not in restored.stderr and not (tmp_path / "r" / "src" / "notes.txt").exists()
    refused = cli(here, "--repo", location, "backup")
    assert refused.returncode == 4 and "Traceback" not in refused.stderr


def test_a_move_onto_the_bucket_killed_midway_is_finished_by_the_next_agent_without_copying_twice(
        tmp_path: Path, server: Rclone, env: dict[str, str], bucket: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"in the bucket"})
    run(env, "init", bucket, "--endpoint", server.endpoint, "--encryption", "none")
    run(env, "--repo", bucket, "add", str(src))
    write_settings(env, bucket, server.endpoint)
    with agent_process(env, bucket) as (proc, paths):  # type: ignore[arg-type]
        client = AgentClient.connect(paths.socket, timeout=30)
        assert client is not None
        with client:
            lose_the_server(client, bucket, server)
            states = [keep_away(env, bucket, src, 0, b"small"), keep_away(env, bucket, src, 1, os.urandom(12 << 20))]
        store = away_store(env)
        assert store is not None
        server.start()
        wait_for(lambda: "away snapshot 1 is snapshot" in paths.log_file.read_text(), 60, 0.005,
                 what="the first away snapshot on the bucket")
        proc.kill()  # mid-move, most likely; the next agent must finish it either way
        proc.wait()
    with agent_process(env, bucket) as (_proc, paths):  # type: ignore[arg-type]
        client = AgentClient.connect(paths.socket, timeout=30)
        assert client is not None
        with client:
            wait_for(lambda: not store.exists(), 60, what="the move to be finished and the store removed")
            wait_for(lambda: ours(client, bucket).present and client.status().job is None, 60, what="an idle agent")
    listed, _ = snapshots(env, bucket)
    moved = [s for s in listed if s["trigger"] == "away"]
    assert len(moved) == 2, listed  # each away snapshot once, whatever the kill interrupted
    for snap, state in zip(moved, states, strict=True):
        to = tmp_path / f"r{snap['id']}"
        run(env, "--repo", bucket, "restore", str(src), "--at", str(snap["id"]), "--to", str(to))
        assert read_tree(to / "src") == state


def test_an_encrypted_bucket_used_without_the_agent_is_browsed_offline_with_its_passphrase(
        tmp_path: Path, server: Rclone, s3_credentials: None) -> None:
    """The first command that reached it kept a copy of its key slots: offline its passphrase opens this
    computer's index of it; without the passphrase, one line and no traceback."""
    from tests.helpers import child_env

    location = f"s3://{S3Server('rclone', server.endpoint).new_bucket()}/laptop"
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"sealed"})
    here = child_env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    run(here, "init", location, "--endpoint", server.endpoint, "--encryption", "repokey")
    run(here, "--repo", location, "add", str(src))
    run(here, "--repo", location, "backup")
    server.kill()
    listed, said = snapshots(here, location)
    assert len(listed) == 1 and "out of reach" in said
    without = cli({k: v for k, v in here.items() if k != "TIMEKEEP_PASSPHRASE"}, "--repo", location, "snapshots")
    assert without.returncode == 2 and "No passphrase" in without.stderr and without.stdout == ""
    assert "Traceback" not in without.stderr
