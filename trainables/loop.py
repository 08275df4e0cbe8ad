"""The generic training loop: the same code for 1 or N workers, under Ray Train or called directly.

It seeds everything, builds the data and the method, restores a checkpoint (the run's own, or a
PBT donor's), trains to the step budget, evaluates every `eval_every` steps, checkpoints every
`checkpoint_every` steps and reports through a `Reporter`. A non-finite loss ends the run with
`NonFiniteLossError`, whose message is what MLflow records as the failure reason.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from trainables import checkpoint
from trainables.core import streams
from trainables.core.context import RunContext
from trainables.core.method import GANMethod, decay_lr
from trainables.data import load_dataset
from trainables.registry import get_method
from trainables.scoring.evaluate import evaluate


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite."""


class LoopConfig(BaseModel):
    """Everything one run needs; the study layer builds it from the spec and the trial config."""

    model_config = ConfigDict(extra="forbid")

    trainer: str
    method: dict[str, Any] = Field(default_factory=dict)
    dataset: dict[str, Any]
    data_root: str | None = None
    seed: int = 0
    steps: int = Field(ge=1)
    time_s: float | None = None
    eval_every: int = Field(500, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    eval_samples: int = Field(2500, ge=1)
    eval_features: str = "auto"
    eval_split: Literal["train", "test"] = Field(
        "train", description="the real reference of image metrics: the training or test split")
    artifact_dir: str | None = None
    stage_dir: str | None = Field(None, description="the study's cached stages (partitions)")
    resume_from: str | None = Field(None, description="checkpoint folder to start from (PBT)")
    trial_id: str | None = Field(None, description="the Tune trial (written into checkpoints)")
    run_name: str | None = Field(None, description="the Train run (written into checkpoints)")
    threads: int = Field(1, ge=1)


class Reporter(Protocol):
    def restore_dir(self) -> Path | None: ...

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None: ...


@dataclass
class LocalReporter:
    """Reporter for direct calls (benchmarks, tests): keeps metrics, writes checkpoints to disk."""

    checkpoint_root: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: Path | None = None

    def restore_dir(self) -> Path | None:
        return self.last_checkpoint

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.history.append(dict(metrics))
        if checkpoint_dir is not None and self.checkpoint_root is not None:
            import shutil

            dest = self.checkpoint_root / f"checkpoint_{metrics['step']:07d}"
            shutil.copytree(checkpoint_dir, dest, dirs_exist_ok=True)
            self.last_checkpoint = dest


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def evaluation_rng(ctx: RunContext, step: int) -> Iterator[None]:
    """Evaluation draws from streams seeded by (seed, step) and leaves every training stream
    as it found it, so a run's trajectory does not depend on how often it is evaluated (it
    did: drawing 50k eval latents from the training generator changed every later batch)."""
    saved = (ctx.generator.get_state(), torch.get_rng_state(), np.random.get_state(),
             random.getstate())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    eval_seed = streams.stream_seed(ctx.seed, "eval", step)
    ctx.generator.manual_seed(eval_seed)
    torch.manual_seed(eval_seed)
    try:
        yield
    finally:
        ctx.generator.set_state(saved[0])
        torch.set_rng_state(saved[1])
        np.random.set_state(saved[2])
        random.setstate(saved[3])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _device(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        return torch.device("cuda", local % torch.cuda.device_count())
    return torch.device("cpu")


def train_loop(
    config: dict[str, Any], reporter: Reporter, rank: int = 0, world_size: int = 1
) -> dict[str, float]:
    cfg = LoopConfig.model_validate(config)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    method_cls = get_method(cfg.trainer)
    method_cfg = method_cls.Config.model_validate(cfg.method)
    data = load_dataset(cfg.dataset["name"], root=cfg.data_root, **cfg.dataset.get("options", {}))
    artifacts = Path(cfg.artifact_dir) if cfg.artifact_dir and rank == 0 else None
    ctx = RunContext(_device(rank), cfg.seed, rank, world_size, artifacts,
                     stage_dir=Path(cfg.stage_dir) if cfg.stage_dir else None,
                     eval_features=cfg.eval_features, eval_split=cfg.eval_split)
    method = method_cls(method_cfg, data, ctx)
    if rank == 0 and data.info.get("kind") == "image":
        # A missing classifier or Inception weights fail now, not at the first evaluation.
        from trainables.data.registry import split_of
        from trainables.scoring.images import build_extractor, resolve_features

        build_extractor(resolve_features(data, cfg.eval_features), data, ctx.device,
                        cfg.eval_features)
        split_of(data, cfg.eval_split)  # a missing test split fails now too

    # What the run trained on, by content: the study logs it as the run's MLflow data input.
    start, last, first_extra = 0, {}, {"dataset_fingerprint": data.fingerprint}
    own = reporter.restore_dir()
    if own is not None:  # the run's own snapshot: exact resume, RNG included
        start, last = checkpoint.load(method, ctx, own)
    elif cfg.resume_from:  # a PBT donor: its weights, our mutated hyperparameters
        donor = checkpoint.local_folder(cfg.resume_from)
        start, last = checkpoint.load(method, ctx, donor, restore_rng=False)
        method.apply_hparams(method_cfg)
        # Proof of the copy: the digest of what this run holds right after loading.
        first_extra |= {"loaded_digest": checkpoint.module_digest(method.networks())}
    for module in method.networks().values():
        ctx.broadcast_module(module)
    if start >= cfg.steps:
        # Finished before an interruption (or cloned from a finished donor): say the final
        # result again, with this run's own optimiser rates, and train no further.
        reporter.report(last | live_rates(method) | first_extra, None)
        return last

    window = LossWindow(cfg.trainer)
    t0, t_start = time.perf_counter(), time.monotonic()
    step = start
    while step < cfg.steps:
        if method_cfg.lr_decay_from < 1:
            decay_lr(method.optimizers().values(), step, cfg.steps, method_cfg.lr_decay_from)
        losses = method.train_step(step)
        method.update_average()
        step += 1
        window.add(step, losses)
        # Every report carries the evaluation metrics (schedulers need them at each report);
        # checkpoints fall on a subset of report steps.
        if not (step % cfg.eval_every == 0 or step == cfg.steps):
            continue
        do_ckpt = step % cfg.checkpoint_every == 0 or step == cfg.steps
        # Checked only at report steps, which every rank reaches together, then agreed on.
        stop = ctx.all_agree(cfg.time_s is not None and time.monotonic() - t_start > cfg.time_s)
        do_ckpt = do_ckpt or stop
        metrics: dict[str, Any] = {"step": step, **window.means()}
        metrics["step_time_s"] = (time.perf_counter() - t0) / window.count
        metrics |= live_rates(method) | first_extra
        first_extra = {}
        if rank == 0:
            with evaluation_rng(ctx, step):
                metrics |= evaluate(method, data, cfg.eval_samples, step, artifacts,
                                    features=cfg.eval_features, split=cfg.eval_split)
        last = {k: float(v) for k, v in metrics.items() if not isinstance(v, str)}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) if do_ckpt else None
            if folder is not None:
                checkpoint.save(method, ctx, step, folder, cfg.model_dump(), last)
            reporter.report(metrics, folder)
        window, t0 = LossWindow(cfg.trainer), time.perf_counter()
        if stop:
            break
    return last


class LossWindow:
    """The losses of the steps since the last report, kept on the device: reading one back
    every step (`float(loss)`) stalls a GPU step on the host. They are read in one transfer per
    report; a NaN or inf among them raises `NonFiniteLossError` naming the first bad step and
    loss. Means are over every step of the window (a loss a step did not report counts 0)."""

    def __init__(self, trainer: str) -> None:
        self.trainer = trainer
        self.values: list[torch.Tensor] = []
        self.where: list[tuple[int, str]] = []  # (step, name) of each value
        self.count = 0

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            self.values.append(torch.as_tensor(value).detach().reshape(()).float())
            self.where.append((step, name))
        self.count += 1

    def means(self) -> dict[str, float]:
        if not self.values:
            return {}
        device = self.values[-1].device
        flat = torch.stack([v.to(device) for v in self.values]).double().cpu().tolist()
        sums: dict[str, float] = {}
        for (step, name), v in zip(self.where, flat, strict=True):
            if not math.isfinite(v):
                raise NonFiniteLossError(f"{name} is {v} at step {step} (trainer {self.trainer})")
            sums[name] = sums.get(name, 0.0) + v
        return {k: v / self.count for k, v in sums.items()}


def live_rates(method: GANMethod) -> dict[str, float]:
    """The optimisers' current learning rates: what PBT's mutations actually changed."""
    return {f"lr_now.{name.removeprefix('opt_')}": float(opt.param_groups[0]["lr"])
            for name, opt in method.optimizers().items()}


class RayTrainReporter:
    """Reports through `ray.train.report`; every rank calls it (it is a barrier)."""

    def restore_dir(self) -> Path | None:
        import ray.train

        ckpt = ray.train.get_checkpoint()
        return checkpoint.local_folder(checkpoint.location(ckpt)) if ckpt is not None else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train

        ckpt = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        # Where rank 0 ran: shows how trials spread over a cluster (and where a retry went).
        metrics = metrics | {"node_id": ray.get_runtime_context().get_node_id()}
        ray.train.report(metrics, checkpoint=ckpt)


def ray_train_worker(config: dict[str, Any]) -> None:
    """`train_loop_per_worker` for Ray Train's TorchTrainer."""
    import ray.train

    ctx = ray.train.get_context()
    train_loop(config, RayTrainReporter(), ctx.get_world_rank(), ctx.get_world_size())
