"""Per-worker run context: device, rank, seeded generators and data-parallel gradient sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from trainables.core.streams import stream_seed


@dataclass
class RunContext:
    device: torch.device
    seed: int
    rank: int = 0
    world_size: int = 1
    artifact_dir: Path | None = None
    # The study's folder for cached stages (PGMGAN's partitions), shared by its trials.
    stage_dir: Path | None = None
    # The run's FID/PR/DC feature extractor (LoopConfig.eval_features): methods that compute
    # image metrics themselves (simplicial's τ sweep) use the same one.
    eval_features: str = "auto"
    eval_split: str = "train"  # the real reference's split (LoopConfig.eval_split)
    # A checkpoint's state follows at once (trainables.restore): stages it holds are not built.
    restoring: bool = False
    # Draws data indices and latents on this rank; its state is checkpointed for exact resume.
    generator: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(stream_seed(self.seed, "train", self.rank))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()

    def local_batch(self, batch_size: int) -> int:
        return max(1, batch_size // self.world_size)

    def sync_grads(self, module: torch.nn.Module) -> None:
        """Average gradients over workers (what DDP does in its backward hooks).

        Done explicitly rather than through DistributedDataParallel because a GAN step calls D
        several times before one backward and WGAN-GP takes a double backward, neither of which
        DDP's hooks support.
        """
        if not self.distributed:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Make every rank hold rank 0's parameters and buffers (start, resume, BN stats)."""
        if not self.distributed:
            return
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)

    def all_agree(self, flag: bool) -> bool:
        """True on every rank if it is true on any rank (used to stop together)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)
