"""Self-Conditioned GAN (Liu et al., CVPR 2020): a conditional GAN on clusters of D's features.

G(z, c) takes the cluster (toy MLP: one-hot input; DCGAN: by default the paper's 256-d class
embedding concatenated to z); D has k outputs and D(x, c) is output c; D_f = D.features, its
last hidden layer (DCGAN: the last conv layer, flattened). Algorithm 1: the data set is
partitioned by k-means on D_f of a random subset (k-means++ with restarts the first time, later
warm-started from the means of the new features under the old assignment and Hungarian-matched
to the old labels); every point of the data set then takes the label of its nearest centre.
Real batches carry their point's label; G's conditions are drawn in proportion to cluster sizes.

Image data (Stacked MNIST, CIFAR-10; `network: auto` picks DCGAN): the paper's Sec. 4.1 settings
are the defaults of every field the config leaves unset (`IMAGE_DEFAULTS`: k = 100, recluster
every 25k iterations on 25k images, z 128-d, batch 64, Adam 1e-4 with β = (0, 0.99)); a value
set in the config always wins. D features are computed in eval mode (as the authors' clusterer
does) and in chunks of bounded size, and the data set is labelled chunk by chunk, so a recluster
holds at most `cluster_subset` feature rows (plus one chunk) however large the data set is:
25k × 2048 floats (205 MB) for the Stacked MNIST DCGAN, 25k × 8192 (820 MB) for CIFAR-10's.

Options: `clustering: online` (centres updated every step, online k-means), `labels: random`
(a fixed random partition: the paper's "Random Labels" baseline), `labels: true` (class
conditional GAN on `data.y`), `matching: false` (the no-rematching ablation).

Distributed: the subset is drawn from a generator seeded by (seed, step), identical on all
ranks; each rank computes D_f of its share of the subset, the features are all-gathered, rank 0
runs k-means and broadcasts the centres, and the labels of the data set are computed in shards
and all-gathered, so every rank trains on the same partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.distributed as dist
from pydantic import Field

from trainables.core import kmeans, streams
from trainables.core.losses import g_loss
from trainables.core.method import AdversarialConfig, AdversarialMethod, eval_mode
from trainables.networks.select import build_pair, is_vector_data

# Paper Sec. 4.1 (Stacked MNIST and CIFAR-10, DCGAN); the authors' configs/*/selfcondgan.yaml agree.
IMAGE_DEFAULTS: dict[str, Any] = {
    "k": 100, "recluster_every": 25_000, "cluster_subset": 25_000, "latent_dim": 128,
    "batch_size": 64, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.99,
}
# Rows per feature chunk: at most 8192, and at most ~8 MB of float32 input (~680 CIFAR images),
# so D's activations for one chunk stay in the hundreds of MB.
FEATURE_CHUNK_ROWS, FEATURE_CHUNK_ELEMENTS = 8192, 2**21


class SelfCondConfig(AdversarialConfig):
    # Defaults of the authors' 2D code (2d_mix): k=50, recluster every 5k steps on 10k points.
    k: int = Field(50, ge=1, description="number of clusters (conditions)")
    recluster_every: int = Field(5000, ge=1, description="steps between batch reclusterings")
    cluster_subset: int = Field(10_000, ge=1, description="points clustered each time")
    kmeans_restarts: int = Field(10, ge=1, description="k-means++ restarts, first clustering")
    kmeans_iters: int = Field(100, ge=1, description="Lloyd iterations at most")
    clustering: Literal["batch", "online"] = "batch"
    labels: Literal["self", "random", "true"] = "self"
    matching: bool = True


def with_data_defaults(cfg: SelfCondConfig, data) -> SelfCondConfig:
    """The config with the paper's image settings in every field it leaves unset (image data)."""
    if is_vector_data(data):
        return cfg
    unset = {k: v for k, v in IMAGE_DEFAULTS.items() if k not in cfg.model_fields_set}
    return cfg.model_copy(update=unset)


class SelfCondGAN(AdversarialMethod):
    Config = SelfCondConfig

    def __init__(self, cfg: SelfCondConfig, data, ctx) -> None:
        cfg = with_data_defaults(cfg, data)
        super().__init__(cfg, data, ctx)
        if cfg.labels == "true":
            if data.y is None:
                raise ValueError(f"labels: true needs class labels, data set {data.name} has none")
            self.k = int(data.y.max()) + 1
        else:
            self.k = cfg.k
        if self.k > len(data.x):
            raise ValueError(f"k={self.k} clusters but only {len(data.x)} points in {data.name}")
        g, d = build_pair(cfg.network, data, cfg.latent_dim, n_classes=self.k, d_out=self.k,
                          **cfg.network_options)
        if not hasattr(d, "features"):
            raise ValueError(f"network {cfg.network!r}: D has no features() to cluster on")
        self.g, self.d = g.to(ctx.device), d.to(ctx.device)
        self.start_average()
        self.opt_g = self.adam(self.g, cfg.lr_g)
        self.opt_d = self.adam(self.d, cfg.lr_d)
        # Partition state (checkpointed): a label per data point, centres in D_f space.
        self.assign: torch.Tensor | None = None
        self.centres: torch.Tensor | None = None
        self.online_counts: torch.Tensor | None = None
        self.changed = 0
        self.reclusters = 0

    def networks(self):
        return {"g": self.g, "d": self.d}

    def optimizers(self):
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def apply_hparams(self, cfg: SelfCondConfig) -> None:
        super().apply_hparams(with_data_defaults(cfg, self.data))

    # ---- partition -------------------------------------------------------------------------

    def _shared_generator(self, step: int) -> torch.Generator:
        """Same stream on every rank and on resume: seeded by (seed, step), not by rank."""
        return streams.generator(self.ctx.seed, "recluster", step)

    def _chunk_rows(self) -> int:
        per_row = max(1, self.data.x[0].numel())
        return max(1, min(FEATURE_CHUNK_ROWS, FEATURE_CHUNK_ELEMENTS // per_row))

    @torch.no_grad()
    def _feature_chunks(self, rows: torch.Tensor) -> Iterator[torch.Tensor]:
        """D_f of data[rows], chunk by chunk, D in eval mode (BN running statistics, so a
        point's features do not depend on which chunk or rank computed them)."""
        step = self._chunk_rows()
        with eval_mode(self.d):
            for s in range(0, len(rows), step):
                x = self.data.x[rows[s : s + step]].to(self.ctx.device)
                yield self.d.features(x).flatten(1).float()

    def features(self, rows: torch.Tensor) -> torch.Tensor:
        """D_f of data[rows] as one (len(rows), F) tensor."""
        parts = list(self._feature_chunks(rows))
        return torch.cat(parts) if parts else torch.empty(0)

    def nearest_centre(self, rows: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """Label of each data[rows] by nearest centre; only one chunk of features at a time."""
        labels = [kmeans.assign_to_centres(f, centres.to(f.device))[0].cpu()
                  for f in self._feature_chunks(rows)]
        return torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)

    def _shard(self, n: int) -> slice:
        per = -(-n // self.ctx.world_size)
        return slice(self.ctx.rank * per, min(n, (self.ctx.rank + 1) * per))

    def _all_gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Concatenate every rank's `_shard(n)` rows in rank order (padded for all_gather)."""
        if not self.ctx.distributed:
            return local
        per = -(-n // self.ctx.world_size)
        pad = local.new_zeros((per, *local.shape[1:]))
        pad[: len(local)] = local
        parts = [torch.empty_like(pad) for _ in range(self.ctx.world_size)]
        dist.all_gather(parts, pad)
        return torch.cat(parts)[:n]

    @torch.no_grad()
    def gathered_features(self, idx: torch.Tensor) -> torch.Tensor:
        """D_f of data[idx], each rank computing its share, on every rank in idx order."""
        mine = self.features(idx[self._shard(len(idx))])
        return self._all_gather_rows(mine, len(idx))

    @torch.no_grad()
    def label_all(self, centres: torch.Tensor) -> torch.Tensor:
        """Nearest-centre label of every data point, identical on every rank."""
        n = len(self.data.x)
        shard = self._shard(n)
        mine = self.nearest_centre(torch.arange(shard.start, shard.stop), centres)
        return self._all_gather_rows(mine.to(centres.device), n).cpu()

    def _broadcast(self, t: torch.Tensor) -> torch.Tensor:
        if self.ctx.distributed:
            dist.broadcast(t, src=0)
        return t

    @torch.no_grad()
    def recluster(self, step: int) -> None:
        """Algorithm 1's clustering step; every rank ends with the same assignment."""
        gen = self._shared_generator(step)
        n = len(self.data.x)
        if self.cfg.labels != "self":
            if self.assign is None:  # fixed partitions: drawn once, never reclustered
                if self.cfg.labels == "true":
                    self.assign = self.data.y.long().cpu().clone()
                else:
                    self.assign = torch.randint(self.k, (n,), generator=gen)
            return
        m = min(self.cfg.cluster_subset, n)
        idx = torch.randperm(n, generator=gen)[:m]
        if self.ctx.distributed:  # BN running statistics differ per rank; rank 0's for all
            for buf in self.d.buffers():
                dist.broadcast(buf.data, src=0)
        feats = self.gathered_features(idx)
        centres = torch.empty(self.k, feats.shape[1], device=feats.device)
        if self.ctx.rank == 0:
            old = None if self.assign is None else self.assign[idx].to(feats.device)
            res = kmeans.recluster(
                feats, self.k, old, self.cfg.kmeans_restarts, self.cfg.matching, gen,
                self.cfg.kmeans_iters,
            )
            centres.copy_(res.centres)
        self.centres = self._broadcast(centres)
        new = self.label_all(self.centres)
        self.changed = 0 if self.assign is None else int((new != self.assign).sum())
        self.assign = new
        self.reclusters += 1
        if self.cfg.clustering == "online":
            self.online_counts = torch.bincount(new, minlength=self.k).double()

    def sizes(self) -> torch.Tensor:
        if self.cfg.clustering == "online" and self.online_counts is not None:
            return self.online_counts.float()
        if self.assign is None:  # before the first clustering: uniform
            return torch.ones(self.k)
        return torch.bincount(self.assign, minlength=self.k).float()

    def draw_conditions(self, n: int) -> torch.Tensor:
        """c ~ P_π: each cluster with probability proportional to its size."""
        c = torch.multinomial(self.sizes(), n, replacement=True, generator=self.ctx.generator)
        return c.to(self.ctx.device)

    @torch.no_grad()
    def _online_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Online k-means: label the batch by nearest centre, move the centres (all ranks alike)."""
        assert self.centres is not None and self.online_counts is not None
        with eval_mode(self.d):
            feats = self.d.features(x).flatten(1).double()
        centres = self.centres.double().to(feats.device)
        labels, _ = kmeans.assign_to_centres(feats, centres)
        sums = torch.zeros_like(centres).index_add_(0, labels, feats)
        counts = torch.bincount(labels, minlength=self.k).double().to(feats.device)
        if self.ctx.distributed:
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        _, new, total = kmeans.online_kmeans_update(
            feats, centres, self.online_counts.to(feats.device), sums, counts
        )
        self.centres, self.online_counts = new.float(), total.cpu()
        return labels

    # ---- training --------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        if self.assign is None:
            self.recluster(step)  # first partition: random D features (or the fixed labels)
        elif (
            self.cfg.labels == "self" and self.cfg.clustering == "batch"
            and step % self.cfg.recluster_every == 0
        ):
            self.recluster(step)
        n = self.ctx.local_batch(self.cfg.batch_size)
        for _ in range(self.cfg.d_steps):
            real, idx = self.real_batch_with_index(n)
            if self.cfg.labels == "self" and self.cfg.clustering == "online":
                c = self._online_labels(real)
            else:
                c = self.assign[idx].to(self.ctx.device)
            # x ~ uniform with its label is c ~ P_π then x ~ π_c; the fakes share those c (Eq. 1).
            loss_d = self.d_step(real, c)
        c = self.draw_conditions(n)
        loss_g = g_loss(self.cfg.loss, self.d(self.g(self.latent(n), c), c))
        self.step(self.opt_g, self.g, loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def g_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latent(n), self.draw_conditions(n)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        with self.sampling_g() as g:
            return g(*self.g_inputs(n))

    @torch.no_grad()
    def sample_by_condition(
        self, n_per_row: int, max_rows: int = 10
    ) -> tuple[torch.Tensor, list[str]] | None:
        """G(z, c) for the largest clusters first, one row each; the same z in every row and at
        every call (a generator of its own), so rows and evaluations compare like for like."""
        if self.assign is None:
            return None
        sizes = self.sizes()
        order = sizes.argsort(descending=True, stable=True)[: min(max_rows, self.k)]
        gen = streams.generator(self.ctx.seed, "figure")
        z = torch.randn(n_per_row, self.cfg.latent_dim, generator=gen).to(self.ctx.device)
        rows = len(order)
        c = order.to(self.ctx.device).repeat_interleave(n_per_row)
        with self.sampling_g() as g:
            x = g(z.repeat(rows, 1), c).detach().cpu()
        name = "class" if self.cfg.labels == "true" else "cluster"
        labels = [f"{name} {int(j)} (n={int(sizes[j])})" for j in order]
        return x.view(rows, n_per_row, *x.shape[1:]), labels

    # ---- metrics and state -----------------------------------------------------------------

    def evaluate(self, step: int) -> dict[str, float]:
        if self.assign is None:
            return {}
        assign = self.assign
        if self.cfg.clustering == "online" and self.centres is not None:
            # Online centres move every step; label the data with the current ones (rank 0 only,
            # evaluation does not feed training).
            assign = self.nearest_centre(torch.arange(len(self.data.x)), self.centres)
        sizes = torch.bincount(assign, minlength=self.k)
        out = {
            "cluster_changed": float(self.changed),
            "cluster_min_size": float(sizes.min()),
            "cluster_max_size": float(sizes.max()),
            "clusters_nonempty": float((sizes > 0).sum()),
            "reclusters": float(self.reclusters),
        }
        if self.data.y is not None:
            from evaluation.clustering import nmi, purity

            y = self.data.y.cpu().numpy()
            out["nmi"] = nmi(y, assign.numpy())
            out["purity"] = purity(y, assign.numpy())
        return out

    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"changed": self.changed, "reclusters": self.reclusters}
        for name in ("assign", "centres", "online_counts"):
            value = getattr(self, name)
            if value is not None:
                state[name] = value.detach().cpu()
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "assign" in state:
            self.assign = state["assign"].long().cpu()
        if "centres" in state:
            self.centres = state["centres"].float().to(self.ctx.device)
        if "online_counts" in state:
            self.online_counts = state["online_counts"].double().cpu()
        self.changed = int(state.get("changed", 0))
        self.reclusters = int(state.get("reclusters", 0))
