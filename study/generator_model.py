"""A trial's final generator as an MLflow pyfunc model (`runs:/<run id>/generator`).

    model = mlflow.pyfunc.load_model("runs:/<run id>/generator")
    x = model.predict({"n": [1000], "seed": [0]})    # or:
    x = model.unwrap_python_model().sample(1000, seed=0)

The model holds a sampling-only copy of the trial's last checkpoint (weights and the method's
state, no optimisers) and rebuilds the method with `trainables.restore` (the data set is loaded
from `STUDY_DATA_ROOT`, else the run's data root, else the default cache). Samples come from the
method's own sampling (PGMGAN with its rejection, simplicial at its τ_infer), as float32 arrays:
(n, d) points or (n, C, H, W) images in [-1, 1].
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

ARTIFACT_PATH = "generator"


# MLflow advises type hints on predict when a subclass is defined (they would become a schema)
# under a "once" filter of its own, which no filter of ours overrides: recording the warnings
# keeps the advice off the console.
with warnings.catch_warnings(record=True):
    class GeneratorModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context: Any) -> None:
            from trainables.restore import restore

            self.restored = restore(context.artifacts["checkpoint"],
                                    data_root=os.environ.get("STUDY_DATA_ROOT"))

        def sample(self, n: int, seed: int = 0) -> np.ndarray:
            import torch

            from trainables.core import streams

            method = self.restored.method
            draw = streams.stream_seed(seed, "sample")
            method.ctx.generator.manual_seed(draw)
            torch.manual_seed(draw)
            with torch.no_grad():
                return method.sample(int(n)).detach().cpu().float().numpy()

        # No type hints here: MLflow would read them as an input schema.
        def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
            """`model_input`: {"n": [N], "seed": [S]} (a dict or a DataFrame; seed optional, 0)
            or an int N. (MLflow passes `params` only to models logged with a params schema.)"""
            if isinstance(model_input, int):
                return self.sample(model_input)

            def first(key: str, default: int) -> int:
                if key not in model_input:
                    return default
                value = model_input[key]
                return int(value.iloc[0] if hasattr(value, "iloc") else np.ravel(value)[0])

            return self.sample(first("n", 1), first("seed", 0))


def sampling_copy(checkpoint_dir: Path, dest: Path) -> Path:
    """state.pt without optimiser states (what sampling needs), beside meta.json."""
    import shutil

    import torch

    from trainables.checkpoint import META_FILE, STATE_FILE

    dest.mkdir(parents=True, exist_ok=True)
    state = torch.load(checkpoint_dir / STATE_FILE, map_location="cpu", weights_only=True)
    state.pop("optimizers", None)
    torch.save(state, dest / STATE_FILE)
    if (checkpoint_dir / META_FILE).is_file():
        shutil.copyfile(checkpoint_dir / META_FILE, dest / META_FILE)
    return dest


def log_generator(client: mlflow.MlflowClient, run_id: str, checkpoint_dir: Path) -> None:
    """Log the checkpoint's generator to the run as a pyfunc model under `generator/`."""
    from study.versions import library_versions

    versions = library_versions()
    # Stated, not inferred (inference imports the model in a subprocess: seconds per trial).
    requirements = [f"{pkg}=={versions[pkg]}" for pkg in ("torch", "torchvision", "mlflow",
                                                         "numpy", "scikit-learn", "pydantic")
                    if versions.get(pkg, "missing") != "missing"] + ["gan-mode-study"]
    code = Path(__file__).with_name("generator_model_code.py")
    with tempfile.TemporaryDirectory() as tmp, _no_progress_bars():
        copy = sampling_copy(Path(checkpoint_dir), Path(tmp) / "checkpoint")
        model_dir = Path(tmp) / ARTIFACT_PATH
        with warnings.catch_warnings():  # its advice to type-hint predict (see predict)
            warnings.simplefilter("ignore", UserWarning)
            mlflow.pyfunc.save_model(str(model_dir), python_model=str(code),
                                     artifacts={"checkpoint": str(copy)},
                                     pip_requirements=requirements)
        client.log_artifacts(run_id, str(model_dir), ARTIFACT_PATH)


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """The artifact copy's progress bars would interleave with the study's progress lines."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
