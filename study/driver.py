"""The study driver's own life: `driver.json` in the study folder, SIGTERM handled like Ctrl-C,
and MLflow runs closed with the reason whenever the driver ends before its trials do.

`driver.json` holds the driver's pid and host while it runs and how it ended afterwards, so that
`study status` and `study report` tell a running study from a dead one without Ray.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DRIVER_FILE = "driver.json"
RUNNING, FINISHED, INTERRUPTED, FAILED, DEAD = (
    "running", "finished", "interrupted", "failed", "dead")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write(folder: Path, state: dict[str, Any]) -> None:
    tmp = folder / (DRIVER_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, folder / DRIVER_FILE)


def mark_started(folder: Path) -> None:
    _write(folder, {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()})


def mark_ended(folder: Path, outcome: str, reason: str | None = None) -> None:
    state = read_state(folder)
    _write(folder, state | {"ended": _now(), "outcome": outcome, "reason": reason})


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / DRIVER_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def liveness(folder: Path) -> tuple[str, str | None]:
    """(running | finished | interrupted | failed | dead, reason). "dead": the driver is gone
    without recording an end (killed by SIGKILL, the machine went down). A driver on another
    host cannot be checked and counts as running."""
    state = read_state(folder)
    if not state:  # starting (Ray not yet up), or a study from before driver records
        return RUNNING, None
    if "outcome" in state:
        return state["outcome"], state.get("reason")
    if state.get("host") == socket.gethostname() and not _alive(int(state["pid"])):
        return DEAD, f"driver pid {state['pid']} is gone without recording an end"
    return RUNNING, None


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list[str]]:
    """SIGTERM does what Ctrl-C does (Tune saves the experiment and returns); yields the names
    of the signals received."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals reach the main thread only (a driver run from a thread)
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        received.append("SIGTERM")
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)  # Tune's handler while it runs, else KeyboardInterrupt
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def close_runs(tracking_uri: str, experiment_id: str, parent_run_id: str, status: str,
               reason: str) -> None:
    """Mark the parent and every child run still RUNNING as `status`, with the reason as a tag
    (`study.end_reason`)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    children = client.search_runs(
        [experiment_id],
        f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'")
    for run in children:
        client.set_tag(run.info.run_id, "study.end_reason", reason)
        client.set_terminated(run.info.run_id, status)
    client.set_tag(parent_run_id, "study.end_reason", reason)
    client.set_terminated(parent_run_id, status)
