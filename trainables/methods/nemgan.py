"""NEMGAN (Mishra, Jayendran, Prathosh: "Effect of the latent structure on clustering with GANs";
papers/latent_structure_clustering_nemgan.txt): a multimodal latent with learnable mode priors,
an inverter h trained with G, and prior learning from sparse labels.

- Latent (C1): z = one-hot(y) + ν, ν ~ U[-w, w]^d, y ~ softmax(α) through the reparameterised
  uniform (`trainables.methods.nemgan_prior`). `priors`: `uniform`, `data` (the data set's class
  frequencies, the paper's "matched" priors), a list (given), or `learned`.
- Inverter (C2): h(x) → (ẑ, mode logits); G and h minimise `inverter_weight` ×
  (cross-entropy(h_y(G(z)), y) + `inverter_z_weight` × ‖h_z(G(z)) − z‖²) (Eq. 4 uses
  cross-entropy for the KL term; the code adds the z regression with weight 10). Update order
  (`inverter_update`): `separate`, the default, as the authors' code (`nemganp_fmnist_5.py`:
  the D step, the adversarial G step, then the "autoencoder" model's step on G + h with its own
  Adam(1e-4), Keras' β 0.9/0.999, on the same latents); `joint` sums the adversarial and
  inverter losses into one G step (Eq. 3 literally), under which the inverter's CE and MSE
  gradients on G were measured to cancel (cosine −0.98) and G trained as if h were absent.
  Base GAN: WGAN-GP (λ = 10) as the paper and the code; `loss: standard` / `hinge` as options.
  Defaults follow the code: batch 64, d = 50, w = 0.3, Adam 1e-4 β = (0.5, 0.9), 1 D step.
- Prior learning (`priors: learned`): a labelled set W_s, `labelled_fraction` of the training set
  (1 %) drawn with the run's seed. From `labelled_start`, every `h_retrain_every` steps h takes
  `h_retrain_steps` cross-entropy steps on W_s (class-balanced batches, about as many steps as
  the code); from `prior_start`, every `prior_every` steps α takes `alpha_steps` Adam steps on
  ‖mean h(x) − P_Y(α)‖₁ over unlabelled real points (Eq. 5). G always samples from the current α.
- Ablations, named as the paper's conditions: `conditions` lists those satisfied (default all).
  Without C1 the latent is unimodal (z = ν) and h predicts z only (ALI/BiGAN-like); without C2 h
  is still trained on G's samples, but as a detached probe that never reaches G (so clustering
  can be measured); without C3 the priors are uniform whatever `priors` says. Table I's rows are
  [] (WGAN), [C1] (DeliGAN-like), [C2] (BiGAN-like) and [C1, C2, C3]; Table IV adds [C1, C2].

Evaluation (rank 0), two protocols, each named. Ours: h's cluster assignments on the TEST
split (argmax of the mode logits; k-means on ẑ with K clusters when the latent is unimodal)
against the true classes: `acc` (Hungarian) beside `acc_majority` (the ACC of one cluster for
all: the largest class's share), `nmi`, `ari`; `eval_on_test` is 0 when no test split could be
loaded (then the training data is used). With a multimodal latent also `prior_0..K-1`
(softmax(α)), `prior_l1` (L1 to the training set's class frequencies), `mode_consistency`
(fraction of G(e_y + ν) that h assigns to y) and `fake_prior_l1` (L1 between the histogram of
h's assignments of generated samples and the true priors). The authors' (`code_*`): the same
test points balanced by oversampling each class to the largest's count (one cluster then scores
`code_purity_floor` = 1/classes, 0.2 on MNIST-5), k-means on ẑ, purity / NMI / ARI. FID is the
loop's business.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator
from torch import nn
from torch.nn import functional as F

from trainables.core import streams
from trainables.core.losses import d_loss, g_loss, gradient_penalty
from trainables.core.method import (
    AdversarialMethod,
    MethodConfig,
    adam,
    backward_to,
    d_logits,
    eval_mode,
    set_lr,
)
from trainables.data import DataBundle, DatasetError
from trainables.methods import nemgan_prior as npr
from trainables.networks.nemgan_conv import build_inverter
from trainables.networks.select import build_pair, is_vector_data

Condition = Literal["C1", "C2", "C3"]
ALL_CONDITIONS: tuple[Condition, ...] = ("C1", "C2", "C3")


class NEMGANConfig(MethodConfig):
    batch_size: int = Field(64, ge=1, description="global batch, split across workers")
    latent_dim: int = Field(50, ge=1, description="d; the one-hot sits in the last K coordinates")
    lr_g: float = Field(1e-4, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    lr_h: float = Field(1e-4, gt=0, description="inverter learning rate")
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.9, ge=0, lt=1)
    d_steps: int = Field(1, ge=1)
    loss: Literal["wgan", "standard", "hinge"] = "wgan"
    gp_weight: float = Field(10.0, ge=0, description="WGAN-GP λ (loss: wgan only)")
    net_width: float = Field(1.0, gt=0, description="channel/unit multiplier of nemgan_conv and h")
    n_modes: int | None = Field(None, ge=2, description="K; default: the data set's classes")
    nu_half_width: float = Field(0.3, description="ν ~ U[-w, w]^d; modes disjoint iff w < 1/2")
    priors: Literal["uniform", "data", "learned"] | list[float] = "data"
    conditions: list[Condition] = Field(
        default_factory=lambda: list(ALL_CONDITIONS),
        description="paper conditions kept: C1 multimodal latent, C2 inverter, C3 matched priors",
    )
    inverter_update: Literal["separate", "joint"] = Field(
        "separate", description="separate (the authors' code, default): after G's adversarial "
        "step, G and h take a step of their own on h's loss with their own Adam (lr_inverter, "
        "beta 0.9/0.999, Keras' defaults in the code); joint: one G step on adversarial + h's "
        "loss (Eq. 3 read literally), whose inverter gradients were measured to cancel out",
    )
    lr_inverter: float = Field(1e-4, gt=0, description="the separate inverter step's Adam lr")
    inverter_weight: float = Field(1.0, ge=0, description="weight of h's loss in G's objective")
    inverter_z_weight: float = Field(10.0, ge=0, description="weight of ‖ẑ − z‖² in h's loss")
    step_temperature: float = Field(0.01, gt=0, description="width of the σ_h surrogate")
    # Prior learning (priors: learned). The code: W_s of 500 points; h retrained 2 steps every
    # 10 steps and 100 every 100 (≈ 118 per 100 steps; here 12 every 10); α (Adam 1e-3) every
    # step after 10k steps, KL loss. The paper: 1 % labelled, L1 loss.
    labelled_fraction: float = Field(0.01, gt=0, le=1)
    labelled_balanced: bool = Field(True, description="class-balanced W_s batches (the code)")
    labelled_start: int = Field(100, ge=0)
    h_retrain_every: int = Field(10, ge=1)
    h_retrain_steps: int = Field(12, ge=0)
    prior_start: int = Field(10_000, ge=0)
    prior_every: int = Field(1, ge=1)
    alpha_steps: int = Field(1, ge=1)
    alpha_lr: float = Field(1e-3, gt=0)
    prior_batch: int = Field(256, ge=1, description="unlabelled points per α step")
    prior_loss: Literal["l1", "kl"] = "l1"
    prior_estimate: Literal["sampler", "softmax"] = Field(
        "sampler", description="P_Y(α): mean of the sampler's one-hots (gradient through the "
        "reparameterisation, as the code) or softmax(α) (Eq. 5)",
    )
    sampler_draws: int = Field(1024, ge=1, description="stratified ν₁ draws for P_Y(α)")
    eval_test_samples: int = Field(10_000, ge=10, description="test points clustered")
    eval_fake_samples: int = Field(2000, ge=10, description="G samples for mode_consistency")

    @field_validator("nu_half_width")
    @classmethod
    def _disjoint_modes(cls, v: float) -> float:
        npr.check_half_width(v)
        return v

    @field_validator("priors")
    @classmethod
    def _positive_priors(cls, v: Any) -> Any:
        if isinstance(v, list) and (len(v) < 2 or any(p <= 0 for p in v)):
            raise ValueError(f"expected >= 2 positive mode priors, got {v}")
        return v

    @field_validator("conditions")
    @classmethod
    def _unique(cls, v: list[Condition]) -> list[Condition]:
        if len(set(v)) != len(v):
            raise ValueError(f"each condition at most once, got {v}")
        return sorted(v)

    @model_validator(mode="after")
    def _consistent(self) -> NEMGANConfig:
        if "C3" in self.conditions and "C1" not in self.conditions:
            raise ValueError(
                "conditions: C3 (matched priors) needs C1 (a multimodal latent whose mode "
                f"masses are the priors); got {self.conditions}"
            )
        if self.priors == "learned" and "C3" not in self.conditions:
            raise ValueError(
                "priors: 'learned' needs C3 in conditions (without C3 the priors are uniform)"
            )
        return self


class LatentPrior(nn.Module):
    """α, the logits of the mode priors; a parameter only when learned."""

    def __init__(self, priors: torch.Tensor, learned: bool) -> None:
        super().__init__()
        self.alpha = nn.Parameter(npr.alpha_from_priors(priors), requires_grad=learned)

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.alpha, dim=0)


def held_out_split(data: DataBundle) -> DataBundle | None:
    """The test split of the data set `data` was loaded from (through `load_dataset`), or None
    when it has no test split (or was built by hand)."""
    from trainables.data.registry import split_of

    args = data.info.get("load_args")
    if not args or args["split"] != "train":
        return None
    try:
        return split_of(data, "test")
    except DatasetError:
        return None


class NEMGAN(AdversarialMethod):
    Config = NEMGANConfig
    mutable = ("lr_g", "lr_d", "lr_h", "lr_inverter", "alpha_lr", "d_steps", "inverter_weight")

    def __init__(self, cfg: NEMGANConfig, data: DataBundle, ctx) -> None:
        super().__init__(cfg, data, ctx)
        self.k = self._n_modes(cfg, data)
        self.multimodal = "C1" in cfg.conditions
        self.joint_inverter = "C2" in cfg.conditions
        self.learned = cfg.priors == "learned"
        if self.multimodal:
            npr.check_latent_dim(cfg.latent_dim, self.k)
        network = cfg.network
        if network == "auto":
            network = "toy_mlp" if is_vector_data(data) else "nemgan_conv"
        opts = {"width": cfg.net_width} if network == "nemgan_conv" else {}
        g, d = build_pair(network, data, cfg.latent_dim, **opts | cfg.network_options)
        self.g, self.d = g.to(ctx.device), d.to(ctx.device)
        self.start_average()
        self.h = build_inverter(data, cfg.latent_dim, self.k, cfg.net_width).to(ctx.device)
        self.prior = LatentPrior(self._initial_priors(cfg, data), self.learned).to(ctx.device)
        self.opt_g = self.adam(self.g, cfg.lr_g)
        self.opt_d = self.adam(self.d, cfg.lr_d)
        self.opt_h = self.adam(self.h, cfg.lr_h)
        # The code's autoencoder model: G (less α) and h under one Adam of their own.
        self.opt_inv = (
            adam([*self.g.parameters(), *self.h.parameters()], cfg.lr_inverter, (0.9, 0.999))
            if self.joint_inverter and cfg.inverter_update == "separate" else None
        )
        self.g_and_h = nn.ModuleList([self.g, self.h])  # what that step syncs across workers
        self.opt_alpha = (
            adam([self.prior.alpha], cfg.alpha_lr, (0.9, 0.999))
            if self.learned else None
        )
        self.labelled = self.unlabelled = None
        if self.learned:
            self._split_labelled(cfg, data)
        # Evaluation draws from its own stream so it never shifts the training latents.
        self.eval_gen = streams.generator(ctx.seed, "method_eval")
        self._test: DataBundle | None = None
        self._test_loaded = False

    # ---- setup -----------------------------------------------------------------------------

    @staticmethod
    def _n_modes(cfg: NEMGANConfig, data: DataBundle) -> int:
        if cfg.n_modes is not None:
            return cfg.n_modes
        if isinstance(cfg.priors, list):
            return len(cfg.priors)
        k = data.info.get("n_classes") or data.info.get("n_modes")
        if k is None and data.y is not None:
            k = int(data.y.max()) + 1
        if k is None:
            raise ValueError(f"n_modes: data set {data.name} has no classes; set n_modes (K)")
        return int(k)

    def _initial_priors(self, cfg: NEMGANConfig, data: DataBundle) -> torch.Tensor:
        uniform = torch.full((self.k,), 1.0 / self.k)
        if "C3" not in cfg.conditions or cfg.priors in ("uniform", "learned"):
            return uniform  # learned priors start uniform, as the paper's Table III runs
        if isinstance(cfg.priors, list):
            p = torch.tensor(cfg.priors, dtype=torch.float32)
            if len(p) != self.k:
                raise ValueError(f"priors: expected {self.k} values (n_modes), got {cfg.priors}")
            return p / p.sum()
        true = data.info.get("priors")
        if true is None or len(true) != self.k:
            raise ValueError(
                f"priors: 'data' needs the data set's {self.k} class frequencies "
                f"(info['priors']); {data.name} has {true}: give the priors as a list"
            )
        return torch.as_tensor(np.asarray(true, dtype=np.float64), dtype=torch.float32)

    def _split_labelled(self, cfg: NEMGANConfig, data: DataBundle) -> None:
        if data.y is None:
            raise ValueError(f"priors: 'learned' needs labels for W_s; {data.name} has none")
        y = data.y.long().cpu()
        if int(y.min()) < 0 or int(y.max()) >= self.k:
            raise ValueError(f"n_modes: labels of {data.name} exceed K={self.k} modes")
        idx = npr.labelled_subset(len(y), cfg.labelled_fraction, self.ctx.seed, minimum=self.k)
        mask = torch.ones(len(y), dtype=torch.bool)
        mask[idx] = False
        self.labelled, self.unlabelled = idx, torch.nonzero(mask).flatten()
        if len(self.unlabelled) == 0:
            self.unlabelled = idx  # everything labelled: E_x[h] over the same points
        self.labelled_y = y[idx]
        self.labelled_by_class = [idx[self.labelled_y == c] for c in range(self.k)]

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.g, "d": self.d, "h": self.h, "prior": self.prior}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"opt_g": self.opt_g, "opt_d": self.opt_d, "opt_h": self.opt_h}
        if self.opt_alpha is not None:
            opts["opt_alpha"] = self.opt_alpha
        if self.opt_inv is not None:
            opts["opt_inv"] = self.opt_inv
        return opts

    def apply_hparams(self, cfg: NEMGANConfig) -> None:
        self.cfg = cfg
        pairs = [(self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d), (self.opt_h, cfg.lr_h),
                 (self.opt_alpha, cfg.alpha_lr), (self.opt_inv, cfg.lr_inverter)]
        for opt, lr in pairs:
            if opt is not None:
                set_lr(opt, lr)

    # ---- latents ---------------------------------------------------------------------------

    def priors(self) -> torch.Tensor:
        return self.prior.probs().detach()

    def draw_latent(
        self, n: int, generator: torch.Generator, modes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z, y); y None for the unimodal latent. `modes` fixes y (per-mode sampling). α is
        detached: G's losses never move the priors (the code freezes α outside its own step)."""
        cfg = self.cfg
        nu = npr.box_noise(n, cfg.latent_dim, cfg.nu_half_width, generator)
        if not self.multimodal:
            return nu.to(self.ctx.device), None
        if modes is None:
            onehot, y = npr.sample_modes(self.prior.alpha.detach().cpu(), n, generator)
        else:
            y = modes.cpu()
            onehot = F.one_hot(y, self.k).float()
        return npr.multimodal_latent(onehot, nu).to(self.ctx.device), y.to(self.ctx.device)

    # ---- training --------------------------------------------------------------------------

    def inverter_loss(
        self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropy of h's mode logits to y, ‖ẑ − z‖²): h's loss on generated samples."""
        z_hat, logits = self.h(x)
        mse = F.mse_loss(z_hat, z)
        ce = F.cross_entropy(logits, y) if y is not None else torch.zeros_like(mse)
        return ce, mse

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(real)
        out = d_logits(self.d, real, fake)
        if self.cfg.loss != "wgan":
            return d_loss(self.cfg.loss, out[:n], out[n:]), torch.zeros(())
        gp = gradient_penalty(self.d, real, fake, self.ctx.generator)
        return d_loss("wgan", out[:n], out[n:]) + self.cfg.gp_weight * gp, gp

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg, gen = self.cfg, self.ctx.generator
        n = self.ctx.local_batch(cfg.batch_size)
        for _ in range(cfg.d_steps):
            real = self.real_batch(n)
            with torch.no_grad():
                fake = self.g(self.draw_latent(n, gen)[0])
            loss_d, gp = self._d_loss(real, fake)
            self.step(self.opt_d, self.d, loss_d)
        z, y = self.draw_latent(n, gen)
        fake = self.g(z)
        adv = g_loss(cfg.loss, self.d(fake))
        if self.opt_inv is not None:  # C2, the code's order: adversarial step, then h's loss
            loss_g = adv
            self.step(self.opt_g, self.g, adv)
            ce, mse = self.inverter_loss(self.g(z), z, y)  # G's new weights, the same latents
            loss_inv = cfg.inverter_weight * (ce + cfg.inverter_z_weight * mse)
            self.step(self.opt_inv, self.g_and_h, loss_inv)
        elif self.joint_inverter:  # C2, Eq. 3 read literally: one step on the sum
            ce, mse = self.inverter_loss(fake, z, y)
            loss_g = adv + cfg.inverter_weight * (ce + cfg.inverter_z_weight * mse)
            self.opt_g.zero_grad(set_to_none=True)
            self.opt_h.zero_grad(set_to_none=True)
            backward_to(loss_g, self.opt_g, self.opt_h)
            self.ctx.sync_grads(self.g)
            self.ctx.sync_grads(self.h)
            self.opt_g.step()
            self.opt_h.step()
        else:  # no C2: G sees only D; h is a probe on G's detached samples
            loss_g = adv
            self.step(self.opt_g, self.g, loss_g)
            ce, mse = self.inverter_loss(fake.detach(), z, y)
            self.step(self.opt_h, self.h, ce + cfg.inverter_z_weight * mse)
        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gp": gp.detach(),
               "inverter_ce": ce.detach(), "inverter_mse": mse.detach()}
        if self.learned:
            out |= self.learn_priors(step)
        return out

    # ---- prior learning (Sec. III.B.2) -----------------------------------------------------

    def labelled_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = self.ctx.generator
        if not self.cfg.labelled_balanced:
            pick = self.labelled[torch.randint(len(self.labelled), (n,), generator=gen)]
        else:  # a class uniformly among those present, then one of its labelled points
            groups = [g for g in self.labelled_by_class if len(g)]
            sizes = torch.tensor([len(g) for g in groups])
            starts = torch.cumsum(sizes, 0) - sizes
            cls = torch.randint(len(groups), (n,), generator=gen)
            member = (torch.rand(n, generator=gen) * sizes[cls]).long()
            pick = torch.cat(groups)[starts[cls] + member]
        dev = self.ctx.device
        return self.data.x[pick].to(dev), self.data.y[pick].long().to(dev)

    def retrain_inverter(self) -> torch.Tensor:
        """One cross-entropy step of h on W_s (L_cc of Eq. 5)."""
        x, y = self.labelled_batch(self.ctx.local_batch(self.cfg.batch_size))
        loss = F.cross_entropy(self.h(x)[1], y)
        self.step(self.opt_h, self.h, loss)
        return loss.detach()

    def prior_estimate(self) -> torch.Tensor:
        """P_Y(α) with its gradient to α: the sampler's mean one-hot, or softmax(α)."""
        if self.cfg.prior_estimate == "softmax":
            return self.prior.probs()
        f, _ = npr.sample_modes(self.prior.alpha, self.cfg.sampler_draws, self.ctx.generator,
                                self.cfg.step_temperature, stratified=True)
        return f.mean(dim=0)

    @torch.no_grad()
    def posterior_mean(self, n: int) -> torch.Tensor:
        """E_x[h(x)] over n unlabelled real points."""
        pick = self.unlabelled[torch.randint(len(self.unlabelled), (n,),
                                             generator=self.ctx.generator)]
        with eval_mode(self.h):
            logits = self.h(self.data.x[pick].to(self.ctx.device))[1]
        return torch.softmax(logits, dim=1).mean(dim=0)

    def alpha_step(self) -> torch.Tensor:
        cfg = self.cfg
        q = self.posterior_mean(self.ctx.local_batch(cfg.prior_batch))
        loss = npr.prior_matching_loss(q, self.prior_estimate(), cfg.prior_loss)
        self.step(self.opt_alpha, self.prior, loss)
        return loss.detach()

    def learn_priors(self, step: int) -> dict[str, torch.Tensor]:
        """The prior-learning schedule at `step`: h on W_s, then α (Eq. 5)."""
        cfg, out = self.cfg, {}
        if step >= cfg.labelled_start and step % cfg.h_retrain_every == 0:
            for _ in range(cfg.h_retrain_steps):
                out["labelled_ce"] = self.retrain_inverter()
        if step >= cfg.prior_start and step % cfg.prior_every == 0:
            for _ in range(cfg.alpha_steps):
                out["prior_loss"] = self.alpha_step()
        return out

    # ---- sampling --------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, z: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
        with self.sampling_g() as g:
            return torch.cat([g(z[s : s + chunk]) for s in range(0, len(z), chunk)])

    def g_inputs(self, n: int) -> tuple[torch.Tensor, None]:
        return self.draw_latent(n, self.eval_gen)[0], None

    def sample(self, n: int) -> torch.Tensor:
        return self.generate(self.draw_latent(n, self.eval_gen)[0])

    def sample_by_condition(
        self, n_per_row: int, max_rows: int = 10
    ) -> tuple[torch.Tensor, list[str]] | None:
        """A row per latent mode: G(e_i + ν)."""
        if not self.multimodal:
            return None
        rows = min(self.k, max_rows)
        p = self.priors().cpu()
        modes = torch.arange(rows).repeat_interleave(n_per_row)
        x = self.generate(self.draw_latent(len(modes), self.eval_gen, modes)[0])
        labels = [f"mode {i} (prior {float(p[i]):.3f})" for i in range(rows)]
        return x.view(rows, n_per_row, *x.shape[1:]), labels

    # ---- evaluation ------------------------------------------------------------------------

    @torch.no_grad()
    def invert(self, x: torch.Tensor, chunk: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """(ẑ, mode logits) of h for x, in eval mode (no dropout), on the CPU."""
        outs = []
        with eval_mode(self.h):
            for s in range(0, len(x), chunk):
                z, logits = self.h(x[s : s + chunk].to(self.ctx.device))
                outs.append((z.cpu(), logits.cpu()))
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def assign(self, z_hat: torch.Tensor, logits: torch.Tensor) -> np.ndarray:
        """h's cluster of each inverted point (`invert`): argmax of the mode logits, or k-means
        on ẑ (unimodal)."""
        if self.multimodal:
            return logits.argmax(dim=1).numpy()
        from sklearn.cluster import KMeans

        seed = streams.stream_seed(self.ctx.seed, "cluster_eval", bits=32)
        km = KMeans(self.k, n_init=10, random_state=seed)
        return km.fit_predict(z_hat.double().numpy())

    def eval_data(self) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """(x, y, is_test): at most `eval_test_samples` points of the test split (a fixed subset)
        or, without one, of the training data."""
        if not self._test_loaded:
            self._test, self._test_loaded = held_out_split(self.data), True
        data = self._test if self._test is not None else self.data
        n = min(self.cfg.eval_test_samples, len(data.x))
        idx = torch.randperm(len(data.x), generator=streams.generator(0, "eval_subset"))[:n]
        y = data.y[idx] if data.y is not None else None
        return data.x[idx], y, self._test is not None

    def code_protocol(self, z_hat: torch.Tensor, true: np.ndarray) -> dict[str, float]:
        """The authors' evaluation (`calc_metrics` in nemganp_fmnist_5.py): the test points
        balanced by oversampling, k-means (max(K, classes) clusters, random_state 0) on h's ẑ,
        then purity, NMI and ARI; `code_purity_floor` is one cluster's purity (1/classes)."""
        from sklearn.cluster import KMeans

        from evaluation.clustering import ari, balanced_indices, nmi, purity

        idx = balanced_indices(true, seed=0)  # h in eval mode: a repeated point, the same ẑ
        z = z_hat[torch.from_numpy(idx)].double().numpy()
        classes = len(np.unique(true))
        labels = KMeans(max(self.k, classes), n_init=10, random_state=0).fit_predict(z)
        t = true[idx]
        return {"code_purity": purity(t, labels), "code_nmi": nmi(t, labels),
                "code_ari": ari(t, labels), "code_purity_floor": 1.0 / classes}

    def evaluate(self, step: int) -> dict[str, float]:
        from evaluation.clustering import ari, cluster_acc, majority_acc, nmi

        x, y, is_test = self.eval_data()
        out: dict[str, float] = {"eval_on_test": float(is_test)}
        if y is not None:
            z_hat, logits = self.invert(x)
            pred, true = self.assign(z_hat, logits), y.numpy()
            out |= {"acc": cluster_acc(true, pred), "acc_majority": majority_acc(true),
                    "nmi": nmi(true, pred), "ari": ari(true, pred)}
            out |= self.code_protocol(z_hat, true)
        if not self.multimodal:
            return out
        p = self.priors().cpu().double().numpy()
        out |= {f"prior_{i}": float(v) for i, v in enumerate(p)}
        true_p = self.data.info.get("priors")
        n = self.cfg.eval_fake_samples
        z, modes = self.draw_latent(n, self.eval_gen)
        fake_modes = self.invert(self.generate(z))[1].argmax(dim=1)
        out["mode_consistency"] = float((fake_modes == modes.cpu()).float().mean())
        if true_p is not None and len(true_p) == self.k:
            true_p = np.asarray(true_p, dtype=np.float64)
            hist = np.bincount(fake_modes.numpy(), minlength=self.k) / n
            out["prior_l1"] = float(np.abs(p - true_p).sum())
            out["fake_prior_l1"] = float(np.abs(hist - true_p).sum())
        return out

    # ---- state -----------------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        # α is a parameter of `prior` (in networks()); only the evaluation stream is extra.
        return {"eval_gen": self.eval_gen.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "eval_gen" in state:
            self.eval_gen.set_state(state["eval_gen"].cpu())  # a CPU generator's state
