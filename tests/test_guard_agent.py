"""The guard inside an agent ticked in process, on real folders watched by inotify: ordinary bursts open no
incident; attack-like damage opens one that names the folder and the snapshot before it, pauses thinning and
automatic storage times, survives a restart of the agent, and ends with the all-clear."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config
from tests.guard_support import ATTACKS, ORDINARY, Files, make_docs
from tests.helpers import backup, new_repo
from timekeep.core.agent.agent import Agent
from timekeep.core.agent.messages import GuardChanged, GuardIncident
from timekeep.core.errors import ThinningPaused
from timekeep.core.guard.incident import load, save

ORDINARY_HERE = ("git checkout", "build", "photo import", "rm -rf node_modules", "untar", "gzip on logs")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path, int, Path]]:
    src = tmp_path / "src"
    make_docs(Files(src))
    repo = new_repo(tmp_path, src)
    yield src, repo, backup(repo), tmp_path / "state" / "guard.json"


def judged_all(inproc: InProcess, paths: list[Path]) -> bool:
    """Every path's events reached the guard (the buffer is drained into the journal on the tick that
    judges), and no rewritten file waits to be sampled."""
    buffer, guard = inproc.agent.buffer, inproc.agent.guard
    return not any(buffer.holds(os.fsencode(p)) for p in paths) and not guard.detector.busy()


@pytest.mark.parametrize("name", ORDINARY_HERE)
def test_ordinary_bursts_open_no_incident(setup: tuple[Path, Path, int, Path], name: str) -> None:
    src, repo, _, guard_file = setup
    before, burst = ORDINARY[name]
    if before is not None:
        before(Files(src))
    with InProcess(agent_config(repo), guard_file=guard_file) as inproc:
        seen = inproc.agent.guard.detector.seen
        changed = [src / rel for rel in burst(Files(src))]
        inproc.until(lambda: inproc.agent.guard.detector.seen - seen >= len(changed), what="the burst's events")
        inproc.until(lambda: judged_all(inproc, changed), what="the guard to judge the burst")
        inproc.ticked(3)
        assert inproc.agent.guard.incident is None
    assert not guard_file.exists()


def test_damage_opens_an_incident_that_holds_until_the_all_clear(setup: tuple[Path, Path, int, Path]) -> None:
    src, repo, before_id, guard_file = setup
    config = agent_config(repo)
    events: list[object] = []
    with InProcess(config, guard_file=guard_file) as inproc:
        agent = inproc.agent
        agent.publish = events.append
        inproc.clock.advance(minutes=1)  # the burst comes a while after the backup, by the agent's clocks too
        ATTACKS["rewritten in place"](Files(src))
        incident = inproc.until(lambda: agent.guard.incident, what="an incident")
        assert incident.folders == (str(src),)
        assert [(b.destination, b.snapshot) for b in incident.before] == [(str(repo), before_id)]
        assert "look encrypted" in incident.reasons[0]
        assert any(isinstance(e, GuardChanged) and e.status.incident == incident for e in events)
        with pytest.raises(ThinningPaused, match="guard clear"):
            agent.coalesce_all("requested")
        decision = inproc.settled()
        assert decision.held is not None and "suspected mass damage" in decision.held
        assert guard_file.exists()
        again = Agent(config, guard_file=guard_file)  # a restarted agent still holds it
        assert again.guard.incident == incident
        agent.guard.clear()
        assert not guard_file.exists() and agent.guard.incident is None
        jobs = agent.coalesce_all("requested")
        assert jobs and all(job.done.wait(60) and job.result.ok for job in jobs)


@pytest.mark.parametrize("name", ["renamed to .locked", "ransom notes", "copies, originals deleted"])
def test_each_kind_of_damage_is_seen_through_the_watcher(setup: tuple[Path, Path, int, Path], name: str) -> None:
    src, repo, _, guard_file = setup
    with InProcess(agent_config(repo), guard_file=guard_file) as inproc:
        ATTACKS[name](Files(src))
        incident = inproc.until(lambda: inproc.agent.guard.incident, what="an incident")
        assert incident.folders == (str(src),)


def test_the_guard_can_be_switched_off(setup: tuple[Path, Path, int, Path]) -> None:
    src, repo, _, guard_file = setup
    config = agent_config(repo, raw={"guard": {"enabled": False}})
    with InProcess(config, guard_file=guard_file) as inproc:
        changed = [src / rel for rel in ATTACKS["ransom notes"](Files(src))]
        inproc.until(lambda: judged_all(inproc, changed), what="the notes' events")
        inproc.ticked(3)
        assert inproc.agent.guard.incident is None and inproc.agent.guard.detector.seen == 0
        assert not inproc.agent.guard.status().enabled


def test_a_destination_found_after_the_incident_gets_its_snapshot_before(setup: tuple[Path, Path, int, Path]
                                                                         ) -> None:
    """An incident opened while the drive was away names no snapshot before it there; once the agent finds the
    drive (here: started again with it connected) it does, and thinning stays paused."""
    _, repo, before_id, guard_file = setup
    away = GuardIncident("2099-01-01T00:00:00Z", "2099-01-01T00:00:05Z", ("ransom-note names appeared in 4 folders",),
                         (), ())
    save(guard_file, away)
    with InProcess(agent_config(repo), guard_file=guard_file) as inproc:
        incident = inproc.until(lambda: (i := inproc.agent.guard.incident) is not None and i.before and i)
        assert [(b.destination, b.snapshot) for b in incident.before] == [(str(repo), before_id)]
        assert load(guard_file) == incident
        with pytest.raises(ThinningPaused):
            inproc.agent.coalesce_all("requested")
