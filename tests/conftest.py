"""Shared test set-up: offscreen Qt, application folders under tmp_path, a bounded hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication: without a display Qt aborts

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.s3_support"]  # real S3 servers on loopback (rclone, moto) and a bucket each, as fixtures

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def private_app_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real home: config, cache, data and state all live in a temporary folder."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("TIMEKEEP_REPO", raising=False)


def _repositories_made_as(mode: str) -> Iterator[str]:
    """tests.helpers.new_repo makes repositories in `mode` for the length of one test."""
    from tests import helpers

    helpers.INDEX_MODE[0] = mode
    try:
        yield mode
    finally:
        helpers.INDEX_MODE[0] = "drive"


@pytest.fixture(params=["drive", "encrypted"])
def plain_and_encrypted(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test twice: unencrypted, and encrypted (init --encryption repokey, its index on this computer)."""
    yield from _repositories_made_as(str(request.param))


@pytest.fixture(params=["drive", "local"])
def both_index_modes(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test twice: with the index on the drive, and kept in this computer's cache folder."""
    yield from _repositories_made_as(str(request.param))


# Started first, longest first: the modules whose tests or set-up take longest (their sum in a `--durations` run),
# so that the last tests a worker of `-n auto --dist worksteal` starts are short ones and no long test keeps one
# worker busy while the other idles. Each module stays whole, so its module-scoped set-up is built once.
LONGEST_FIRST = ("test_away_bucket", "test_gui_s3", "test_bench_smoke", "test_s3_damage", "test_installer",
                 "test_coalesce_crash", "test_encrypt_bucket_kill", "test_property", "test_agent_s3",
                 "test_coalesce_property")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order
