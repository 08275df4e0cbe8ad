"""PGMGAN (Armandpour et al., CVPR 2021): partition-guided mixture of generators.

1. A space partitioner S splits the data into k partitions (`trainables.partitioner`, a cached
   stage computed before training; its labels are fixed for the run).
2. A mixture of generators G_i sharing every weight but the partition embedding: for the toy MLP
   that is ToyGenerator(n_classes=k), whose one-hot input feeds the first FC layer, i.e. a learned
   per-partition embedding. The discriminator is a projection discriminator on the toy D's last
   hidden layer h: D(x, i) = linear(h) + Embed(i)·h (the paper's Tables 6–7 head).
3. G loss = adversarial + λ(t)·mean R_i(G_i(z)) (Eq. 8), R_i the guide on the frozen S's logits
   (`trainables.guide`), λ annealed (paper: linear 6.0 → 1e-4).
4. Real batches carry their point's partition; G's partitions are drawn in proportion to their
   sizes; 4 D steps per G step, Adam β = (0, 0.999), hinge loss (the authors' code).
5. Sampling keeps only samples with R_i = 0 (argmax S = i), redrawing the rejected ones at most
   `max_redraws` times; the fraction accepted is reported as `acceptance_rate`.

Ablations (paper Sec. 5): `partition_labels: random` (a fixed random partition: no partitioner,
so no guide and no rejection) and λ = 0 (`lambda_start = lambda_end = 0`: Partition+GAN).

Distributed: rank 0 computes (or loads) the partition first and the others then hit the cache;
the labels are broadcast from rank 0 so every rank trains on the same partition. The partitioner
is frozen, so it is neither optimised nor gradient-synced.

Image data (SimCLR representation, SN-GAN ResNet G/D) is not built here: the partitioner stage
raises a clear error on non-vector data.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist
from pydantic import Field, model_validator
from torch import nn

from trainables.guide import guide, in_partition, lam
from trainables.losses import d_loss, g_loss
from trainables.method import AdversarialMethod, MethodConfig, eval_mode
from trainables.networks.select import build_pair
from trainables.partitioner import PartitionSettings, build_partitioner, partition_for


class PGMGANConfig(MethodConfig):
    k: int = Field(50, ge=1, description="number of partitions (generators)")
    # Paper App. C: 4 D steps per G step, Adam β = (0, 0.999); the code trains with the hinge
    # loss. The paper's "constant learning rate 2" reads as SN-GAN's 2e-4.
    d_steps: int = Field(4, ge=1)
    beta1: float = Field(0.0, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    loss: Literal["standard", "hinge"] = "hinge"
    lambda_schedule: Literal["constant", "linear", "cosine", "exponential"] = "linear"
    lambda_start: float = Field(6.0, ge=0)
    lambda_end: float = Field(1e-4, ge=0)
    # The code's λ = max(1e-4, 6 − 1.2e-4·t) reaches its floor after 50k G steps.
    lambda_length: int = Field(50_000, ge=1, description="G steps from start to end")
    guide_reduce: Literal["sum", "mean"] = "sum"
    partition_labels: Literal["learned", "random"] = "learned"
    rejection: bool = True
    max_redraws: int = Field(20, ge=0, description="redraws of rejected samples at most")
    # The partitioner stage (see trainables.partitioner.PartitionSettings).
    partition_loss: Literal["paper", "scan"] = "paper"
    # k-means (imitated by the Lipschitz MLP) is what the authors did for 2D data; Eq. 5 trained
    # from scratch collapsed to 2 of 25 partitions on the grid here (NMI 0.35), β being its only
    # force against one big partition. `scratch` keeps the paper's loss-only route.
    partition_init: Literal["scratch", "kmeans"] = "kmeans"
    partition_alpha: float = Field(5.0, ge=0)
    partition_beta: float = Field(1e-3, ge=0)
    partition_neighbours: int = Field(20, ge=1)
    partition_subset: int = Field(10_000, ge=1)
    partition_steps: int = Field(2000, ge=0)
    partition_kmeans_restarts: int = Field(100, ge=1)
    partition_blocks: int = Field(4, ge=1)
    partition_hidden: int = Field(64, ge=1)
    partition_coeff: float = Field(0.9, gt=0, lt=1)
    partition_cache: str | None = Field(
        None, description="cache folder; else $STUDY_PARTITION_CACHE, else ~/.cache/..."
    )

    @model_validator(mode="after")
    def _check_schedule(self) -> PGMGANConfig:
        if self.lambda_schedule == "exponential" and self.lambda_start != self.lambda_end:
            if min(self.lambda_start, self.lambda_end) <= 0:
                raise ValueError("lambda_schedule exponential needs lambda_start, lambda_end > 0")
        return self

    def partition_settings(self) -> PartitionSettings:
        return PartitionSettings(
            loss=self.partition_loss, init=self.partition_init, alpha=self.partition_alpha,
            beta=self.partition_beta, neighbours=self.partition_neighbours,
            subset=self.partition_subset, steps=self.partition_steps,
            kmeans_restarts=self.partition_kmeans_restarts, blocks=self.partition_blocks,
            hidden=self.partition_hidden, coeff=self.partition_coeff,
        )


class ProjectionDiscriminator(nn.Module):
    """D(x, i) = linear(h) + Embed(i)·h on a feature extractor's h (Miyato & Koyama 2018)."""

    def __init__(self, base: nn.Module, k: int) -> None:
        super().__init__()
        if not hasattr(base, "features") or not hasattr(base, "head"):
            raise ValueError("projection discriminator: the base D needs features() and head")
        self.base = base
        self.embed = nn.Embedding(k, base.head.in_features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.features(x)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.base.features(x)
        return self.base.head(h)[:, 0] + (self.embed(c) * h).sum(dim=1)


class PGMGAN(AdversarialMethod):
    Config = PGMGANConfig

    def __init__(self, cfg: PGMGANConfig, data, ctx) -> None:
        super().__init__(cfg, data, ctx)
        self.k = cfg.k
        if self.k > len(data.x):
            raise ValueError(f"k={self.k} partitions but only {len(data.x)} points in {data.name}")
        g, d = build_pair(cfg.network, data, cfg.latent_dim, n_classes=self.k, d_out=1)
        self.g, self.d = g.to(ctx.device), ProjectionDiscriminator(d, self.k).to(ctx.device)
        self.opt_g = self.adam(self.g, cfg.lr_g)
        self.opt_d = self.adam(self.d, cfg.lr_d)
        self.partitioner: nn.Module | None = None
        self.partition_info: dict[str, Any] = {}
        self.labels = self._make_partition()
        self.last_acceptance = float("nan")
        self.last_unfilled = 0.0

    def networks(self):
        return {"g": self.g, "d": self.d}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # ---- partition -------------------------------------------------------------------------

    def _make_partition(self) -> torch.Tensor:
        n = len(self.data.x)
        if self.cfg.partition_labels == "random":
            gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + 11)
            return torch.randint(self.k, (n,), generator=gen)
        settings = self.cfg.partition_settings()
        if self.ctx.distributed and self.ctx.rank != 0:
            dist.barrier()  # rank 0 computes and caches first; this rank then loads it
        labels, state, info = partition_for(
            self.data, self.k, self.ctx.seed, settings, self.cfg.partition_cache
        )
        if self.ctx.distributed and self.ctx.rank == 0:
            dist.barrier()
        self.partition_info = info
        self._set_partitioner(state)
        labels = labels.long()
        if self.ctx.distributed:  # identical anyway when cached; made certain
            labels = labels.to(self.ctx.device)
            dist.broadcast(labels, src=0)
        return labels.cpu()

    def _set_partitioner(self, state: dict[str, torch.Tensor]) -> None:
        net = build_partitioner(self.data.x.shape[1], self.k, self.cfg.partition_settings())
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
            c = self.labels[idx].to(self.ctx.device)
            with torch.no_grad():
                fake = self.g(self.latent(n), c)
            logits = self.d(torch.cat([real, fake]), torch.cat([c, c]))
            loss_d = d_loss(self.cfg.loss, logits[:n], logits[n:])
            self.step(self.opt_d, self.d, loss_d)
        c = self.draw_partitions(n)
        fake = self.g(self.latent(n), c)
        adv = g_loss(self.cfg.loss, self.d(fake, c))
        weight = self.lambda_at(step)
        r = torch.zeros((), device=self.ctx.device)
        if self.partitioner is not None:
            r = guide(self.partitioner(fake), c, self.cfg.guide_reduce).mean()
        loss_g = adv + weight * r if weight != 0 else adv
        self.step(self.opt_g, self.g, loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": adv.detach(), "guide": r.detach(),
                "lambda": torch.tensor(weight)}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n samples; with rejection each is kept only if argmax S equals its partition."""
        with eval_mode(self.g):
            c = self.draw_partitions(n)
            x = self.g(self.latent(n), c)
            if self.partitioner is None or not self.cfg.rejection:
                self.last_acceptance, self.last_unfilled = 1.0, 0.0
                return x
            ok = in_partition(self.partitioner(x), c)
            drawn, accepted = n, int(ok.sum())
            for _ in range(self.cfg.max_redraws):
                todo = (~ok).nonzero()[:, 0]
                if len(todo) == 0:
                    break
                # Redraw z for the rejected slots, keeping their partitions (and so the mixture
                # weights) unchanged.
                x_new = self.g(self.latent(len(todo)), c[todo])
                ok_new = in_partition(self.partitioner(x_new), c[todo])
                x[todo[ok_new]] = x_new[ok_new]
                ok[todo[ok_new]] = True
                drawn, accepted = drawn + len(todo), accepted + int(ok_new.sum())
            # Past the redraw budget the last rejected draws stay: n samples are always returned.
            self.last_acceptance = accepted / drawn
            self.last_unfilled = float((~ok).float().mean())
            return x

    # ---- metrics and state -----------------------------------------------------------------

    def evaluate(self, step: int) -> dict[str, float]:
        sizes = self.sizes()
        out = {
            "acceptance_rate": self.last_acceptance,
            "rejected_kept": self.last_unfilled,
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
        return out

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
