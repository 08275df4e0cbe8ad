"""A trained method back from a checkpoint folder, ready to sample: the settings, data set and
seed come from the checkpoint itself, and no stage is recomputed (PGMGAN's partition and
partitioner come from the checkpoint, not from the stage cache).

Used by `study sample`, `study evaluate` and the generator logged as an MLflow model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainables import checkpoint
from trainables.core import streams
from trainables.core.context import RunContext
from trainables.core.method import GANMethod
from trainables.core.settings import merge_settings
from trainables.data import DataBundle, load_dataset
from trainables.loop import LoopConfig
from trainables.registry import get_method


class RestoreError(ValueError):
    """A setting override the trainer does not take, or a checkpoint without its config."""


@dataclass
class Restored:
    method: GANMethod
    data: DataBundle
    config: LoopConfig  # as the run was configured (overrides applied to `method`)
    step: int
    folder: Path


def restore(folder: str | Path, device: torch.device | str = "cpu",
            overrides: dict[str, Any] | None = None, data_root: str | None = None,
            seed: int | None = None) -> Restored:
    """The method of checkpoint `folder` with its weights; `overrides` change sampling settings
    (e.g. `tau_infer`, `rejection`). Draws then come from the stream ("sample", seed), or with
    no seed from the run's evaluation stream at the checkpoint's step: the first `eval_samples`
    samples are then the ones the run's last evaluation scored."""
    folder = Path(folder)
    state = checkpoint.read_state(folder)  # on the CPU (see read_state)
    if "config" not in state:
        raise RestoreError(f"checkpoint {folder}: no run config in {checkpoint.STATE_FILE}")
    cfg = LoopConfig.model_validate(state["config"])
    method_cls = get_method(cfg.trainer)
    unknown = sorted(k for k in overrides or {} if k not in method_cls.Config.model_fields)
    if unknown:
        raise RestoreError(f"{cfg.trainer} has no setting {', '.join(unknown)}")
    method_cfg = method_cls.Config.model_validate(merge_settings(cfg.method, overrides or {}))
    data = load_dataset(cfg.dataset["name"], root=data_root or cfg.data_root,
                        **cfg.dataset.get("options", {}))
    device = torch.device(device)
    ctx = RunContext(device, cfg.seed, eval_features=cfg.eval_features,
                     eval_split=cfg.eval_split, restoring=True)
    method = method_cls(method_cfg, data, ctx)
    checkpoint.apply_state(method, state)
    step = int(state["step"])
    draw = streams.stream_seed(cfg.seed, "eval", step) if seed is None else \
        streams.stream_seed(seed, "sample")
    ctx.generator.manual_seed(draw)  # as the loop's evaluation_rng seeds both
    torch.manual_seed(draw)
    return Restored(method, data, cfg, step, folder)
