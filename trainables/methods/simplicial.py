"""Simplicial-cluster truncation GAN (Issenhuth et al., ICML 2023; latent_geometry_simplicial).

WGAN-GP (λ_GP = 10, `d_steps` critic steps per G step, Adam lr_G 5e-5, lr_D 1e-4) whose latents
come from one of the samplers of `trainables.methods.simplicial_samplers`:

- `simplicial`: z ~ N(0, I) kept when max_i p_i(z) > τ_train during training and > τ_infer at
  sampling (N anchors √d·e_j). `acceptance_rule`: `code` (default, the authors' TransGAN code
  and §3.3: p = softmax(√d·cos(z, e_i))) or `paper` (App. B.3: softmax(−‖z − u_i‖)). At
  N = 10, τ = 0.135 keeps every draw under both (max p_i ≥ 1/N = 0.1 and typical p_max ≥ 0.17):
  a τ that truncates at N = 10, d = 64 is about 0.3 (code: 49 %) to 0.5 (code: 7 %).
  Optional mutual-information head on D: D outputs 1 + N logits
  (critic, then q(i | x) on a shared body) and both players add `mi_weight` × the cross-entropy of
  the anchor index i(z) = argmax_i p_i(z) of fake samples, for the first `mi_steps` steps only
  (the paper: first 20 epochs; it harms the end of training if kept).
- `gaussian` (the baseline), `deligan` (learned mixture of Gaussians, trained with G), `jbt`
  (trained on Gaussian latents, sampled with Jacobian-based truncation at `jbt_percentile`).

Evaluation (rank 0) adds to the loop's metrics, for `simplicial` at every τ of `tau_infer_sweep`
without retraining (the paper's Figure 8 curve, logged as `precision_tau0.14`, ...; one shared
candidate stream) and for the other samplers once:
- vector data: precision/recall/density/coverage on the raw points against fresh draws of the
  mixture (k = `prdc_k`); the τ_infer values also unsuffixed (the loop has no PR/DC for vectors);
- images: the loop's own image metrics (`trainables.scoring.images.image_metrics`: FID, PR/DC,
  IS, modes) in the same feature space (`eval_features`; auto = the data set's reference
  classifier, as the paper does for MNIST) against the same cached real reference; unsuffixed
  values are the loop's, of `sample` at τ_infer.
Also the acceptance rates, and the latent diagnostics `logreg_acc` / `convex_acc`, where the
class of G(z) is the nearest mode centre (mixtures) or the reference classifier's label (images).
Networks: the toy MLPs (vector data), the paper's MNIST conv pair (`wgan_conv_mnist`, Table 4)
and ResNet 32×32 pair (`wgan_resnet32`, Table 5); `network_options` goes to the builder.
The authors released no code for the mixture-of-Gaussians experiment (Figure 9): its protocol
here (MLPs, budgets) is ours. D scores real and fake in one batch only when it has no batch norm.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from torch.nn import functional as F

from trainables.core import streams
from trainables.core.losses import d_loss, gradient_penalty
from trainables.core.method import (
    AdversarialMethod,
    MethodConfig,
    adam,
    backward_to,
    d_logits,
    eval_mode,
)
from trainables.methods import simplicial_samplers as ls
from trainables.networks.select import build_pair
from trainables.scoring.images import RealReference

if TYPE_CHECKING:
    from evaluation.features import Extractor

Tau = Annotated[float, Field(gt=0, lt=1)]


class SimplicialConfig(MethodConfig):
    # Paper App. B: batch 256, WGAN-GP 10, 2 D steps, Adam lr_G 5e-5 lr_D 1e-4 β = (0, 0.999)
    # (ResNet table); N = 10, d = 64, τ = 0.135. The toy MLPs keep d = 64 so τ means the same.
    batch_size: int = Field(256, ge=1, description="global batch, split across workers")
    latent_dim: int = Field(64, ge=1)
    lr_g: float = Field(5e-5, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    beta1: float = Field(0.0, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    d_steps: int = Field(2, ge=1, description="critic steps per generator step")
    loss: Literal["wgan"] = "wgan"
    gp_weight: float = Field(10.0, ge=0, description="WGAN-GP gradient penalty λ")
    sampler: Literal["simplicial", "gaussian", "deligan", "jbt"] = "simplicial"
    n_anchors: int = Field(10, ge=2, description="N simplicial anchors (needs N <= latent_dim)")
    acceptance_rule: Literal["code", "paper"] = Field(
        "code", description="p_i(z) of the acceptance test: code (the authors' TransGAN code, "
        "default) softmax(√d·cos(z, e_i)); paper (App. B.3) softmax(−‖z − u_i‖), under which "
        "τ = 0.135 at N = 10, d = 64 keeps 99.9 % of draws")
    tau_train: float = Field(0.135, gt=0, lt=1, description="acceptance threshold in training")
    tau_infer: float = Field(0.135, gt=0, lt=1, description="acceptance threshold at sampling")
    tau_infer_sweep: list[Tau] = Field(
        default_factory=lambda: [0.135, 0.14, 0.1445, 0.15, 0.2],
        description="τ_infer values evaluated without retraining (Figure 8 curve)",
    )
    max_draws_per_sample: int = Field(
        10_000, ge=1, description="redraw bound: acceptance below 1/this is an error"
    )
    mi_weight: float = Field(1.0, ge=0, description="weight of the anchor-index cross-entropy")
    mi_epochs: float = Field(20.0, ge=0, description="MI head on for this many epochs")
    mi_steps: int | None = Field(None, ge=0, description="overrides mi_epochs when set")
    deligan_components: int = Field(10, ge=1)
    deligan_sigma_weight: float = Field(0.01, ge=0, description="DeliGAN Σ(1 − σ)² weight")
    jbt_percentile: float = Field(90.0, gt=0, le=100, description="JBT keeps this % of latents")
    jbt_dirs: int = Field(8, ge=1, description="random directions for the Jacobian norm")
    eval_prdc_samples: int = Field(2000, ge=10, description="real and fake points for PRDC")
    prdc_k: int = Field(5, ge=1, description="PR/DC k for vector data (images: the loop's k)")
    eval_latent_samples: int = Field(2000, ge=20, description="latents for logreg/convex acc")
    convex_pairs: int = Field(200, ge=1)
    eval_features: str = Field(
        "auto", description="images: extractor of the τ sweep's FID/PR/DC: auto (the run's "
        "eval_features when the context carries it, else the data set's reference classifier), "
        "raw, inception, classifier:<dataset>; vectors are always compared raw",
    )

    @model_validator(mode="after")
    def _anchors_fit(self) -> SimplicialConfig:
        # Reported on both fields, so a spec that fixes one and searches the other names the
        # searched value (`search.latent_dim.values[0]`) as well as the fixed one.
        if self.sampler == "simplicial" and self.n_anchors > self.latent_dim:
            err = PydanticCustomError(
                "anchors_exceed_latent_dim",
                f"simplicial sampler: N={self.n_anchors} equidistant anchors √d·e_j need "
                f"N <= d, got d={self.latent_dim}: n_anchors must not exceed latent_dim "
                f"(lower n_anchors or raise latent_dim)",
            )
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=err, loc=("n_anchors",), input=self.n_anchors),
                InitErrorDetails(type=err, loc=("latent_dim",), input=self.latent_dim),
            ])
        return self


class SimplicialGAN(AdversarialMethod):
    Config = SimplicialConfig
    mutable = ("lr_g", "lr_d", "d_steps", "tau_train", "tau_infer", "mi_weight")

    def __init__(self, cfg: SimplicialConfig, data, ctx) -> None:
        super().__init__(cfg, data, ctx)
        self.simplicial = (
            ls.SimplicialSampler(cfg.n_anchors, cfg.latent_dim, cfg.max_draws_per_sample,
                                 rule=cfg.acceptance_rule)
            if cfg.sampler == "simplicial" else None
        )
        self.use_mi = self.simplicial is not None and cfg.mi_weight > 0
        d_out = 1 + cfg.n_anchors if self.use_mi else 1
        g, d = build_pair(cfg.network, data, cfg.latent_dim, d_out=d_out, **cfg.network_options)
        if self.use_mi and not hasattr(d, "features"):
            raise ValueError(f"network {cfg.network!r}: D has no features() for the MI head")
        self.g, self.d = g.to(ctx.device), d.to(ctx.device)
        self.start_average()
        self.prior = (
            ls.DeliGANPrior(cfg.deligan_components, cfg.latent_dim, ctx.generator).to(ctx.device)
            if cfg.sampler == "deligan" else None
        )
        g_params = list(self.g.parameters()) + (
            list(self.prior.parameters()) if self.prior is not None else []
        )
        self.opt_g = adam(g_params, cfg.lr_g, (cfg.beta1, cfg.beta2))
        self.opt_d = self.adam(self.d, cfg.lr_d)
        self.mi_steps = (
            cfg.mi_steps if cfg.mi_steps is not None
            else math.ceil(cfg.mi_epochs * len(data.x) / cfg.batch_size)
        )
        # Evaluation draws from its own stream so it never shifts the training latents.
        self.eval_gen = streams.generator(ctx.seed, "method_eval")
        self.accepted, self.drawn = 0, 0  # training acceptance since the last evaluation
        self._real: RealReference | None = None
        self._classifier: Extractor | None = None
        if self.simplicial is not None:
            # Fail at start, not hours in: every τ we will sample with must be reachable.
            probe = streams.generator(ctx.seed, "tau_probe")
            for tau in sorted({cfg.tau_train, cfg.tau_infer, *cfg.tau_infer_sweep}):
                self.simplicial.sample(64, tau, probe)

    def networks(self):
        nets = {"g": self.g, "d": self.d}
        if self.prior is not None:
            nets["prior"] = self.prior
        return nets

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # ---- latents ---------------------------------------------------------------------------

    def train_latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z, anchor index or None); DeliGAN latents carry gradients to the prior."""
        gen, dev = self.ctx.generator, self.ctx.device
        if self.simplicial is not None:
            draw = self.simplicial.sample(n, self.cfg.tau_train, gen)
            self.accepted += draw.accepted
            self.drawn += draw.drawn
            return draw.z.to(dev), draw.cluster.to(dev)
        if self.prior is not None:
            z, _ = self.prior(n, gen)
            return z, None
        return ls.gaussian(n, self.cfg.latent_dim, gen).to(dev), None

    def infer_latent(self, n: int, tau: float | None = None) -> torch.Tensor:
        """Latents of the inference sampler (τ_infer, DeliGAN prior or JBT), from eval_gen."""
        gen, dev = self.eval_gen, self.ctx.device
        if self.simplicial is not None:
            tau = self.cfg.tau_infer if tau is None else tau
            return self.simplicial.sample(n, tau, gen).z.to(dev)
        if self.prior is not None:
            with torch.no_grad():
                return self.prior(n, gen)[0]
        if self.cfg.sampler == "jbt":
            pool = ls.gaussian(ls.jbt_pool_size(n, self.cfg.jbt_percentile), self.cfg.latent_dim,
                               gen).to(dev)
            # BN on running statistics: the Jacobian of one sample alone.
            with eval_mode(self.g), torch.enable_grad():
                jfn = torch.cat([
                    ls.jacobian_frobenius(self.g, pool[s : s + 4096], self.cfg.jbt_dirs, gen)
                    for s in range(0, len(pool), 4096)
                ])
            return ls.jbt_select(pool, jfn.detach(), self.cfg.jbt_percentile, n)
        return ls.gaussian(n, self.cfg.latent_dim, gen).to(dev)

    # ---- training --------------------------------------------------------------------------

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 1 + N): critic, then the MI head's anchor logits (shared body)."""
        return self.d.head(self.d.features(x))

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        n = self.ctx.local_batch(cfg.batch_size)
        mi_on = self.use_mi and step < self.mi_steps
        zero = torch.zeros((), device=self.ctx.device)
        mi_d = mi_g = zero
        for _ in range(cfg.d_steps):
            with torch.no_grad():
                z, c = self.train_latent(n)
                fake = self.g(z)
            real = self.real_batch(n)
            if mi_on:
                logits = d_logits(self.d, real, fake, fn=self._logits)
                critic = logits[:, 0]
                mi_d = F.cross_entropy(logits[n:, 1:], c)
            else:
                critic = d_logits(self.d, real, fake)
            wdist = critic[:n].mean() - critic[n:].mean()
            gp = gradient_penalty(self.d, real, fake, self.ctx.generator)
            loss_d = d_loss("wgan", critic[:n], critic[n:]) + cfg.gp_weight * gp
            if mi_on:
                loss_d = loss_d + cfg.mi_weight * mi_d
            self.step(self.opt_d, self.d, loss_d)
        z, c = self.train_latent(n)
        fake = self.g(z)
        if mi_on:
            logits = self._logits(fake)
            mi_g = F.cross_entropy(logits[:, 1:], c)
            loss_g = -logits[:, 0].mean() + cfg.mi_weight * mi_g
        else:
            loss_g = -self.d(fake).mean()
        if self.prior is not None:
            loss_g = loss_g + cfg.deligan_sigma_weight * self.prior.sigma_penalty()
        self.opt_g.zero_grad(set_to_none=True)
        backward_to(loss_g, self.opt_g)
        self.ctx.sync_grads(self.g)
        if self.prior is not None:
            self.ctx.sync_grads(self.prior)
        self.opt_g.step()
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "wasserstein": wdist.detach(),
            "gp": gp.detach(), "loss_mi_d": mi_d.detach(), "loss_mi_g": mi_g.detach(),
        }

    # ---- sampling and evaluation -----------------------------------------------------------

    @torch.no_grad()
    def generate(self, z: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        with self.sampling_g() as g:
            return torch.cat([g(z[s : s + chunk]) for s in range(0, len(z), chunk)])

    def g_inputs(self, n: int) -> tuple[torch.Tensor, None]:
        return self.infer_latent(n), None

    def sample(self, n: int) -> torch.Tensor:
        return self.generate(self.infer_latent(n))

    def sample_by_condition(
        self, n_per_row: int, max_rows: int = 10
    ) -> tuple[torch.Tensor, list[str]] | None:
        """Simplicial: one row per anchor i, latents of its cell (argmax_j p_j(z) = i) cut at
        τ_infer. DeliGAN: one row per mixture component. Gaussian / JBT have no conditions."""
        gen = streams.generator(self.ctx.seed, "figure")  # same rows every call
        if self.simplicial is not None:
            anchors = list(range(min(self.cfg.n_anchors, max_rows)))
            z = self.simplicial.sample_per_anchor(n_per_row, self.cfg.tau_infer, anchors, gen)
            labels = [f"anchor {i}" for i in anchors]
        elif self.prior is not None:
            k = min(len(self.prior.mu), max_rows)
            with torch.no_grad():
                eps = torch.randn(k, n_per_row, self.cfg.latent_dim, generator=gen)
                z = self.prior.mu[:k, None].cpu() + self.prior.sigma[:k, None].cpu() * eps
            labels = [f"component {i}" for i in range(k)]
        else:
            return None
        x = self.generate(z.reshape(-1, z.shape[-1]).to(self.ctx.device)).cpu()
        return x.reshape(len(labels), n_per_row, *x.shape[1:]), labels

    # ---- evaluation: vectors here, images through the loop's own image metrics ---------------

    def is_image(self) -> bool:
        return self.data.x.dim() > 2

    def feature_setting(self) -> str:
        """`eval_features` of this method, else the run's (when the context carries it), else
        auto; images resolve auto as the loop does (the data set's reference classifier)."""
        name = self.cfg.eval_features
        if name == "auto":
            name = getattr(self.ctx, "eval_features", None) or "auto"
        return name

    def real_reference(self) -> RealReference:
        """Vector data: held real points and their k-NN radii (cached), fresh draws of the
        mixture when it is a known one, else a fixed random subset of the data set."""
        if self._real is None:
            from evaluation.prdc import knn_radii

            n, info = self.cfg.eval_prdc_samples, self.data.info
            if "centers" in info and "std" in info:
                from trainables.data.toy import sample_mixture

                x, _ = sample_mixture(np.asarray(info["centers"]), float(info["std"]), n,
                                      seed=streams.stream_seed(self.ctx.seed, "real_reference"),
                                      weights=info.get("weights"))
                real = torch.from_numpy(x).float()
            else:
                g = streams.generator(self.ctx.seed, "real_reference")
                idx = torch.randperm(len(self.data.x), generator=g)[:n]
                real = self.data.x[idx].flatten(1).float()
            self._real = RealReference(real, knn_radii(real, self.cfg.prdc_k))
        return self._real

    def fake_metrics(self, fake: torch.Tensor) -> dict[str, float]:
        """Vectors: precision/recall/density/coverage on the raw points. Images: the loop's
        image metrics (`trainables.scoring.images.image_metrics`: FID, PR/DC, IS, modes) in the
        same feature space and against the same real reference as the loop's evaluation."""
        fake = fake.detach().cpu().float()
        if self.is_image():
            from trainables.scoring.images import image_metrics

            found, _ = image_metrics(fake, self.data, self.feature_setting(), self.ctx.device,
                                     split=getattr(self.ctx, "eval_split", "train"))
            return found
        from evaluation.prdc import compute_prdc

        ref = self.real_reference()
        return compute_prdc(ref.features, fake.flatten(1), self.cfg.prdc_k, real_radii=ref.radii)

    def image_classifier(self) -> Extractor | None:
        """The data set's reference classifier (labels G(z) for the latent diagnostics)."""
        if self._classifier is None:
            from evaluation.errors import FeatureExtractorError
            from trainables.scoring.images import build_extractor, classifier_family

            family = classifier_family(self.data)
            if family is None:
                return None
            try:
                self._classifier = build_extractor(f"classifier:{family}", self.data,
                                                   self.ctx.device)
            except FeatureExtractorError:
                return None
        return self._classifier

    def classify(self, z: np.ndarray | torch.Tensor) -> np.ndarray | None:
        """Class of G(z): the nearest mode centre for a known mixture, the reference
        classifier's label for images; None when neither exists."""
        zt = torch.as_tensor(z, dtype=torch.float32).to(self.ctx.device)
        if "centers" in self.data.info:
            centers = torch.as_tensor(np.asarray(self.data.info["centers"]), dtype=torch.float32)
            return torch.cdist(self.generate(zt).cpu(), centers).argmin(dim=1).numpy()
        clf = self.image_classifier() if self.is_image() else None
        if clf is None:
            return None
        return clf.logits(self.generate(zt).cpu().clamp(-1, 1)).argmax(dim=1).numpy()

    def nearest_mode(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        labels = self.classify(z)
        if labels is None:
            raise ValueError("nearest_mode: the data has no mode centres and no classifier")
        return labels

    def latent_diagnostics(self) -> dict[str, float]:
        from evaluation.errors import MetricInputError
        from evaluation.latent import convex_accuracy_from_fn, logreg_accuracy

        z = self.infer_latent(self.cfg.eval_latent_samples).cpu().numpy().astype(np.float64)
        labels = self.classify(z)
        if labels is None:
            return {}
        out: dict[str, float] = {"latent_classes": float(np.unique(labels).size)}
        try:  # a collapsed generator has one class: the diagnostics are undefined, not an error
            out["logreg_acc"] = logreg_accuracy(z, labels, seed=self.ctx.seed, max_iter=300)
            out["convex_acc"] = convex_accuracy_from_fn(
                z, self.nearest_mode, n_pairs=self.cfg.convex_pairs, seed=self.ctx.seed)
        except MetricInputError:
            pass
        return out

    def evaluate(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        out: dict[str, float] = {}
        n = cfg.eval_prdc_samples
        # Images: the loop already reports fid/precision/... of `sample` (τ_infer) on
        # eval_samples; only the τ-suffixed curve comes from here. Vectors: the loop has no
        # PR/DC, so the τ_infer values are reported unsuffixed as well.
        plain = not self.is_image()
        if self.simplicial is not None:
            if self.drawn:
                out["acceptance_rate"] = self.accepted / self.drawn
            self.accepted = self.drawn = 0
            taus = sorted({cfg.tau_infer, *cfg.tau_infer_sweep})
            draws = self.simplicial.sample_many(n, taus, self.eval_gen)
            for tau, draw in draws.items():
                m = self.fake_metrics(self.generate(draw.z.to(self.ctx.device)))
                out[f"acceptance_tau{tau:g}"] = draw.acceptance
                out.update({f"{k}_tau{tau:g}": v for k, v in m.items()})
                if tau == cfg.tau_infer:
                    out["acceptance_rate_infer"] = draw.acceptance
                    if plain:
                        out.update(m)
        elif plain:
            out.update(self.fake_metrics(self.sample(n)))
        out.update(self.latent_diagnostics())
        out["mi_on"] = float(self.use_mi and step <= self.mi_steps)
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "drawn": self.drawn,
                "eval_gen": self.eval_gen.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.accepted = int(state.get("accepted", 0))
        self.drawn = int(state.get("drawn", 0))
        if "eval_gen" in state:
            self.eval_gen.set_state(state["eval_gen"])
