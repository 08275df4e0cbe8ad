"""Checkpoint files: networks, optimisers, method state, step and RNG state.

Rank 0 writes `state.pt`; every rank writes its own `rng_rank{r}.pt` (Ray Train merges the
workers' folders into one checkpoint), so a resumed run draws the same data and latents.
Loaded with `torch.load(weights_only=True)`: nothing in them is executable.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from trainables.core.context import RunContext
from trainables.core.method import GANMethod

STATE_FILE = "state.pt"
# Who wrote the checkpoint (trial, Train run), at which step and with which settings: read by
# the Tune trial without loading tensors, to tell its own snapshot from a PBT donor's.
META_FILE = "meta.json"


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
            "g_average": None if method.g_average is None else method.g_average.state_dict(),
            "config": cfg,
            "metrics": metrics or {},
        }
        torch.save(state, folder / STATE_FILE)
        meta = {"step": step, "trial_id": cfg.get("trial_id"), "run_name": cfg.get("run_name"),
                "trainer": cfg.get("trainer"), "method": cfg.get("method", {}),
                "metrics": metrics or {}, "weights_digest": weights_digest(state["networks"])}
        (folder / META_FILE).write_text(json.dumps(meta, default=str))
    rng = {"generator": ctx.generator.get_state(), "torch": torch.get_rng_state()}
    torch.save(rng, folder / f"rng_rank{ctx.rank}.pt")


def read_state(folder: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint folder's `state.pt` (tensors on `device`). Loaders read it on the CPU:
    `load_state_dict` copies weights and optimiser state to their modules' devices, and an RNG
    state (NEMGAN's evaluation stream) must stay a CPU ByteTensor (read onto the GPU it made
    every NEMGAN restore fail there)."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder}: no {STATE_FILE} in it")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # corrupt or foreign file: say which
        raise CheckpointError(f"checkpoint {path}: cannot be read ({exc})") from exc


def load(
    method: GANMethod, ctx: RunContext, folder: Path, restore_rng: bool = True
) -> tuple[int, dict[str, float]]:
    """Load a checkpoint folder into `method`; returns its step and the metrics reported then."""
    state = read_state(folder)
    apply_state(method, state)
    rng_path = Path(folder) / f"rng_rank{ctx.rank}.pt"
    if restore_rng and rng_path.is_file():
        rng = torch.load(rng_path, weights_only=True)
        ctx.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
    return int(state["step"]), dict(state.get("metrics", {}))


def apply_state(method: GANMethod, state: dict[str, Any]) -> None:
    """Networks, optimisers, the method's own state and G's average from a read checkpoint."""
    for name, module in method.networks().items():
        module.load_state_dict(state["networks"][name])
    for name, opt in method.optimizers().items():
        if name in state.get("optimizers", {}):  # a sampling-only copy has none
            opt.load_state_dict(state["optimizers"][name])
    method.load_extra_state(state.get("extra", {}))
    if method.g_average is not None:
        # A snapshot without an average (g_ema was off when it was written): start it from G.
        saved = state.get("g_average")
        method.g_average.load_state_dict(saved if saved is not None else method.g.state_dict())


def read_meta(folder: str | Path) -> dict[str, Any] | None:
    """The checkpoint's meta.json, or None for a folder without one."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path}: not valid JSON ({exc})") from exc


def weights_digest(networks: dict[str, dict[str, torch.Tensor]]) -> str:
    """SHA-256 over every network tensor in name order: equal digests mean equal weights."""
    h = hashlib.sha256()
    for net in sorted(networks):
        for key in sorted(networks[net]):
            t = networks[net][key].detach().cpu().contiguous()
            h.update(f"{net}.{key}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def module_digest(modules: dict[str, torch.nn.Module]) -> str:
    return weights_digest({k: m.state_dict() for k, m in modules.items()})


def location(ckpt: Any) -> str:
    """Where a Ray checkpoint lives: a local/NFS path as is, else `<filesystem>://<path>`."""
    kind = ckpt.filesystem.type_name
    return ckpt.path if kind == "local" else f"{kind}://{ckpt.path}"


def local_folder(location: str) -> Path:
    """A checkpoint folder on this node: a local/NFS path as is (read in place), a URI
    (s3://...) downloaded into a folder of this caller's own. Not Ray's shared temporary
    folder: a node's second worker that asks after the first's download has finished
    downloads into it again, over the files the first one is reading."""
    if "://" not in location:
        return Path(location)
    import ray.train

    return Path(ray.train.Checkpoint(location).to_directory(
        tempfile.mkdtemp(prefix="checkpoint-")))
