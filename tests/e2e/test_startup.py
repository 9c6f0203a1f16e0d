"""`make run` start-up: a taken port fails at once with a readable line, a signal in the middle
of start-up stops everything, and a state file left by a killed stack is never taken for a live one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, free_port, port_is_free

pytestmark = pytest.mark.e2e
STATE_DIR = ROOT / ".local"


def stack_env(aws_port: int, api_port: int) -> dict[str, str]:
    env = {**os.environ, "LOCAL_API_PORT": str(api_port), "LOCAL_AWS_PORT": str(aws_port),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/common"), str(ROOT)])}
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def run_stack(aws_port: int, api_port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=ROOT, env=stack_env(aws_port, api_port),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def listening(port: int):
    """Something else listening on `port` (if something already does, that is as good)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        assert not port_is_free(port)
    try:
        yield
    finally:
        sock.close()


def exits_within(process: subprocess.Popen, seconds: float) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the local stack was still running after {seconds} s")
    return process.returncode, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("taken", ["aws", "api"])
def test_a_taken_port_fails_at_once_naming_the_port_and_its_variable(taken):
    aws_port = 4566 if taken == "aws" else free_port()  # LocalStack's default, which we share
    api_port = free_port()
    port, variable = (aws_port, "LOCAL_AWS_PORT") if taken == "aws" else (api_port, "LOCAL_API_PORT")
    with listening(port):
        started = time.monotonic()
        code, out, err = exits_within(run_stack(aws_port, api_port), 15)
    assert code != 0
    assert time.monotonic() - started < 15
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"port {port} is already in use" in lines[0] and variable in lines[0]
    assert ("LocalStack" in lines[0]) == (taken == "aws")
    errors = [line for line in json_lines(out) if line["message"] == "local platform could not start"]
    assert [line["level"] for line in errors] == ["ERROR"]
    assert port_is_free(api_port if taken == "aws" else aws_port)  # the other one was let go


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_middle_of_start_up_stops_everything(signum):
    aws_port, api_port = free_port(), free_port()
    process = run_stack(aws_port, api_port)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # moto is up, the tables and queues are being created
        seen.append(line)
        if "provisioning" in line:
            process.send_signal(signum)
            break
    else:
        pytest.fail(f"no provisioning line: {''.join(seen)}")
    code, out, _ = exits_within(process, 10)
    assert code == 0
    assert "local platform ready" not in out  # it was still starting
    assert "stopping during start-up" in out
    assert port_is_free(aws_port) and port_is_free(api_port)
    assert not (STATE_DIR / f"stack-{api_port}.json").exists()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_stale_state(api_port: int) -> Path:
    STATE_DIR.mkdir(exist_ok=True)
    path = STATE_DIR / f"stack-{api_port}.json"
    path.write_text(json.dumps({
        "api_url": f"http://127.0.0.1:{api_port}", "aws_endpoint": f"http://127.0.0.1:{free_port()}",
        "app_table": "wabot-local-AppTable", "tenant_keys": {"demo": "wab.demo.0123456789ab." + "S" * 32},
        "pid": dead_pid()}))
    return path


def test_a_stale_state_file_is_not_read_as_a_live_stack(tmp_path):
    api_port = free_port()
    path = write_stale_state(api_port)
    demo = subprocess.run([sys.executable, "-m", "devstack", "demo", "--api", f"http://127.0.0.1:{api_port}"],
                          cwd=ROOT, env=stack_env(free_port(), api_port), capture_output=True, text=True,
                          timeout=30)
    assert demo.returncode == 1 and "No local stack answers" in demo.stderr
    assert not path.exists()

    path = write_stale_state(api_port)
    database = tmp_path / "orchestrator.db"
    database.touch()
    migrate = subprocess.run([sys.executable, "scripts/migrate_whatsapp.py", "--db", str(database), "--data-dir",
                              str(tmp_path), "--tenant", "acme", "--api-port", str(api_port)],
                             cwd=ROOT, env=stack_env(free_port(), api_port), capture_output=True, text=True,
                             timeout=30)
    assert migrate.returncode == 1 and f"no local stack on port {api_port}" in migrate.stderr
    assert not path.exists()


def test_a_new_stack_replaces_a_stale_state_file():
    aws_port, api_port = free_port(), free_port()
    path = write_stale_state(api_port)
    process = run_stack(aws_port, api_port)
    assert process.stdout is not None
    for line in process.stdout:
        if "local platform ready" in line:
            break
    state = json.loads(path.read_text())
    assert state["pid"] == process.pid
    assert state["aws_endpoint"] == f"http://127.0.0.1:{aws_port}"
    assert path.stat().st_mode & 0o777 == 0o600
    process.send_signal(signal.SIGTERM)
    code, _, _ = exits_within(process, 15)
    assert code == 0
    assert not path.exists()
