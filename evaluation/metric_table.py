"""Every metric a run reports, in one table: which way is better, on which data (and from which
trainers), the report's column label, and what it means.

It feeds the results table (`results.parquet` columns), the report's columns, arrows and τ
curves, and the check of a spec's `metric` / `mode` (a metric the trainer never reports on that
data, or a mode against the metric's direction, is refused before anything runs). A new metric
is one function in this package plus one row here.

Data kinds: `toy2d` (ring, grid), `mixture` (Gaussians in R^d), `image`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TOY = ("toy2d", "mixture")
KINDS = (*TOY, "image")
Where = dict[str, tuple[str, ...] | None]  # data kind → trainers reporting it (None: every one)


@dataclass(frozen=True)
class Metric:
    name: str  # a key as logged (also matches `live_<name>` and `<name>_tau<τ>`)
    mode: Literal["max", "min"] | None  # None: a diagnostic with no better direction
    where: Where
    label: str  # report column header
    description: str
    table: bool = False  # a column of the report's summary table
    curve: bool = False  # plotted against τ_infer (logged as `<name>_tau<τ>`)
    when: str = ""  # reported only under this condition (else always where listed)

    def reported(self, kind: str, trainer: str) -> bool:
        trainers = self.where.get(kind, ())
        return trainers is None or trainer in trainers

    @property
    def arrow(self) -> str:
        return {"max": " ↑", "min": " ↓", None: ""}[self.mode]


def _all(*kinds: str) -> Where:
    return dict.fromkeys(kinds)


_CLUSTERED = ("selfcond_gan", "pgmgan")
_NEMGAN = ("nemgan",)
_SIMPLICIAL = ("simplicial",)
_PRDC = {"image": None, "mixture": _SIMPLICIAL}  # simplicial scores PR/DC on vectors itself
_EVERY_KIND_NEMGAN = {k: _NEMGAN for k in KINDS}

METRIC_TABLE: tuple[Metric, ...] = (
    # Toy data (evaluation.toy): the Self-Cond / PGMGAN 2D protocol.
    Metric("modes", "max", _all(*TOY), "modes", "modes with a high-quality sample", True),
    Metric("high_quality_pct", "max", _all(*TOY), "% high quality",
           "% of samples within 3 std (Euclidean, d-dim radius) of a mode mean", True),
    Metric("high_quality_pct_box", "max", _all("toy2d"), "% HQ (authors' box)",
           "the authors' per-coordinate 3-std box", True),
    Metric("modes_box", "max", _all("toy2d"), "modes (box)", "modes under the box criterion"),
    Metric("reverse_kl", "min", _all(*TOY), "reverse KL",
           "KL(generated mode histogram ‖ data's mode weights), natural log", True),
    Metric("mode_freq_l1", "min", _all(*TOY, "image"), "mode freq. L1",
           "L1 between the generated and the data's mode frequencies", True),
    Metric("mode_spread", None, _all(*TOY), "mode spread (1 = data's)",
           "median distance to the nearest mode mean over the data's (1 matches the data; "
           "below 1 is narrower, which high quality rewards)", True),
    # Images (trainables.scoring.images): features, then FID / IS / PR-DC / classifier modes.
    Metric("fid", "min", _all("image"), "FID", "Fréchet distance of feature statistics", True),
    Metric("fid_rank_deficient", None, _all("image"), "FID rank-deficient",
           "1 when fewer samples than feature dimensions"),
    Metric("is_mean", "max", _all("image"), "IS", "Inception score", True,
           when="features with class logits (inception, classifier)"),
    Metric("is_std", None, _all("image"), "IS std", "Inception score over splits: std",
           when="features with class logits (inception, classifier)"),
    Metric("kid_mean", "min", _all("image"), "KID",
           "kernel Inception distance: unbiased MMD², cubic kernel, 100 subsets (torch-fidelity)",
           True),
    Metric("kid_std", None, _all("image"), "KID std", "KID over its subsets: std"),
    Metric("precision", "max", _PRDC, "precision", "Kynkäänniemi 2019 (k = 5)", True, True),
    Metric("recall", "max", _PRDC, "recall", "Kynkäänniemi 2019 (k = 5)", True, True),
    Metric("density", "max", _PRDC, "density", "Naeem 2020 (k = 5)", True, True),
    Metric("coverage", "max", _PRDC, "coverage", "Naeem 2020 (k = 5)", True, True),
    Metric("modes_covered", "max", _all("image"), "modes (classifier)",
           "classifier modes with a sample (Stacked MNIST: 1000)", True,
           when="a reference classifier for the data"),
    Metric("reverse_kl_log10", "min", _all("image"), "reverse KL (log10)",
           "KL of classifier-mode frequencies, log10 (PacGAN)", True,
           when="a reference classifier for the data"),
    Metric("reverse_kl_log10_uniform", "min", {"image": None}, "reverse KL (log10, uniform)",
           "Stacked MNIST: KL against the uniform 1000 triples (PacGAN's and the papers' "
           "reference) beside the data's own triple frequencies", when="data set stacked_mnist"),
    Metric("confident_frac", "max", _all("image"), "learning gate",
           "share of samples (Stacked MNIST: of channels) the reference classifier reads with "
           "p >= 0.9: below about 0.8 a mode count counts classifier noise, not modes "
           "(real data: 0.96)", True, when="a reference classifier for the data"),
    Metric("between_frac", "min", _all("image"), "between two modes",
           "share of samples (Stacked MNIST: of channels) the reference classifier reads as two "
           "classes at once (top two p >= 0.9 together, top p < 0.9): samples between modes, "
           "the mode connecting the papers fight (real data: 0.03)", True,
           when="a reference classifier for the data"),
    Metric("modes_confident", "max", _all("image"), "modes (confident samples)",
           "modes covered by the samples the reference classifier reads with p >= 0.9 (Stacked "
           "MNIST: all three channels): a count classifier noise cannot inflate", True,
           when="a reference classifier for the data"),
    Metric("off_mode_frac", "min", _all("image"), "off-mode fraction",
           "samples the classifier puts in no mode", when="a reference classifier for the data"),
    # Methods' own (trainables.<method>.evaluate).
    Metric("nmi", "max", {k: (*_CLUSTERED, *_NEMGAN) for k in KINDS}, "NMI",
           "partition / cluster / inverter labels against the classes", True,
           when="data with class labels"),
    Metric("purity", "max", {k: _CLUSTERED for k in KINDS}, "purity",
           "majority-class share per partition or cluster", when="data with class labels"),
    Metric("acc", "max", _EVERY_KIND_NEMGAN, "ACC", "NEMGAN inverter's cluster accuracy", True),
    Metric("acc_majority", None, _EVERY_KIND_NEMGAN, "ACC of one cluster",
           "ACC of putting every evaluated point in one cluster: the largest class's share", True),
    Metric("ari", "max", _EVERY_KIND_NEMGAN, "ARI", "adjusted Rand index", True),
    Metric("code_purity", "max", _EVERY_KIND_NEMGAN, "purity (authors')",
           "the NEMGAN authors' protocol: k-means on ẑ of the oversampled, balanced test set",
           True, when="data with class labels"),
    Metric("code_nmi", "max", _EVERY_KIND_NEMGAN, "NMI (authors')",
           "NMI under the authors' protocol", when="data with class labels"),
    Metric("code_ari", "max", _EVERY_KIND_NEMGAN, "ARI (authors')",
           "ARI under the authors' protocol", when="data with class labels"),
    Metric("code_purity_floor", None, _EVERY_KIND_NEMGAN, "purity of one cluster (authors')",
           "purity of one cluster on the balanced set: 1/classes", True,
           when="data with class labels"),
    Metric("prior_l1", "min", _EVERY_KIND_NEMGAN, "prior L1",
           "L1 of the learned priors to the class frequencies"),
    Metric("fake_prior_l1", "min", _EVERY_KIND_NEMGAN, "fake prior L1",
           "L1 of the inverter's histogram of samples to the class frequencies"),
    Metric("mode_consistency", "max", _EVERY_KIND_NEMGAN, "mode consistency",
           "share of G(e_y + ν) the inverter assigns to y"),
    Metric("acceptance_rate", None, {k: ("pgmgan", "simplicial") for k in KINDS},
           "acceptance", "share of draws accepted (rejection sampling / truncation)",
           when="simplicial: sampler simplicial"),
    Metric("acceptance_rate_infer", None, {k: _SIMPLICIAL for k in KINDS}, "acceptance (τ_infer)",
           "acceptance at τ_infer", when="sampler simplicial"),
    Metric("acceptance", None, {k: _SIMPLICIAL for k in KINDS}, "acceptance",
           "acceptance at each τ of the sweep", curve=True, when="sampler simplicial"),
    Metric("logreg_acc", "max", {k: _SIMPLICIAL for k in KINDS}, "logreg acc",
           "simplicial Sec. 4.1: latent-class separability",
           when="samples of two or more latent classes"),
    Metric("convex_acc", "max", {k: _SIMPLICIAL for k in KINDS}, "convex acc",
           "simplicial Sec. 4.1: convex-combination accuracy",
           when="samples of two or more latent classes"),
)

_BY_NAME = {m.name: m for m in METRIC_TABLE}
_TAU = re.compile(r"^(?P<base>[a-z_]+)_tau[0-9.e+-]+$")


def names() -> list[str]:
    return list(_BY_NAME)


def lookup(name: str) -> Metric | None:
    """The row of a logged key: exact, `live_<name>` (G beside its average) or `<name>_tau<τ>`
    (simplicial's value at one τ)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("live_") and name[5:] in _BY_NAME:
        return _BY_NAME[name[5:]]
    m = _TAU.match(name)
    return _BY_NAME.get(m["base"]) if m else None


def reported(kind: str, trainer: str) -> list[str]:
    """Names a trainer reports on this kind of data (objective candidates first)."""
    rows = [m for m in METRIC_TABLE if m.reported(kind, trainer)]
    return [m.name for m in sorted(rows, key=lambda m: m.mode is None)]


def label(name: str) -> str:
    row = lookup(name)
    return f"{row.label}{row.arrow}" if row else name


def table_metrics() -> list[str]:
    return [m.name for m in METRIC_TABLE if m.table]


def curve_metrics() -> list[str]:
    return [m.name for m in METRIC_TABLE if m.curve]


def lower_is_better() -> set[str]:
    return {m.name for m in METRIC_TABLE if m.mode == "min"}
