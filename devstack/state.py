"""`.local/stack-{port}.json`: where a running local stack is (written by `make run`, read by
`make demo` and the migration script). A file whose process is gone is stale: it is removed,
never read as a live stack. Kept free of moto and boto3 so readers import it cheaply."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_DIR = Path(__file__).resolve().parent.parent / ".local"


def state_path(api_port: int) -> Path:
    return STATE_DIR / f"stack-{api_port}.json"


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def write_state(api_port: int, state: dict[str, Any]) -> Path:
    """Written with this process's id (mode 600: it holds the tenants' admin keys)."""
    path = state_path(api_port)
    STATE_DIR.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({**state, "pid": os.getpid()}, file, indent=2)
    return path


def remove_state(api_port: int) -> None:
    """Only this process's own file: a stale one is removed by `read_live_state`."""
    path = state_path(api_port)
    state = _read(path)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def read_live_state(api_port: int) -> dict[str, Any] | None:
    """The running stack's state, or None; a file left by a stack that was killed is removed."""
    path = state_path(api_port)
    state = _read(path)
    if state is None:
        return None
    pid = state.get("pid")
    if isinstance(pid, int) and pid > 0 and process_is_alive(pid):
        return state
    path.unlink(missing_ok=True)
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
