"""Unconditional GAN baseline (the "GAN" rows of the Self-Cond and PGMGAN tables).

The authors' toy setup: z 2-d, G 4×FC(400)+BN+ReLU, D 3 maxout layers, Adam 1e-4 β=(0.8, 0.999),
batch 100, non-saturating loss.
"""

from __future__ import annotations

import torch

from trainables.core.losses import g_loss
from trainables.core.method import AdversarialConfig, AdversarialMethod
from trainables.networks.select import build_pair


class BaselineConfig(AdversarialConfig):
    pass


class BaselineGAN(AdversarialMethod):
    Config = BaselineConfig

    def __init__(self, cfg, data, ctx) -> None:
        super().__init__(cfg, data, ctx)
        g, d = build_pair(cfg.network, data, cfg.latent_dim, **cfg.network_options)
        self.g, self.d = g.to(ctx.device), d.to(ctx.device)
        self.start_average()
        self.opt_g = self.adam(self.g, cfg.lr_g)
        self.opt_d = self.adam(self.d, cfg.lr_d)

    def networks(self):
        return {"g": self.g, "d": self.d}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        n = self.ctx.local_batch(self.cfg.batch_size)
        for _ in range(self.cfg.d_steps):
            with torch.no_grad():
                fake = self.g(self.latent(n))
            loss_d = self.d_update(self.real_batch(n), fake)
        loss_g = g_loss(self.cfg.loss, self.d(self.g(self.latent(n))))
        self.step(self.opt_g, self.g, loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def g_inputs(self, n: int) -> tuple[torch.Tensor, None]:
        return self.latent(n), None

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        with self.sampling_g() as g:
            return g(self.latent(n))
