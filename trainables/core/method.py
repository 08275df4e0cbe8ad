"""What a method provides to the generic loop (mimicry's idea: each model owns its train step).

The loop (`trainables.loop`) owns seeding, data-parallel gradient sync, checkpoints, evaluation
cadence and reporting; a method owns its networks, optimisers, one training step and sampling.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainables.core.context import RunContext
from trainables.core.g_average import GeneratorAverage
from trainables.core.losses import d_loss, r1_penalty
from trainables.core.settings import nest_dotted
from trainables.data import DataBundle


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Sampling uses BN running statistics; training resumes in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class MethodConfig(BaseModel):
    """Settings every GAN method shares; methods subclass it and add their own."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(100, ge=1, description="global batch, split across workers")
    latent_dim: int = Field(2, ge=1)
    lr_g: float = Field(1e-4, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    beta1: float = Field(0.8, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    d_steps: int = Field(1, ge=1, description="discriminator steps per generator step")
    loss: Literal["standard", "hinge"] = "standard"
    g_ema: float = Field(
        0.0, ge=0, lt=1, description="decay of a moving average of G's weights that sampling "
        "and evaluation use instead of G (0: off, as in the papers; 0.999 averages about the "
        "last 1000 steps); its BN statistics are re-estimated before it samples",
    )
    lr_decay_from: float = Field(
        1.0, gt=0, le=1, description="fraction of the run's steps after which every "
        "optimiser's learning rate falls linearly to 0 at the last step (1: constant, as in the "
        "papers); it damps the late G/D oscillation that a constant rate keeps up",
    )
    g_ema_bn_batches: int = Field(
        100, ge=1, description="batches (of batch_size) that estimate the average's BN statistics"
    )
    network: str = Field("auto", description="G/D pair: auto or a name in networks.select")
    network_options: dict[str, Any] = Field(
        default_factory=dict, description="keyword options of the network builder (e.g. widths "
        "g_ch/d_ch; dcgan: variant, cond)",
    )

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        return nest_dotted(data) if isinstance(data, dict) else data

    @field_validator("network")
    @classmethod
    def _known_network(cls, v: str) -> str:
        from trainables.networks.select import NETWORKS

        if v != "auto" and v not in NETWORKS:
            raise ValueError(f"expected 'auto' or one of {sorted(NETWORKS)}, got {v!r}")
        return v


class AdversarialConfig(MethodConfig):
    """Settings of the methods whose D steps go through `AdversarialMethod.d_update`."""

    r1_gamma: float = Field(
        0.0, ge=0, description="R1 penalty weight γ: D loss + γ/2·E‖∇ₓD(x_real)‖² (Mescheder et "
        "al. 2018; the Self-Cond image configs use it, its 2D code does not: 0 = off). It damps "
        "the G/D oscillation around the data; D's input scale matters (2D modes of std 0.01 "
        "give gradients of order 100, so γ well below 1)",
    )


class GANMethod(ABC):
    """A GAN method: networks + optimisers + one train step + sampling."""

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    # Settings that population training may change mid-run; `apply_hparams` re-applies them.
    mutable: ClassVar[tuple[str, ...]] = ("lr_g", "lr_d", "d_steps")

    def __init__(self, cfg: MethodConfig, data: DataBundle, ctx: RunContext) -> None:
        self.cfg = cfg
        self.data = data
        self.ctx = ctx
        self.g_average: GeneratorAverage | None = None

    def start_average(self) -> None:
        """Subclasses call this once `self.g` exists: the average starts from G's weights."""
        if self.cfg.g_ema > 0:
            self.g_average = GeneratorAverage(self.g, self.cfg.g_ema, self.cfg.g_ema_bn_batches,
                                              self.cfg.batch_size)

    def update_average(self) -> None:
        """After each training step (the loop calls it on every rank)."""
        if self.g_average is not None:
            self.g_average.update(self.g)

    def g_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z, conditions) as sampling draws them: what the average's BN statistics see."""
        raise NotImplementedError(f"{type(self).__name__} has no g_inputs: g_ema needs it")

    @contextmanager
    def sampling_g(self) -> Iterator[torch.nn.Module]:
        """The G that samples: the moving average when `g_ema` > 0, else G; in eval mode."""
        if self.g_average is not None:
            yield self.g_average.ready(self.g_inputs)
            return
        with eval_mode(self.g) as g:
            yield g

    @abstractmethod
    def networks(self) -> dict[str, torch.nn.Module]:
        """Every module whose weights are checkpointed and kept in sync across workers."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        """One generator iteration (with its discriminator steps); returns detached losses."""

    @abstractmethod
    def sample(self, n: int) -> torch.Tensor:
        """n samples in data space (evaluation draws them on rank 0, without gradients)."""

    def evaluate(self, step: int) -> dict[str, float]:
        """Method-specific metrics added to the common ones (e.g. clustering NMI)."""
        return {}

    def sample_by_condition(
        self, n_per_row: int, max_rows: int = 10
    ) -> tuple[torch.Tensor, list[str]] | None:
        """Samples grouped by partition / cluster / latent mode, shape (rows, n_per_row, ...),
        and a label per row: the per-partition rows of the papers' Figure 1. None when the
        method has no conditions (evaluation then draws no per-condition figure)."""
        return None

    def extra_state(self) -> dict[str, Any]:
        """State beyond networks and optimisers (e.g. cluster assignments) for checkpoints."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        return None

    def apply_hparams(self, cfg: MethodConfig) -> None:
        """Adopt new hyperparameters mid-run (after a PBT exploit): learning rates included."""
        self.cfg = cfg
        for name, opt in self.optimizers().items():
            lr = getattr(cfg, f"lr_{name[-1]}", None) if name in ("opt_g", "opt_d") else None
            if lr is not None:
                set_lr(opt, lr)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """A new rate for every group (a PBT exploit's): also the base that `decay_lr` scales."""
    for group in opt.param_groups:
        group["lr"] = group["base_lr"] = lr


def decay_lr(optimizers: Iterable[torch.optim.Optimizer], step: int, steps: int,
             decay_from: float) -> None:
    """Linear decay to 0 at `steps` from step `decay_from`·steps on (`lr_decay_from`): each
    group's rate is its `base_lr` (its rate when first scaled, kept in the optimiser's state, so a
    resumed run continues the same schedule) times the remaining fraction."""
    start = decay_from * steps
    if step < start:
        return
    factor = (steps - step) / max(steps - start, 1.0)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group.setdefault("base_lr", group["lr"]) * factor


def adam(
    params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float]
) -> torch.optim.Adam:
    """PyTorch's fused Adam: one pass over all tensors instead of a dozen kernels per tensor
    (CPU and CUDA). Its rounding differs from the per-tensor loop, so runs are reproducible
    from this commit on, not bit-equal to runs of earlier commits."""
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def backward_to(loss: torch.Tensor, *optimizers: torch.optim.Optimizer) -> None:
    """Backward into the parameters the given optimisers update, and only into them: a G step
    then skips D's weight gradients (computed, accumulated, and cleared unused otherwise)."""
    params = [p for opt in optimizers for group in opt.param_groups for p in group["params"]
              if p.requires_grad]
    loss.backward(inputs=params)


def has_batch_norm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


def d_logits(
    d: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None = None,
    fn: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor:
    """D's logits on real then fake. One call on both when D holds no batch norm; one call each
    when it does, so that a fake batch is normalised on its own statistics in the D step exactly
    as in G's step (on a mixed batch D can tell the two apart by the batch statistics alone, and
    G's fake-only batch then fools it: both losses fall to zero and G learns nothing). `fn`
    (default: D itself) is what is called, e.g. a head on D's features; c is passed only when
    given."""
    f = fn or d

    def call(x: torch.Tensor, cc: torch.Tensor | None) -> torch.Tensor:
        return f(x) if cc is None else f(x, cc)

    if not has_batch_norm(d):
        return call(torch.cat([real, fake]), None if c is None else torch.cat([c, c]))
    return torch.cat([call(real, c), call(fake, c)])


class AdversarialMethod(GANMethod):
    """Shared plumbing for the G/D methods: real batches, latents, optimiser steps."""

    # d_update reads r1_gamma at every step, so PBT may move it mid-run.
    mutable = (*GANMethod.mutable, "r1_gamma")

    def device_x(self) -> torch.Tensor:
        """The training images on the run's device, copied once (the CPU tensor itself on the
        CPU): a GPU step then gathers its batch there instead of copying it from the host."""
        x = self.data.x
        cached = getattr(self, "_device_x", None)
        if cached is None or cached[0] is not x:  # x replaced (a resized or cut data set)
            cached = (x, x.to(self.ctx.device))
            self._device_x = cached
        return cached[1]

    def real_batch(self, n: int) -> torch.Tensor:
        return self.real_batch_with_index(n)[0]

    def real_batch_with_index(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Indices still come from the run's CPU generator: the batches equal the CPU run's.
        idx = torch.randint(len(self.data.x), (n,), generator=self.ctx.generator)
        x = self.device_x()
        return x[idx.to(x.device, non_blocking=True)], idx

    def latent(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.cfg.latent_dim, generator=self.ctx.generator)
        return z.to(self.ctx.device)

    def d_step(self, real: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """One D update on `real` and as many fakes from G (with the same conditions c).
        Returns the loss."""
        with torch.no_grad():
            fake = self.g(self.latent(len(real)), c)
        return self.d_update(real, fake, c)

    def d_update(
        self, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One D update on real and fake, with the R1 penalty on the real half when `r1_gamma`
        > 0. Returns the loss."""
        n, gamma = len(real), getattr(self.cfg, "r1_gamma", 0.0)
        if gamma > 0:
            real = real.detach().requires_grad_(True)
        logits = d_logits(self.d, real, fake, c)
        loss_d = d_loss(self.cfg.loss, logits[:n], logits[n:])
        if gamma > 0:
            loss_d = loss_d + gamma / 2 * r1_penalty(logits[:n], real)
        self.step(self.opt_d, self.d, loss_d)
        return loss_d

    def adam(self, module: torch.nn.Module, lr: float) -> torch.optim.Adam:
        return adam(module.parameters(), lr, (self.cfg.beta1, self.cfg.beta2))

    def step(self, opt: torch.optim.Optimizer, module: torch.nn.Module, loss: torch.Tensor) -> None:
        """zero_grad → backward → average gradients over workers → optimiser step."""
        opt.zero_grad(set_to_none=True)
        backward_to(loss, opt)
        self.ctx.sync_grads(module)
        opt.step()
