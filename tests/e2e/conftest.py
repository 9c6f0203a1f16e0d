"""Starts `python -m devstack run` as a subprocess on free ports; tests talk to it only over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.client import LocalClient

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "wab.demo.0123456789ab." + "D" * 32
OTHER_KEY = "wab.globex.ba9876543210." + "G" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RunningStack:
    process: subprocess.Popen
    api_port: int
    aws_port: int
    client: LocalClient
    other: LocalClient

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_stack() -> RunningStack:
    api_port, aws_port = free_port(), free_port()
    env = {**os.environ, "LOCAL_API_PORT": str(api_port), "LOCAL_AWS_PORT": str(aws_port),
           "LOCAL_ADMIN_KEY": ADMIN_KEY, "LOCAL_TENANTS": f"globex:{OTHER_KEY}",
           # Schedules only on demand (POST /_local/schedules/run): no background health checks
           # interleave with what a test counts, and stopping never waits for a batch of them.
           "LOCAL_SCHEDULE_SECONDS": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/common"), str(ROOT)])}
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(ROOT / ".local" / f"e2e-{api_port}.log", "w")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited with {process.returncode}; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/_local/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("local stack did not become healthy in 60 s")
    api = f"http://127.0.0.1:{api_port}"
    return RunningStack(process, api_port, aws_port, LocalClient(api, ADMIN_KEY), LocalClient(api, OTHER_KEY))


@pytest.fixture(scope="module")
def local_stack():
    (ROOT / ".local").mkdir(exist_ok=True)
    stack = start_stack()
    yield stack
    stack.client.close()
    stack.other.close()
    stack.stop()
