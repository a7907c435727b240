"""`himitsu serve --processes N`: N server processes answer on one port; SIGTERM stops every one of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.gateways.conftest import free_port

HIMITSU = str(Path(sys.executable).with_name("himitsu"))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_server_processes_share_the_port_and_stop_together(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")} | {"HIMITSU_HOME": str(tmp_path)}
    proc = subprocess.Popen([HIMITSU, "serve", "--port", str(port), "--processes", "2", "--threads", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        statuses = []
        while time.monotonic() < deadline and len(statuses) < 6:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as reply:
                    statuses.append(reply.status)
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.3)
        assert statuses == [200] * 6
        assert len(_children(proc.pid)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert _children(proc.pid) == []
