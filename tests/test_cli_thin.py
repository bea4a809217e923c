"""`timekeep retention` and `timekeep coalesce`: the rule is shown and changed, thinning runs from the
terminal, and what remains restores byte-exact."""

from __future__ import annotations

from tests.test_cli import Cli, read_tree
from tests.test_cli import cli as cli
from tests.treeops import index_db
from timekeep.core.api import Timekeep
from timekeep.core.cli.thin import summary
from timekeep.core.types import CoalesceReport

DAY_NS = 86400 * 10**9


def _three_days(cli: Cli) -> None:
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))
    for n in range(3):
        (cli.docs / "diary.txt").write_bytes(b"day %d\n" % n * 1000)
        cli.backup()
    with index_db(cli.repo) as conn:  # 1 and 2 on one day long ago, 3 now
        conn.execute("UPDATE snapshot SET time_ns = time_ns - ? WHERE id IN (1, 2)", (5 * DAY_NS,))
        conn.execute("UPDATE snapshot SET time_ns = time_ns - 1000000000 WHERE id = 1")


def test_retention_shows_and_changes_the_rule(cli: Cli) -> None:
    cli.ok("init", str(cli.repo), "--encryption", "none")
    assert "every snapshot of the last 24 hours" in cli.ok("retention").out
    changed = cli.ok("retention", "--keep-all-hours", "6", "--weekly-weeks", "10")
    assert "last 6 hours" in changed.out and "for 10 weeks" in changed.out
    assert cli.json("retention") == {"keep_all_hours": 6, "daily_days": 30, "weekly_weeks": 10}
    bad = cli("retention", "--keep-all-hours", "0")
    assert bad.code != 0 and "at least 1 hour" in bad.err


def test_coalesce_dry_run_then_thin(cli: Cli) -> None:
    _three_days(cli)
    dry = cli.json("coalesce", "--dry-run")
    assert dry["would_drop"] == [1] and dry["kept_for_last_copy"] == []
    assert "would thin" in cli.ok("coalesce", "--dry-run").out
    with Timekeep.open(cli.repo) as tk:
        assert [s.id for s in tk.snapshots()] == [1, 2, 3]  # a dry run changes nothing
    done = cli.ok("coalesce")
    assert "Thinned 1 snapshot (1)" in done.out
    assert [s["id"] for s in cli.json("snapshots")] == [2, 3]
    out = cli.tmp / "out"
    for sid in (2, 3):
        cli.ok("restore", str(cli.docs), "--at", str(sid), "--to", str(out / str(sid)))
        assert read_tree(out / str(sid) / "Documents") == cli.trees[sid]
    again = cli.json("coalesce")
    assert again["snapshots_dropped"] == [] and again["problems"] == []
    assert cli.ok("check", "--read-data").code == 0


def test_coalesce_needs_no_terminal_in_a_subprocess(cli: Cli) -> None:
    _three_days(cli)
    run = cli.sub("coalesce", "--repo", str(cli.repo), "--quiet")
    assert run.returncode == 0 and run.stdout == b"", run.stderr
    with Timekeep.open(cli.repo) as tk:
        assert [s.id for s in tk.snapshots()] == [2, 3]


def test_coalesce_drops_named_snapshots_but_never_the_newest(cli: Cli) -> None:
    _three_days(cli)
    refused = cli("coalesce", "--drop", "3")
    assert refused.code == 2 and "newest snapshot is never thinned" in refused.err
    unknown = cli("coalesce", "--drop", "9")
    assert unknown.code == 2 and "no snapshot 9" in unknown.err
    report = cli.json("coalesce", "--drop", "2")
    assert report["snapshots_dropped"] == [2]
    assert [s["id"] for s in cli.json("snapshots")] == [1, 3]
    out = cli.tmp / "out"
    for sid in (1, 3):
        cli.ok("restore", str(cli.docs), "--at", str(sid), "--to", str(out / str(sid)))
        assert read_tree(out / str(sid) / "Documents") == cli.trees[sid]


def test_a_dry_run_of_a_drop_shows_what_would_go_and_what_is_spared(cli: Cli) -> None:
    _three_days(cli)
    (cli.docs / "brief.txt").write_bytes(b"only ever in snapshot 4")
    cli.backup()
    (cli.docs / "brief.txt").unlink()
    cli.backup()  # 5: brief.txt deleted, so snapshot 4 holds its only copy
    dry = cli.json("coalesce", "--drop", "2", "4", "--dry-run")
    assert dry["would_drop"] == [2] and dry["kept_for_last_copy"] == [4]
    lines = cli.ok("coalesce", "--drop", "2", "4", "--dry-run").out.splitlines()
    assert lines[0] == "Asked to thin 2 snapshots: 2, 4."
    assert lines[1].startswith("would thin       2  ") and lines[2].startswith("would keep       4  ")
    assert lines[2].endswith("(holds the only copy of a file)") and len(lines) == 3
    assert [s["id"] for s in cli.json("snapshots")] == [1, 2, 3, 4, 5]  # nothing changed
    refused = cli("coalesce", "--drop", "5", "--dry-run")
    assert refused.code == 2 and "newest snapshot is never thinned" in refused.err  # as the real run says
    done = cli.json("coalesce", "--drop", "2", "4")
    assert (done["snapshots_dropped"], done["snapshots_kept_for_last_copy"]) == ([2], [4])  # as foretold
    assert "Kept snapshot 4: it holds the only copy" in summary(CoalesceReport(snapshots_kept_for_last_copy=(4,)))
