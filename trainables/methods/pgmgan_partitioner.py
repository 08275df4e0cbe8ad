"""PGMGAN's space partitioner S as its own cached stage.

Pipeline (paper Sec. 4.2): representation → k-NN graph → partitioner training.
- Vector (2D) data: the paper skips representation learning, the representation is the point
  and S is `LipschitzResNet` (bi-Lipschitz residual blocks + a linear head to k logits), so the
  guide built on its logits has no local optima (Theorem 3).
- Images: a SimCLR encoder (`pgmgan_simclr`, its own cached stage, shared by every k) gives
  h(x) (or, with `representation: pca`, the pixels' top principal components: `pgmgan_pca`);
  the k-NN graph is built on h and S(x) = LipschitzResNet(√F · h(x)/‖h(x)‖) with the
  encoder frozen (`ImagePartitioner`). The paper's S is instead a 20-block convolutional
  i-ResNet on the pixels trained end to end; here only the Lipschitz part is trained, on the
  fixed representation, which is far cheaper. Theorem 3 then holds in the representation space;
  the guide's gradient reaches G's images through the (not bi-Lipschitz) encoder, so the
  no-local-optima guarantee does not carry over to pixel space.

Training options (`PartitionSettings`):
- `loss: paper` — Eq. 5, maximised: Σ_edges log S(x_i)·S(x_j) − α Σ_i H(S(x_i)) + β H(mean S),
  implemented as a minimised per-batch mean (α = 5, β = 1e-3). The β term is the only force
  against putting everything in one partition, and it is weak at 1e-3: from scratch some
  partitions may end up empty (watch `nonempty` in the info).
- `loss: scan` — the authors' public training code (SCAN): consistency −log S(x_i)·S(x_j) minus
  5·H(mean S), 20 neighbours.
- `init: kmeans` — the authors' toy setup: k-means (n_init 100) on the points, then S is fitted
  to imitate the k-means labels by cross-entropy; no graph training afterwards.

Every point's partition is argmax S(x), so the labels and the guide R_i agree by construction.

What the stage learned, measured in the same run (images with class labels, `references`):
neighbour agreement (share of k-NN edges whose ends share a class) and the NMI of the head's
partition on the training subset, for the representation used and for two references trained
the same way: an untrained encoder of the same spec (`_untrained`; SimCLR only) and the pixels'
principal components (`_pixels`; skipped when that is the representation). A representation no
better than the untrained encoder has learned nothing about the modes.

Cache: the result is keyed by a hash of (data set name and content, k, seed, settings, and the
SimCLR settings for images) and kept at `cache_dir/<key>.pt`, the SimCLR stage at
`cache_dir/simclr-<key>.pt` (keyed without k); each is written to a temporary file then
`os.replace`d, so concurrent trials never read a half-written file, and read back with
`torch.load(weights_only=True)`. Every trial with the same key reuses it. The folder is the
`cache` option, else $STUDY_PARTITION_CACHE, else the study's `stages/` folder, else
~/.cache/gan-mode-study/partitions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from trainables.core import kmeans, streams
from trainables.data import DataBundle
from trainables.methods.pgmgan_pca import PCAEncoder, fit_pca
from trainables.methods.pgmgan_simclr import SimCLRSettings, build_encoder, embed, train_simclr
from trainables.networks.lipschitz import LipschitzResNet

CACHE_ENV = "STUDY_PARTITION_CACHE"
DEFAULT_CACHE = Path("~/.cache/gan-mode-study/partitions")
FORMAT = 2  # bump when the stored payload or the training changes meaning


class PartitionSettings(BaseModel):
    """The partitioner stage's settings (PGMGAN's `partition: {...}` / `partition.<name>`);
    all but `labels` and `cache` change the partition (and so the cache key)."""

    model_config = ConfigDict(extra="forbid")

    labels: Literal["learned", "random"] = Field(
        "learned", description="random: a fixed random partition (the paper's ablation: no "
        "partitioner, so no guide and no rejection)")
    cache: str | None = Field(
        None, description="cache folder; else $STUDY_PARTITION_CACHE, else the study's stages/")
    loss: Literal["paper", "scan"] = Field(
        "scan", description="scan (the authors' code: consistency - 5 x entropy of the mean, "
        "default) or paper (Eq. 5 as printed, under which one partition for all costs only "
        "beta log k)")
    # k-means (imitated by the Lipschitz MLP) is what the authors did for 2D data; Eq. 5 trained
    # from scratch collapsed to 2 of 25 partitions on the grid here (NMI 0.35), β being its only
    # force against one big partition. `scratch` is the paper's loss-only route, which `auto`
    # takes for images (k-NN graph on the SimCLR representation).
    init: Literal["auto", "scratch", "kmeans"] = "auto"
    representation: Literal["simclr", "pca"] = Field(
        "simclr", description="images: what S's head sees: a SimCLR encoder (the paper) or the "
        "pixels' top principal components (runs too short for SimCLR; see pgmgan_pca)")
    pca_dim: int = Field(64, ge=1, description="principal components (representation pca)")
    references: bool = Field(
        True, description="images with labels: also measure an untrained encoder's and the "
        "pixels' agreement and NMI at the end of the stage")
    alpha: float = Field(5.0, ge=0, description="Eq. 5 per-sample entropy penalty")
    beta: float = Field(1e-3, ge=0, description="Eq. 5 entropy-of-the-mean bonus")
    scan_entropy_weight: float = Field(5.0, ge=0)
    neighbours: int = Field(20, ge=1, description="k of the k-NN graph")
    subset: int = Field(10_000, ge=1, description="points the partitioner is trained on")
    steps: int = Field(2000, ge=0, description="optimiser steps (graph loss or imitation)")
    batch: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    kmeans_restarts: int = Field(100, ge=1, description="the authors' toy: n_init 100")
    kmeans_iters: int = Field(100, ge=1)
    blocks: int = Field(4, ge=1)
    hidden: int = Field(64, ge=1)
    # 2 linear maps (d→hidden→d): with d = 2 their exact norms are 2×2 eigenproblems. The
    # paper's image blocks have 3 convolutions; for 2D, depth comes from more blocks instead.
    layers: int = Field(2, ge=1, description="linear maps per residual block")
    coeff: float = Field(0.9, gt=0, lt=1, description="spectral-norm bound per linear map")
    activation: Literal["elu", "leaky_relu"] = "elu"

    def resolved(self, vector_data: bool) -> PartitionSettings:
        """`init: auto` made concrete: k-means for vectors, the graph loss for images."""
        if self.init != "auto":
            return self
        return self.model_copy(update={"init": "kmeans" if vector_data else "scratch"})

    def key_fields(self) -> dict[str, Any]:
        """What the cache key covers: every setting that changes the partition."""
        return self.model_dump(exclude={"labels", "cache", "references"})


def build_partitioner(
    dim: int, k: int, s: PartitionSettings, out_init: float = 1.0
) -> LipschitzResNet:
    return LipschitzResNet(dim, k, s.blocks, s.hidden, s.layers, s.coeff, s.activation, out_init)


def representation_scale(h: torch.Tensor) -> torch.Tensor:
    """√F · h/‖h‖: cosine geometry (SCAN's neighbours), coordinates of order 1 for the blocks."""
    return F.normalize(h, dim=1) * math.sqrt(h.shape[1])


class ImagePartitioner(nn.Module):
    """S(x) = LipschitzResNet(√F · h(x)/‖h(x)‖) on a frozen SimCLR encoder h."""

    def __init__(self, encoder: nn.Module, head: LipschitzResNet) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    @property
    def blocks(self) -> nn.ModuleList:
        return self.head.blocks

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return representation_scale(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.representation(x))


def pca_dim_for(data: DataBundle, s: PartitionSettings) -> int:
    """Components the PCA encoder keeps: at most the subset's size and the pixel count."""
    return min(s.pca_dim, s.subset, len(data.x), int(data.x[0].numel()))


def build_image_partitioner(
    data: DataBundle, k: int, s: PartitionSettings, simclr: SimCLRSettings
) -> ImagePartitioner:
    enc: nn.Module
    if s.representation == "pca":
        enc = PCAEncoder(int(data.x[0].numel()), pca_dim_for(data, s))
    else:
        enc = build_encoder(data.x.shape[1], simclr)
    return ImagePartitioner(enc, build_partitioner(enc.out_dim, k, s))


def build_for(
    data: DataBundle, k: int, s: PartitionSettings, simclr: SimCLRSettings | None = None
) -> nn.Module:
    """The partitioner network that `partition_for`'s state_dict belongs to."""
    if data.x.dim() == 2:
        return build_partitioner(data.x.shape[1], k, s)
    return build_image_partitioner(data, k, s, simclr or SimCLRSettings())


def resolve_cache_dir(option: str | None, stage_dir: str | Path | None = None) -> Path:
    """The option, else $STUDY_PARTITION_CACHE, else the study's stage folder (passed by the
    study: its trials share it), else ~/.cache/gan-mode-study/partitions."""
    raw = option or os.environ.get(CACHE_ENV)
    if raw:
        return Path(raw).expanduser()
    if stage_dir is not None:
        return Path(stage_dir)
    return DEFAULT_CACHE.expanduser()


def _digest(blob: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:24]


def cache_key(
    data: DataBundle, k: int, seed: int, s: PartitionSettings,
    simclr: SimCLRSettings | None = None,
) -> str:
    blob = {"format": FORMAT, "dataset": data.name, "content": data.fingerprint, "k": k,
            "seed": seed, "settings": s.resolved(data.x.dim() == 2).key_fields()}
    if simclr is not None and s.representation == "simclr":
        blob["simclr"] = simclr.model_dump()
    return _digest(blob)


def simclr_key(data: DataBundle, seed: int, s: SimCLRSettings) -> str:
    return _digest({"format": FORMAT, "stage": "simclr", "dataset": data.name,
                    "content": data.fingerprint, "seed": seed, "settings": s.model_dump()})


# ---- losses (pure functions of the partitioner's probabilities) -----------------------------


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-8))).sum(dim=-1)


def paper_loss(
    p_anchor: torch.Tensor, p_neighbour: torch.Tensor, alpha: float, beta: float
) -> torch.Tensor:
    """−(Eq. 5) per batch: −mean log S(x_i)·S(x_j) + α mean H(S(x_i)) − β H(mean S)."""
    agree = torch.log((p_anchor * p_neighbour).sum(dim=1).clamp_min(1e-8)).mean()
    return -agree + alpha * _entropy(p_anchor).mean() - beta * _entropy(p_anchor.mean(dim=0))


def scan_loss(p_anchor: torch.Tensor, p_neighbour: torch.Tensor, weight: float) -> torch.Tensor:
    """SCAN (Van Gansbeke et al. 2020): consistency − weight · H(mean S)."""
    agree = torch.log((p_anchor * p_neighbour).sum(dim=1).clamp_min(1e-8)).mean()
    return -agree - weight * _entropy(p_anchor.mean(dim=0))


def knn_graph(x: np.ndarray, neighbours: int) -> np.ndarray:
    """(n, neighbours) indices of each point's nearest other points (Euclidean; sklearn picks a
    kd-tree in 2D, brute force on representations, where it equals cosine after scaling)."""
    from sklearn.neighbors import NearestNeighbors

    m = min(neighbours + 1, len(x))
    _, idx = NearestNeighbors(n_neighbors=m).fit(x).kneighbors(x)
    return idx[:, 1:] if m > 1 else idx


# ---- training --------------------------------------------------------------------------------


@torch.no_grad()
def label_points(net: torch.nn.Module, x: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    return torch.cat([net(x[s : s + chunk]).argmax(dim=1) for s in range(0, len(x), chunk)])


def train_partitioner(
    x: torch.Tensor, k: int, s: PartitionSettings, gen: torch.Generator,
    nbrs: np.ndarray | None = None,
) -> tuple[LipschitzResNet, dict[str, Any]]:
    """Fit S on the points x (n, d); returns the network (eval mode) and training facts.
    `nbrs` is x's k-NN graph when the caller has it already (computed here otherwise)."""
    info: dict[str, Any] = {}
    loss = torch.tensor(float("nan"))
    if s.init == "kmeans":
        km = kmeans.kmeans(x, k, restarts=s.kmeans_restarts, generator=gen,
                               max_iter=s.kmeans_iters)
        target = km.assign
        info["kmeans_inertia"] = float(km.inertia)
        # Blocks start near the identity and the head at the Voronoi map of the centres
        # (argmax_c μ_c·x − ‖μ_c‖²/2 is the nearest centre), so S starts at the k-means
        # partition; cross-entropy then sharpens it and lets the blocks bend the boundaries.
        net = build_partitioner(x.shape[1], k, s, out_init=1e-3)
        with torch.no_grad():
            mu = km.centres.float()
            # The argmax does not depend on the scale, but the guide does: its slope across the
            # boundary of partitions c and i is scale·‖μ_c − μ_i‖. Scale 1/median‖μ_c − μ_i‖
            # keeps that slope about 1, so λ weighs the guide against the adversarial loss as
            # the paper's schedule assumes. (Sizing it by the *smallest* gap, as FORMAT 1 did,
            # gave logits of ±3e4 when k-means splits one Gaussian in two, and a guide that
            # drowned the adversarial gradient: 7 % high quality on the grid at 3k steps.)
            dist = torch.cdist(mu, mu)
            off = dist[~torch.eye(len(mu), dtype=torch.bool)]
            scale = 1.0 / off.median().clamp_min(1e-8) if len(mu) > 1 else torch.tensor(1.0)
            net.head.weight.copy_(scale * mu)
            net.head.bias.copy_(-0.5 * scale * (mu * mu).sum(dim=1))
        opt = torch.optim.Adam(net.parameters(), lr=s.lr)
        init_acc = float((label_points(net, x) == target).float().mean())
        init_state = {name: t.clone() for name, t in net.state_dict().items()}
        for _ in range(s.steps):
            idx = torch.randint(len(x), (s.batch,), generator=gen)
            loss = F.cross_entropy(net(x[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        acc = float((label_points(net, x) == target).float().mean())
        # Adam's first steps can move boundaries away from an already exact imitation: keep
        # whichever of the two imitates k-means better.
        if acc < init_acc:
            net.load_state_dict(init_state)
            acc = init_acc
        info |= {"init_acc": init_acc, "imitation_acc": acc}
    else:
        net = build_partitioner(x.shape[1], k, s)
        opt = torch.optim.Adam(net.parameters(), lr=s.lr)
        graph = torch.from_numpy(nbrs if nbrs is not None else knn_graph(x.numpy(), s.neighbours))
        for _ in range(s.steps):
            idx = torch.randint(len(x), (s.batch,), generator=gen)
            # One random neighbour per anchor (SCAN's sampling of the graph's edges).
            pick = torch.randint(graph.shape[1], (s.batch,), generator=gen)
            logits = net(torch.cat([x[idx], x[graph[idx, pick]]]))
            p = logits.softmax(dim=1)
            pa, pn = p[: s.batch], p[s.batch :]
            if s.loss == "paper":
                loss = paper_loss(pa, pn, s.alpha, s.beta)
            else:
                loss = scan_loss(pa, pn, s.scan_entropy_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    info["final_loss"] = float(loss.detach())
    net.eval()
    return net, info


def _atomic_save(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> dict[str, Any] | None:
    """A cached payload, or None when absent or unreadable (a foreign or damaged file is then
    recomputed and replaced, not trusted)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # truncated / foreign: recompute
        return None


def representation_for(
    data: DataBundle, seed: int, s: SimCLRSettings, cache_dir: Path,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, Any]]:
    """(SimCLR features of every image, encoder state_dict, info); computed once per key."""
    key = simclr_key(data, seed, s)
    path = cache_dir / f"simclr-{key}.pt"
    payload = _load(path)
    if payload is not None:
        info = dict(payload["info"]) | {"simclr_cached": True, "simclr_key": key}
        return payload["features"], payload["encoder"], info
    gen = streams.generator(seed, "simclr.subset")
    x = data.x.detach().float().cpu()
    if s.subset is not None and s.subset < len(x):
        x_train = x[torch.randperm(len(x), generator=gen)[: s.subset]]
    else:
        x_train = x
    with torch.random.fork_rng(devices=[]):  # seeded init (on the CPU) without moving the
        torch.manual_seed(streams.stream_seed(seed, "simclr.init"))  # caller's RNG
        enc, info = train_simclr(x_train, s, gen, device)
    features = embed(enc, x, device)
    state = {name: t.detach().cpu().clone() for name, t in enc.state_dict().items()}
    _atomic_save({"features": features, "encoder": state, "info": info}, path)
    return features, state, info | {"simclr_cached": False, "simclr_key": key}


def neighbour_agreement(y: torch.Tensor, nbrs: np.ndarray) -> float:
    """Fraction of k-NN edges whose ends share a true label (SCAN's check of the pretext)."""
    yy = y.cpu().numpy()
    return float((yy[nbrs] == yy[:, None]).mean())


def partition_for(
    data: DataBundle, k: int, seed: int, settings: PartitionSettings,
    cache_dir: str | Path | None = None, simclr: SimCLRSettings | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, Any]]:
    """(labels of every point, partitioner state_dict, info); computed once per key.

    Vector data: the state_dict is a `LipschitzResNet`'s. Images (N, C, H, W): the SimCLR stage
    runs first (on `device`; `simclr` settings, defaults if None) and the state_dict is an
    `ImagePartitioner`'s (encoder included), so it rebuilds with `build_for` alone.
    """
    is_image = data.x.dim() == 4
    if data.x.dim() not in (2, 4):
        raise ValueError(
            f"the PGMGAN partitioner takes vectors (N, D) or images (N, C, H, W); {data.name} "
            f"has shape {tuple(data.x.shape)}"
        )
    if k > len(data.x):
        raise ValueError(f"k={k} partitions but only {len(data.x)} points in {data.name}")
    simclr = (simclr or SimCLRSettings()) if is_image else None
    settings = settings.resolved(vector_data=not is_image)
    folder = Path(cache_dir) if cache_dir else resolve_cache_dir(None)
    key = cache_key(data, k, seed, settings, simclr)
    path = folder / f"{key}.pt"
    payload = _load(path)
    if payload is not None:
        info = dict(payload["info"]) | {"cached": True, "key": key, "path": str(path)}
        return payload["labels"], payload["state_dict"], info

    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    gen = streams.generator(seed, "partition.subset")
    subset = torch.randperm(len(data.x), generator=gen)[: min(settings.subset, len(data.x))]
    enc_state: dict[str, torch.Tensor] = {}
    if is_image and settings.representation == "pca":
        enc = fit_pca(data.x[subset], pca_dim_for(data, settings), seed)
        enc_state = dict(enc.state_dict())
        x_all = representation_scale(embed(enc, data.x.float().cpu()))
    elif is_image:
        assert simclr is not None
        feats, enc_state, extra = representation_for(data, seed, simclr, folder, device)
        x_all = representation_scale(feats.float())
    else:
        x_all = data.x.detach().float().cpu()
    nbrs = None
    if settings.init == "scratch" or (is_image and data.y is not None):
        nbrs = knn_graph(x_all[subset].numpy(), settings.neighbours)
    head, info = _fit_head(x_all[subset], k, settings, seed, gen, nbrs)
    labels = label_points(head, x_all).long()
    net: nn.Module = head
    if is_image:
        assert simclr is not None
        net = build_image_partitioner(data, k, settings, simclr)
        net.encoder.load_state_dict(enc_state)
        net.head.load_state_dict(head.state_dict())
        if data.y is not None and nbrs is not None:
            extra |= _figures(("neighbour_agreement", "nmi_subset"), data.y[subset],
                              labels[subset], nbrs)
            if settings.references:
                extra |= reference_figures(data, subset, k, settings, simclr, seed)
    sizes = torch.bincount(labels, minlength=k)
    info |= extra | {"nonempty": int((sizes > 0).sum()), "min_size": int(sizes.min()),
                     "max_size": int(sizes.max()), "seconds": time.perf_counter() - t0}
    if data.y is not None:
        from evaluation.clustering import nmi

        info["nmi"] = nmi(data.y.cpu().numpy(), labels.numpy())
    if "agreement_untrained" in info or "agreement_pixels" in info:
        print(stage_summary(info), flush=True)
    state = {name: t.detach().cpu().clone() for name, t in net.state_dict().items()}
    stored = {k: v for k, v in info.items() if k != "simclr_cached"}  # true only this time
    _atomic_save({"labels": labels, "state_dict": state, "info": stored}, path)
    return labels, state, info | {"cached": False, "key": key, "path": str(path)}


def _fit_head(
    x: torch.Tensor, k: int, s: PartitionSettings, seed: int, gen: torch.Generator,
    nbrs: np.ndarray | None,
) -> tuple[LipschitzResNet, dict[str, Any]]:
    """The head on representation x: a seeded init without moving the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(streams.stream_seed(seed, "partition.init"))
        return train_partitioner(x, k, s, gen, nbrs)


def _figures(
    names: tuple[str, str], y: torch.Tensor, labels: torch.Tensor, nbrs: np.ndarray
) -> dict[str, float]:
    """{names[0]: agreement of the k-NN graph nbrs, names[1]: NMI of labels}, both against y."""
    from evaluation.clustering import nmi

    return {names[0]: neighbour_agreement(y, nbrs),
            names[1]: nmi(y.cpu().numpy(), labels.cpu().numpy())}


def reference_figures(
    data: DataBundle, subset: torch.Tensor, k: int, s: PartitionSettings,
    simclr: SimCLRSettings, seed: int,
) -> dict[str, float]:
    """Agreement and NMI of the same head on the same subset over an untrained encoder of the
    SimCLR spec (`_untrained`) and over the pixels' principal components (`_pixels`)."""
    x, y = data.x[subset].float().cpu(), data.y[subset]
    encoders: dict[str, nn.Module] = {}
    if s.representation == "simclr":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(streams.stream_seed(seed, "simclr.init"))  # SimCLR's own init
            encoders["untrained"] = build_encoder(x.shape[1], simclr)
    if s.representation != "pca":
        encoders["pixels"] = fit_pca(x, pca_dim_for(data, s), seed)
    # NMI grows with classes per point (Stacked MNIST's 1000 triples on a 10k subset: about 10
    # points a triple): random labels on the same subset give its floor.
    from evaluation.clustering import nmi

    chance = torch.randint(k, (len(y),), generator=streams.generator(seed, "random_partition"))
    out: dict[str, float] = {"nmi_random": nmi(y.cpu().numpy(), chance.numpy())}
    for tag, enc in encoders.items():
        h = representation_scale(embed(enc, x))
        nbrs = knn_graph(h.numpy(), s.neighbours)
        gen = streams.generator(seed, f"partition.reference.{tag}")
        head, _ = _fit_head(h, k, s, seed, gen, nbrs)
        out |= _figures((f"agreement_{tag}", f"nmi_{tag}"), y, label_points(head, h), nbrs)
    return out


def stage_summary(info: dict[str, Any]) -> str:
    """One line: what the representation learned, beside the references of the same run."""
    def pair(tag: str) -> str:
        a, n = (("neighbour_agreement", "nmi_subset") if tag == "used"
                else (f"agreement_{tag}", f"nmi_{tag}"))
        return f"{tag} {info[a]:.4f} / {info[n]:.3f}" if a in info else ""

    parts = [pair(t) for t in ("used", "untrained", "pixels")]
    chance = f"; NMI of random labels {info['nmi_random']:.3f}" if "nmi_random" in info else ""
    return ("partition stage, neighbour agreement / NMI on the training subset: "
            + ", ".join(p for p in parts if p) + chance)
