"""A real Samba server (Debian's smbd) on 127.0.0.1 for the SMB scan tests.

``samba_server()`` starts ``smbd`` in the foreground on a free high port with its own ``smb.conf`` in a
temporary folder (passdb, locks, state, cache, pid, ncalrpc and logs all inside it, nothing of the system
Samba is touched), one share and one user, waits until the port accepts connections and stops the whole
process group at the end. Starting smbd takes about a second: use it module-scoped.

The Samba user must be a Unix user. It is not root on purpose: smbd checks file permissions as the mapped
Unix user, and root would read everything, so "permission denied" could not be tested. We use the existing
unprivileged system account ``daemon`` (present on every Debian system through base-passwd); no user is
created. Files the tests create in ``root_dir`` belong to root, so ``daemon`` reads them through the
"other" permission bits (0o644 readable, 0o600 not).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SMBD = shutil.which("smbd") or "/usr/sbin/smbd"
SMBPASSWD = shutil.which("smbpasswd") or "/usr/bin/smbpasswd"
UNIX_USER = "daemon"
PASSWORD = "Himitsu-smb-pw-2026"
SHARE = "himitsu"
START_TIMEOUT = 30.0  # seconds to wait for smbd to accept connections (not an assertion, a give-up point)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(base: Path, port: int, share_dir: Path) -> str:
    d = {name: base / name for name in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log")}
    for path in d.values():
        path.mkdir(mode=0o700, exist_ok=True)
    return f"""[global]
    workgroup = HIMITSU
    netbios name = HIMITSUTEST
    server role = standalone server
    security = user
    map to guest = never
    passdb backend = tdbsam:{d["private"]}/passdb.tdb
    private dir = {d["private"]}
    lock directory = {d["lock"]}
    state directory = {d["state"]}
    cache directory = {d["cache"]}
    pid directory = {d["pid"]}
    ncalrpc dir = {d["ncalrpc"]}
    log file = {d["log"]}/log.%m
    max log size = 0
    log level = 1
    smb ports = {port}
    interfaces = 127.0.0.1
    bind interfaces only = yes
    disable netbios = yes
    server min protocol = SMB2
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    unix charset = UTF-8
    store dos attributes = no
    ea support = no
    kernel oplocks = no
    kernel share modes = no
    posix locking = no
    usershare path =

[{SHARE}]
    path = {share_dir}
    read only = yes
    browseable = yes
    valid users = {UNIX_USER}
"""


@dataclass
class SambaServer:
    host: str
    port: int
    share: str
    root_dir: Path
    username: str
    password: str
    base_dir: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """smb://127.0.0.1:port/share (without a path)."""
        return f"smb://{self.host}:{self.port}/{self.share}"

    def log(self) -> str:
        """The tail of smbd's logs, for failure messages."""
        out = []
        for path in sorted((self.base_dir / "log").glob("*")) + [self.base_dir / "smbd.out"]:
            with contextlib.suppress(OSError):
                out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def pause(self) -> None:
        """Freeze smbd (SIGSTOP): connections stay open but nothing answers, like a hung server."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def stop(self) -> None:
        """Kill smbd and every process it forked (one per client connection, notifyd, cleanupd), paused or not."""
        proc, self.process = self.process, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _start(base: Path, port: int) -> SambaServer:
    share_dir = base / "share"
    share_dir.mkdir()
    os.chmod(base, 0o755)       # the share is reached as UNIX_USER: it must be able to traverse base
    os.chmod(share_dir, 0o755)
    conf = base / "smb.conf"
    conf.write_text(_config(base, port, share_dir), encoding="utf-8")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    added = subprocess.run([SMBPASSWD, "-c", str(conf), "-a", "-s", UNIX_USER], input=f"{PASSWORD}\n{PASSWORD}\n",
                           capture_output=True, text=True, env=env, check=False)
    if added.returncode != 0:
        pytest.fail(f"smbpasswd could not add {UNIX_USER!r}: {added.stdout} {added.stderr}")
    with open(base / "smbd.out", "wb") as out:
        # a new session (own process group) so stop() can kill smbd and its children together;
        # --no-process-group keeps smbd from creating yet another group
        proc = subprocess.Popen([SMBD, "--foreground", "--no-process-group", f"--configfile={conf}", "--debug-stdout"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    server = SambaServer(host="127.0.0.1", port=port, share=SHARE, root_dir=share_dir, username=UNIX_USER,
                         password=PASSWORD, base_dir=base, process=proc)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            server.stop()
            pytest.fail(f"smbd exited with {proc.returncode} at start\n{server.log()}")
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"smbd did not accept connections on port {port} within {START_TIMEOUT} s\n{server.log()}")
        time.sleep(0.05)


@contextlib.contextmanager
def samba_server() -> Iterator[SambaServer]:
    """A running smbd on 127.0.0.1:<free port> serving ``share`` from ``root_dir`` to ``username``/``password``."""
    if not os.path.exists(SMBD) or not os.path.exists(SMBPASSWD):
        pytest.fail("Samba (smbd, smbpasswd) is not installed: run `make servers`")
    if os.geteuid() != 0:
        pytest.fail("the SMB tests start smbd, which must run as root")
    try:
        pwd.getpwnam(UNIX_USER)
    except KeyError:
        pytest.fail(f"the Unix user {UNIX_USER!r} (from Debian's base-passwd) is missing")
    base = Path(tempfile.mkdtemp(prefix="himitsu-smbd-"))
    server = None
    try:
        server = _start(base, free_port())
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
