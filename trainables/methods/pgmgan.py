"""PGMGAN (Armandpour et al., CVPR 2021): partition-guided mixture of generators.

1. A space partitioner S splits the data into k partitions (`pgmgan_partitioner`, a cached stage
   computed before training; its labels are fixed for the run).
2. A mixture of generators G_i sharing every weight but the partition embedding: for the toy MLP
   that is ToyGenerator(n_classes=k), whose one-hot input feeds the first FC layer, i.e. a learned
   per-partition embedding. The discriminator is a projection discriminator on the toy D's last
   hidden layer h: D(x, i) = linear(h) + Embed(i)·h (the paper's Tables 6–7 head).
3. G loss = adversarial + λ(t)·mean R_i(G_i(z)) (Eq. 8), R_i the guide on the frozen S's logits
   (`trainables.methods.pgmgan_guide`), λ annealed (paper: linear 6.0 → 1e-4).
4. Real batches carry their point's partition; G's partitions are drawn in proportion to their
   sizes; 4 D steps per G step, Adam β = (0, 0.999), hinge loss (the authors' code).
5. Sampling returns only samples with R_i = 0 (argmax S = i): rejected draws are redrawn until
   every slot is accepted, failing past `max_draw_factor`·n draws; the fraction of draws
   accepted is reported as `acceptance_rate`.

Ablations (paper Sec. 5): `partition.labels: random` (a fixed random partition: no partitioner,
so no guide and no rejection) and λ = 0 (`lambda_start = lambda_end = 0`: Partition+GAN).

Images: the partitioner stage learns a SimCLR representation first (`pgmgan_simclr`) and S is the
bi-Lipschitz residual MLP on it (`pgmgan_partitioner.ImagePartitioner`); G and D are
a registered pair built with n_classes = k (`sngan_resnet`: the paper's Tables 6–7, conditional
BN in G; `dcgan` with `network_options: {cond: bn}` for Stacked MNIST), D wrapped as the
projection discriminator. The stage is cached in the study storage (`stages/` in the study
folder) unless `partition.cache` or $STUDY_PARTITION_CACHE name another folder.

Distributed: rank 0 computes (or loads) the partition and broadcasts labels, partitioner weights
and facts to the other ranks, so every rank trains on the same partition and only rank 0 needs
the cache folder. The partitioner is frozen: neither optimised nor gradient-synced. The other
ranks wait inside that broadcast, i.e. within the process group's timeout (Ray Train's 30 min by
default): a long SimCLR stage is best computed by a 1-worker run first, which caches it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from pydantic import Field, model_validator
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from trainables.core import streams
from trainables.core.losses import g_loss
from trainables.core.method import AdversarialConfig, AdversarialMethod, eval_mode
from trainables.methods.pgmgan_guide import guide, in_partition, lam
from trainables.methods.pgmgan_partitioner import (
    PartitionSettings,
    build_for,
    partition_for,
    resolve_cache_dir,
)
from trainables.methods.pgmgan_simclr import SimCLRSettings
from trainables.networks.select import build_pair

# The study driver puts each trial's artifacts in <study folder>/artifacts/<trial id>; the
# partition stage then goes to <study folder>/stages (see trainables.methods.pgmgan_partitioner).


# What the image partition stage measured (pgmgan_partitioner): reported with every evaluation.
STAGE_FACTS = ("neighbour_agreement", "nmi_subset", "agreement_untrained", "nmi_untrained",
               "agreement_pixels", "nmi_pixels", "nmi_random", "simclr_loss_last")


class SamplingError(RuntimeError):
    """Rejection sampling spent its draw budget before every sample was accepted."""

    # A default, so that Ray can rebuild the error from its message when it crosses processes.
    def __init__(self, message: str, acceptance: float = float("nan")) -> None:
        super().__init__(message)
        self.acceptance = acceptance


class PGMGANConfig(AdversarialConfig):
    k: int = Field(50, ge=1, description="number of partitions (generators)")
    # Paper App. C: 4 D steps per G step, Adam β = (0, 0.999); the code trains with the hinge
    # loss. The paper's "constant learning rate 2" reads as SN-GAN's 2e-4.
    d_steps: int = Field(4, ge=1)
    beta1: float = Field(0.0, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    loss: Literal["standard", "hinge"] = "hinge"
    g_loss: Literal["standard", "hinge", "bce_target2"] | None = Field(
        None, description="G's adversarial loss when it differs from D's `loss` (None: the "
        "same). bce_target2: the authors' 2D script, softplus(−D) − D (see losses.g_loss)",
    )
    lambda_schedule: Literal["constant", "linear", "cosine", "exponential"] = "linear"
    lambda_start: float = Field(6.0, ge=0)
    lambda_end: float = Field(1e-4, ge=0)
    # The code's λ = max(1e-4, 6 − 1.2e-4·t) reaches its floor after 50k G steps.
    lambda_length: int = Field(50_000, ge=1, description="G steps from start to end")
    guide_reduce: Literal["sum", "mean"] = Field(
        "mean", description="the guide's margins over the k partitions: mean (the authors' "
        "code, scan_selflabel_guide.py, default) or sum (Eq. 6 and 8 read literally: k times "
        "the weight, under which G collapsed in every Stacked MNIST run at k = 100)")
    rejection: bool = True
    max_draw_factor: float = Field(
        200.0, ge=1, description="sampling with rejection draws at most this many times the "
        "samples asked for, then fails naming the acceptance rate")
    sample_chunk: int = Field(500, ge=1, description="samples per G / S call when sampling")
    # The partitioner stage and, for images, its SimCLR representation (paper App. C: 500 epochs,
    # SGD 0.4 cosine, momentum 0.9, weight decay 3e-5, batch 400): `partition.<name>`,
    # `simclr.<name>` in specs and search spaces.
    partition: PartitionSettings = Field(default_factory=PartitionSettings)
    simclr: SimCLRSettings = Field(default_factory=SimCLRSettings)

    @model_validator(mode="after")
    def _check_schedule(self) -> PGMGANConfig:
        if self.lambda_schedule == "exponential" and self.lambda_start != self.lambda_end:
            if min(self.lambda_start, self.lambda_end) <= 0:
                raise ValueError("lambda_schedule exponential needs lambda_start, lambda_end > 0")
        return self


class ProjectionDiscriminator(nn.Module):
    """D(x, i) = linear(h) + Embed(i)·h on a feature extractor's h (Miyato & Koyama 2018); the
    embedding is spectrally normalised when the base head is (the SN-GAN nets)."""

    def __init__(self, base: nn.Module, k: int) -> None:
        super().__init__()
        if not hasattr(base, "features") or not hasattr(base, "head"):
            raise ValueError("projection discriminator: the base D needs features() and head")
        self.base = base
        embed = nn.Embedding(k, base.head.in_features)
        nn.init.normal_(embed.weight, std=0.02)
        self.embed = spectral_norm(embed) if parametrize.is_parametrized(base.head) else embed

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.features(x)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.base.features(x)
        return self.base.head(h)[:, 0] + (self.embed(c) * h).sum(dim=1)


class PGMGAN(AdversarialMethod):
    Config = PGMGANConfig
    # λ(t) is read from the config at every step, so PBT may move its schedule mid-run.
    mutable = (*AdversarialMethod.mutable, "lambda_schedule", "lambda_start", "lambda_end",
               "lambda_length")

    def __init__(self, cfg: PGMGANConfig, data, ctx) -> None:
        super().__init__(cfg, data, ctx)
        self.k = cfg.k
        if self.k > len(data.x):
            raise ValueError(f"k={self.k} partitions but only {len(data.x)} points in {data.name}")
        g, d = build_pair(cfg.network, data, cfg.latent_dim, n_classes=self.k, d_out=1,
                          **cfg.network_options)
        self.g, self.d = g.to(ctx.device), ProjectionDiscriminator(d, self.k).to(ctx.device)
        self.start_average()
        self.opt_g = self.adam(self.g, cfg.lr_g)
        self.opt_d = self.adam(self.d, cfg.lr_d)
        self.vector_data = data.x.dim() == 2
        self.partitioner: nn.Module | None = None
        self.partition_info: dict[str, Any] = {}
        self.labels = self._make_partition()
        self.last_acceptance = float("nan")

    def networks(self):
        return {"g": self.g, "d": self.d}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # ---- partition -------------------------------------------------------------------------

    def cache_dir(self) -> Path:
        return resolve_cache_dir(self.cfg.partition.cache, self.ctx.stage_dir)

    def _make_partition(self) -> torch.Tensor:
        n = len(self.data.x)
        if self.cfg.partition.labels == "random":
            gen = streams.generator(self.ctx.seed, "random_partition")
            return torch.randint(self.k, (n,), generator=gen)
        if getattr(self.ctx, "restoring", False):  # labels and S come with the checkpoint
            self.partition_info = {"restored": True}
            return torch.zeros(n, dtype=torch.long)
        got: list[Any] = [None]
        if self.ctx.rank == 0:
            got[0] = partition_for(
                self.data, self.k, self.ctx.seed, self.cfg.partition, self.cache_dir(),
                None if self.vector_data else self.cfg.simclr,
                device=self.ctx.device,
            )
        if self.ctx.distributed:  # the other ranks wait here while rank 0 computes
            dist.broadcast_object_list(got, src=0)
        labels, state, info = got[0]
        self.partition_info = info
        self._set_partitioner(state)
        return labels.long().cpu()

    def _set_partitioner(self, state: dict[str, torch.Tensor]) -> None:
        simclr = None if self.vector_data else self.cfg.simclr
        net = build_for(self.data, self.k, self.cfg.partition.resolved(self.vector_data), simclr)
        net.load_state_dict(state)
        net.eval().requires_grad_(False)  # frozen: the guide only passes gradients to G
        self.partitioner = net.to(self.ctx.device)

    def sizes(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.k).float()

    def draw_partitions(self, n: int) -> torch.Tensor:
        """i ~ P_π: each partition with probability proportional to its size."""
        c = torch.multinomial(self.sizes(), n, replacement=True, generator=self.ctx.generator)
        return c.to(self.ctx.device)

    def lambda_at(self, step: int) -> float:
        c = self.cfg
        return lam(step, c.lambda_schedule, c.lambda_start, c.lambda_end, c.lambda_length)

    # ---- training --------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        n = self.ctx.local_batch(self.cfg.batch_size)
        for _ in range(self.cfg.d_steps):
            real, idx = self.real_batch_with_index(n)
            loss_d = self.d_step(real, self.labels[idx].to(self.ctx.device))
        c = self.draw_partitions(n)
        fake = self.g(self.latent(n), c)
        adv = g_loss(self.cfg.g_loss or self.cfg.loss, self.d(fake, c))
        weight = self.lambda_at(step)
        r = torch.zeros((), device=self.ctx.device)
        if self.partitioner is not None:
            r = guide(self.partitioner(fake), c, self.cfg.guide_reduce).mean()
        loss_g = adv + weight * r if weight != 0 else adv
        self.step(self.opt_g, self.g, loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": adv.detach(), "guide": r.detach(),
                "lambda": torch.tensor(weight)}

    def g_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latent(n), self.draw_partitions(n)

    def _draw(
        self, gen_g: torch.nn.Module, c: torch.Tensor, gen: torch.Generator, strict: bool
    ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """G_c(z) for the partitions c (one chunk), each kept only once argmax S equals its
        partition. Rejected slots keep their partition (so the mixture weights are unchanged)
        and are redrawn with fresh z, several candidates per slot and round, until every slot
        holds an accepted sample or `max_draw_factor`·len(c) draws are spent: then `strict`
        raises a `SamplingError` naming the acceptance rate, otherwise the last draws stay.
        Returns (x, accepted mask, drawn, accepted)."""
        def g(m: int, cc: torch.Tensor) -> torch.Tensor:
            z = torch.randn(m, self.cfg.latent_dim, generator=gen).to(self.ctx.device)
            return gen_g(z, cc)

        x = g(len(c), c)
        if self.partitioner is None or not self.cfg.rejection:
            return x, torch.ones(len(c), dtype=torch.bool, device=x.device), len(c), len(c)
        ok = in_partition(self.partitioner(x), c)
        drawn, accepted = len(c), int(ok.sum())
        budget = int(self.cfg.max_draw_factor * len(c))
        while not ok.all() and drawn < budget:
            todo = (~ok).nonzero()[:, 0]
            # Candidates per slot from the acceptance so far, so that rounds stay few.
            reps = int(1.0 / max(accepted / drawn, 1 / 64))  # 1 to 64
            reps = max(1, min(reps, (budget - drawn) // len(todo)))
            cc = c[todo].repeat_interleave(reps)
            x_new = g(len(cc), cc)
            ok_new = in_partition(self.partitioner(x_new), cc).view(len(todo), reps)
            hit = ok_new.any(dim=1)
            first = ok_new.float().argmax(dim=1)  # the first accepted candidate of each slot
            pick = torch.arange(len(todo), device=x.device) * reps + first
            x[todo[hit]] = x_new[pick[hit]]
            ok[todo[hit]] = True
            drawn, accepted = drawn + len(cc), accepted + int(ok_new.sum())
        if strict and not ok.all():
            raise SamplingError(
                f"PGMGAN rejection sampling: {int((~ok).sum())} of a chunk of {len(c)} "
                f"samples still rejected after {drawn} draws (max_draw_factor "
                f"{self.cfg.max_draw_factor}); acceptance rate {accepted / drawn:.4f}. G's "
                f"samples rarely fall in their partitions: train longer, raise "
                f"max_draw_factor or set rejection: false",
                accepted / drawn,
            )
        return x, ok, drawn, accepted

    def _sample_in(
        self, c: torch.Tensor, gen: torch.Generator, strict: bool = True
    ) -> tuple[torch.Tensor, float, float]:
        """Samples for the partitions c in chunks: (x, acceptance rate, fraction left rejected,
        which is 0 when `strict`)."""
        xs, oks, drawn, accepted = [], [], 0, 0
        with self.sampling_g() as g:
            for s in range(0, len(c), self.cfg.sample_chunk):
                x, ok, d, a = self._draw(g, c[s : s + self.cfg.sample_chunk], gen, strict)
                xs.append(x)
                oks.append(ok)
                drawn, accepted = drawn + d, accepted + a
        ok_all = torch.cat(oks)
        return torch.cat(xs), accepted / max(drawn, 1), float((~ok_all).float().mean())

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n samples, partitions drawn by size; with rejection every one is accepted (R_i = 0
        for its partition i): rejected draws are redrawn, see `_draw`."""
        c = self.draw_partitions(n)
        try:
            x, self.last_acceptance, _ = self._sample_in(c, self.ctx.generator)
        except SamplingError as exc:
            self.last_acceptance = exc.acceptance
            raise
        return x

    @torch.no_grad()
    def sample_by_condition(
        self, n_per_row: int, max_rows: int = 10
    ) -> tuple[torch.Tensor, list[str]] | None:
        """One row per partition, the largest first (the papers' Figure 1), with the same
        rejection as `sample`; a generator of its own, so every evaluation draws the same z and
        the training RNG and the reported acceptance rate are left alone."""
        sizes = self.sizes()
        order = sizes.argsort(descending=True, stable=True)[: min(max_rows, self.k)]
        order = order[sizes[order] > 0]
        if len(order) == 0:
            return None
        gen = streams.generator(self.ctx.seed, "figure")
        labels, rows = [], []
        for i in order.tolist():
            c = torch.full((n_per_row,), i, dtype=torch.long, device=self.ctx.device)
            # A figure shows the partition even where G rarely lands in it (labelled).
            x, rate, _ = self._sample_in(c, gen, strict=False)
            rows.append(x.detach().cpu())
            kept = "" if self.partitioner is None or not self.cfg.rejection else (
                f", accepted {rate:.0%}")
            labels.append(f"partition {i} (n={int(sizes[i])}{kept})")
        return torch.stack(rows), labels

    # ---- metrics and state -----------------------------------------------------------------

    def evaluate(self, step: int) -> dict[str, float]:
        sizes = self.sizes()
        out = {
            "acceptance_rate": self.last_acceptance,
            "lambda": self.lambda_at(step),
            "partitions_nonempty": float((sizes > 0).sum()),
            "partition_min_size": float(sizes.min()),
            "partition_max_size": float(sizes.max()),
        }
        if self.data.y is not None:
            from evaluation.clustering import nmi, purity

            y = self.data.y.cpu().numpy()
            out["nmi"] = nmi(y, self.labels.numpy())
            out["purity"] = purity(y, self.labels.numpy())
        for key in STAGE_FACTS:  # the image stage's facts
            if key in self.partition_info:
                out[key] = float(self.partition_info[key])
        if self.partitioner is not None:
            out |= self.guide_probe()
        return out

    @torch.no_grad()
    def guide_probe(self, n: int = 512) -> dict[str, float]:
        """Where G's samples sit for the partitioner, from a stream of their own: the share of
        G(z, i) inside partition i (chance: about 1/k) and the partitioner's logit spread (std
        over partitions, mean over samples) on them and on real points. The guide has a fixed
        point away from the data: images with flat logits lie in every partition at once, and
        a collapsing G drifts there (spread 0.04 against the real images' 6.7, measured)."""
        gen = streams.generator(self.ctx.seed, "guide_probe")
        c = torch.multinomial(self.sizes(), n, replacement=True, generator=gen)
        z = torch.randn(n, self.cfg.latent_dim, generator=gen)
        dev = self.ctx.device
        with eval_mode(self.g):
            x = self.g(z.to(dev), c.to(dev))
        logits = self.partitioner(x)
        real = self.partitioner(self.data.x[:n].to(dev))
        return {"partition_in_rate": float(in_partition(logits, c.to(dev)).float().mean()),
                "partition_logit_spread": float(logits.std(dim=1).mean()),
                "partition_logit_spread_real": float(real.std(dim=1).mean())}

    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"labels": self.labels.detach().cpu()}
        if self.partitioner is not None:
            state["partitioner"] = {
                name: t.detach().cpu() for name, t in self.partitioner.state_dict().items()
            }
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "labels" in state:
            self.labels = state["labels"].long().cpu()
        if "partitioner" in state:
            self._set_partitioner({k: v.cpu() for k, v in state["partitioner"].items()})
