"""Small builders shared by the study tests."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient


def toy_spec(name: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "trainer": "baseline_gan",
        "dataset": {"name": "grid", "options": {"n": 5000}},
        "fixed": {"batch_size": 64},
        "search": {},
        "seeds": [0],
        "budget": {"steps": 60},
        "eval_every": 30,
        "checkpoint_every": 30,
        "eval_samples": 500,
        "max_concurrent_trials": 2,
        "metric": "reverse_kl",
        "mode": "min",
    }
    spec.update(overrides)
    return spec


def fresh_store(folder: Path) -> str:
    """The URI of a new, empty MLflow sqlite store at `folder`/mlflow.db: a copy of one made once
    per test process (making the tables runs MLflow's migrations, 2-3 s a store). The product's
    own creation of a store is tested where a study makes one (test_study_end_to_end)."""
    global _STORE_TEMPLATE
    if _STORE_TEMPLATE is None:
        template = Path(tempfile.mkdtemp(prefix="mlflow-template-")) / "mlflow.db"
        MlflowClient(f"sqlite:///{template}").search_experiments()
        _STORE_TEMPLATE = template
    shutil.copyfile(_STORE_TEMPLATE, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


_STORE_TEMPLATE: Path | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_ray() -> str:
    """The test session's one local Ray, started if needed the way a study starts one (with
    study.ray_env's runtime environment): its GCS address."""
    import ray

    from study.ray_env import init_ray

    if not ray.is_initialized():
        init_ray("local", num_cpus=2, logging_level="WARNING", log_to_driver=False)
    return ray.get_runtime_context().gcs_address


def write_spec(folder: Path, spec: dict[str, Any]) -> Path:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def runs_of(uri: str, study: str) -> tuple[Any, list[Any]]:
    """(parent run, child runs) of a study in the MLflow store."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(study)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1, f"expected one parent run, found {len(parents)}"
    return parents[0], children


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition on files another process writes (a timeout, not a sleep, is the bound)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)
