"""Take a study's generators out: find a trial's last checkpoint (or the best trial's), and
write samples drawn with the method's own sampling, with their protocol (`study sample`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.paths import RESULTS_FILE, SPEC_COPY, find_study, storage_root
from study.report.errors import ReportError
from trainables.checkpoint import read_meta


class ExportError(ReportError):
    """A trial or checkpoint that cannot be found, or an option the trainer does not take."""


def checkpoints_of(folder: Path, trial_id: str) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint trial `trial_id` wrote, oldest first (both paths:
    the Tune trial's own folders and a Train run's)."""
    found = []
    for meta_file in folder.rglob("meta.json"):
        meta = read_meta(meta_file.parent)
        if meta and meta.get("trial_id") == trial_id and (meta_file.parent / "state.pt").is_file():
            found.append((int(meta["step"]), meta_file.parent))
    return sorted(found)


def results_of(folder: Path) -> pd.DataFrame:
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise ExportError(f"{folder.name}: no {RESULTS_FILE} yet (the study has not finished a "
                          f"trial); see `study status {folder.name}`")
    return pd.read_parquet(path)


def best_trial(folder: Path) -> str:
    """The finished trial with the best value of the study's (first) metric."""
    from study.spec import load_spec

    spec = load_spec(folder / SPEC_COPY)
    metric, mode = spec.tune_metric, spec.modes[0]  # `objective` under constraints
    table = results_of(folder)
    done = table[(table["status"] == "TERMINATED") & table[metric].notna()] \
        if metric in table else table.iloc[0:0]
    if done.empty:
        raise ExportError(f"{folder.name}: no finished trial reports {metric}")
    row = done.loc[done[metric].idxmin() if mode == "min" else done[metric].idxmax()]
    return str(row["trial_id"])


def trial_checkpoint(study: str, storage: str | None, trial: str | None,
                     best: bool) -> tuple[Path, str, Path]:
    """(study folder, trial id, its last checkpoint) for `--trial ID` or `--best`."""
    folder = find_study(study, storage_root(storage))
    if best or trial is None:
        trial = best_trial(folder)
    found = checkpoints_of(folder, trial)
    if not found:
        known = ", ".join(results_of(folder)["trial_id"].astype(str)) \
            if (folder / RESULTS_FILE).is_file() else "none finished"
        raise ExportError(f"{folder.name}: no checkpoint of trial {trial!r} (trials: {known})")
    return folder, trial, found[-1][1]


def overrides_from(trainer: str, tau_infer: float | None, rejection: bool | None) -> dict:
    over: dict[str, Any] = {}
    if tau_infer is not None:
        if trainer != "simplicial":
            raise ExportError(f"--tau-infer applies to simplicial; this trial trained {trainer}")
        over["tau_infer"] = tau_infer
    if rejection is not None:
        if trainer != "pgmgan":
            raise ExportError(f"--rejection applies to pgmgan; this trial trained {trainer}")
        over["rejection"] = rejection
    return over


def write_samples(restored: Any, n: int, out: Path, per_condition: bool,
                  record: dict[str, Any]) -> dict[str, Any]:
    """Samples (and per-condition rows) of a restored method into `out`, with protocol.json."""
    import torch

    from evaluation.features import quantize_uint8
    from study.versions import library_versions

    out.mkdir(parents=True, exist_ok=True)
    method, data = restored.method, restored.data
    with torch.no_grad():
        x = method.sample(n).detach().cpu().float()
    files: list[str] = []
    image = data.info.get("kind") == "image"
    if image:
        np.savez_compressed(out / "samples.npz", x=x.numpy())
        files.append("samples.npz")
        _write_pngs(quantize_uint8(x), out / "png")
        files.append("png/")
    else:
        np.save(out / "samples.npy", x.numpy())
        files.append("samples.npy")
    if per_condition:
        with torch.no_grad():
            got = method.sample_by_condition(n, max_rows=10_000)
        if got is None:
            raise ExportError(f"{restored.config.trainer} has no conditions to sample by")
        rows, labels = got
        np.savez_compressed(out / "samples_by_condition.npz", x=rows.detach().cpu().numpy(),
                            labels=np.asarray(labels))
        files.append("samples_by_condition.npz")
    proto = record | {
        "n": n, "shape": list(x.shape), "files": files,
        "values": "float32 in [-1, 1], NCHW (PNGs: uint8, round-half-up)" if image
        else "float32 coordinates, as the data set's",
        "step": restored.step, "trainer": restored.config.trainer,
        "run_seed": restored.config.seed, "dataset": restored.config.dataset,
        "method": restored.method.cfg.model_dump(mode="json"),
        "sampling": getattr(restored.method, "last_acceptance", None),
        "versions": library_versions(),
    }
    if proto["sampling"] is not None:
        proto["sampling"] = {"acceptance_rate": float(proto["sampling"])}
    (out / "protocol.json").write_text(json.dumps(proto, indent=2, default=str))
    return proto


def _write_pngs(images: Any, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i, img in enumerate(arr):
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / f"{i:06d}.png")
