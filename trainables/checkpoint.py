"""Checkpoint files: networks, optimisers, method state, step and RNG state.

Rank 0 writes `state.pt`; every rank writes its own `rng_rank{r}.pt` (Ray Train merges the
workers' folders into one checkpoint), so a resumed run draws the same data and latents.
Loaded with `torch.load(weights_only=True)`: nothing in them is executable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainables.context import RunContext
from trainables.method import GANMethod

STATE_FILE = "state.pt"


class CheckpointError(RuntimeError):
    pass


def save(
    method: GANMethod, ctx: RunContext, step: int, folder: Path, cfg: dict,
    metrics: dict[str, float] | None = None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if ctx.rank == 0:
        state = {
            "step": step,
            "networks": {k: m.state_dict() for k, m in method.networks().items()},
            "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
            "extra": method.extra_state(),
            "config": cfg,
            "metrics": metrics or {},
        }
        torch.save(state, folder / STATE_FILE)
    rng = {"generator": ctx.generator.get_state(), "torch": torch.get_rng_state()}
    torch.save(rng, folder / f"rng_rank{ctx.rank}.pt")


def load(
    method: GANMethod, ctx: RunContext, folder: Path, restore_rng: bool = True
) -> tuple[int, dict[str, float]]:
    """Load a checkpoint folder into `method`; returns its step and the metrics reported then."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder}: no {STATE_FILE} in it")
    try:
        state: dict[str, Any] = torch.load(path, map_location=ctx.device, weights_only=True)
    except Exception as exc:  # corrupt or foreign file: say which
        raise CheckpointError(f"checkpoint {path}: cannot be read ({exc})") from exc
    for name, module in method.networks().items():
        module.load_state_dict(state["networks"][name])
    for name, opt in method.optimizers().items():
        opt.load_state_dict(state["optimizers"][name])
    method.load_extra_state(state.get("extra", {}))
    rng_path = Path(folder) / f"rng_rank{ctx.rank}.pt"
    if restore_rng and rng_path.is_file():
        rng = torch.load(rng_path, weights_only=True)
        ctx.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
    return int(state["step"]), dict(state.get("metrics", {}))
