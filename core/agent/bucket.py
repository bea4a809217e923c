"""Looking at a repository in a bucket from the agent: one GET of its config.json, tried once, with short
timeouts (the agent's own waits between looks are the retries), its failure told in the status's words.

A server that cannot be reached reads "waiting for the network"; missing credentials, a missing bucket or
refused access read as their one-line errors, which say what to change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import boto3

from timekeep.core.drives import Presence
from timekeep.core.errors import DriveGone, ObjectMissing, TimekeepError
from timekeep.core.storage.layout import CONFIG_NAME, RepoConfig
from timekeep.core.storage.location import configured_endpoint
from timekeep.core.storage.s3_backend import S3Backend
from timekeep.core.storage.s3_client import new_session
from timekeep.core.storage.s3_requests import S3Tuning

LOOK = S3Tuning(max_requests=1, attempts=1, connect_timeout=5.0, read_timeout=20.0)
WAITING = "waiting for the network"
Endpoint = Callable[[str], str | None]  # the endpoint remembered for a location in the settings in force


class BucketProbe:
    """Looks at buckets for the agent's `RemotePoller` (called on its threads; one boto3 session for all)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._session_lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    def __call__(self, location: str, expected_id: str | None) -> Presence:
        try:
            config = RepoConfig.from_json(self._backend(location).read(CONFIG_NAME))
        except ObjectMissing:
            return Presence(False, f"no Timekeep repository is at {location} (it holds no {CONFIG_NAME})")
        except DriveGone as err:
            return Presence(False, f"{WAITING} ({err})")
        except TimekeepError as err:
            return Presence(False, str(err))
        except (ValueError, TypeError, KeyError) as err:
            return Presence(False, f"{location}/{CONFIG_NAME} is damaged: {err}")
        if expected_id is not None and config.repository_id != expected_id:
            return Presence(False, f"a different repository is at {location} (id {config.repository_id[:8]}, "
                                   f"expected {expected_id[:8]})", config.repository_id, "")
        return Presence(True, "", config.repository_id, "", config.encrypted)

    def _backend(self, location: str) -> S3Backend:
        with self._session_lock:
            if self._session is None:
                self._session = new_session()
            session = self._session
        endpoint = self.endpoint(location) or configured_endpoint(session)  # as `locate` resolves it
        return S3Backend(location, endpoint, tuning=LOOK, session=session)
