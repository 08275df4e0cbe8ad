"""Image evaluation in the loop (no Ray): FID / PR-DC / IS / modes of a stand-in method whose
"generated" images are real MNIST test images (or noise), with a tiny classifier trained here and
registered as classifier:mnist; the stats cache, the PNGs, protocol.json and the clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from evaluation.classifiers import CLASSIFIERS_DIR_ENV, ConvClassifier, stacked_mnist_modes
from evaluation.errors import FeatureExtractorError
from evaluation.features import get_extractor, register_classifier
from evaluation.fid import fid_from_features
from evaluation.modes import mode_metrics
from evaluation.stats_cache import STATS_CACHE_ENV
from trainables.core.context import RunContext
from trainables.core.method import GANMethod, MethodConfig
from trainables.data import DataBundle, load_dataset
from trainables.data.images import image_bundle
from trainables.scoring.evaluate import evaluate
from trainables.scoring.images import ChannelAdapter, resolve_features

PNG = b"\x89PNG\r\n\x1a\n"
N_REAL, N_FAKE = 1000, 500


class StandIn(GANMethod):
    """Samples are given images (in order); optional per-condition rows."""

    def __init__(self, data: DataBundle, pool: torch.Tensor,
                 rows: tuple[torch.Tensor, list[str]] | None = None) -> None:
        super().__init__(MethodConfig(), data, RunContext(torch.device("cpu"), 0))
        self.pool, self.rows = pool, rows

    def networks(self) -> dict[str, nn.Module]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        return {}

    def sample(self, n: int) -> torch.Tensor:
        return self.pool[:n]

    def sample_by_condition(self, n_per_row: int, max_rows: int = 10):
        return self.rows


class Counting(ConvClassifier):
    """Counts the images its feature layer sees: shows what a second evaluation recomputes."""

    seen = 0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        Counting.seen += len(x)
        return super().features(x)


@pytest.fixture(scope="module")
def mnist(shared_datasets: Path) -> DataBundle:
    return load_dataset("mnist", root=shared_datasets, split="test")


@pytest.fixture(scope="module")
def tiny_classifier(mnist: DataBundle) -> ConvClassifier:
    """784→64→10 MLP on 5000 test images (not the ones evaluated as 'real' below): ~87%."""
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU())
    model = Counting(trunk, 64, 10, (1, 28, 28))
    x, y = mnist.x[4000:9000], mnist.y[4000:9000]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(2):
        for i in torch.randperm(len(x)).split(100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(mnist.x[9000:]).argmax(1) == mnist.y[9000:]).float().mean().item()
    assert acc > 0.8, acc
    return model


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_classifier):
    """Fresh stats cache; classifier:mnist is the tiny classifier; no real classifier folder."""
    monkeypatch.setenv(STATS_CACHE_ENV, str(tmp_path / "stats"))
    monkeypatch.setenv(CLASSIFIERS_DIR_ENV, str(tmp_path / "no_classifiers"))
    register_classifier("mnist", lambda root: (tiny_classifier, {"weights_sha256": "tiny-test"}))
    yield tmp_path
    register_classifier("mnist", None)


def _subset(mnist: DataBundle, lo: int, hi: int) -> DataBundle:
    return image_bundle("mnist", mnist.x[lo:hi], mnist.y[lo:hi], 10)


def _valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG, path
    with Image.open(path) as im:
        im.verify()


def test_real_images_score_well_and_noise_badly(env, mnist, tiny_classifier):
    data = _subset(mnist, 0, N_REAL)
    real = evaluate(StandIn(data, mnist.x[N_REAL:N_REAL + N_FAKE]), data, N_FAKE, 10, None)
    noise_pool = torch.rand(N_FAKE, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = evaluate(StandIn(data, noise_pool), data, N_FAKE, 10, None)

    # FID equals the direct computation in the classifier's feature space (all 1000 real images).
    ex = get_extractor("classifier:mnist")
    direct = fid_from_features(ex(data.x), ex(mnist.x[N_REAL:N_REAL + N_FAKE]))["fid"]
    assert real["fid"] == pytest.approx(direct, rel=1e-6)
    assert real["fid"] < 0.05 * noise["fid"], (real["fid"], noise["fid"])
    assert real["precision"] > 0.6 and real["recall"] > 0.6
    assert real["density"] > 0.6 and real["coverage"] > 0.6
    assert noise["precision"] < 0.1 and noise["recall"] < 0.1 and noise["coverage"] < 0.1
    # Modes: the tiny classifier's argmax histogram against the data's class priors.
    pred = ex.logits(mnist.x[N_REAL:N_REAL + N_FAKE]).argmax(1).numpy()
    assert real["modes_covered"] == len(np.unique(pred)) == 10
    assert real["reverse_kl"] < 0.05 and real["off_mode_frac"] == 0.0
    assert real["is_mean"] > 5 > noise["is_mean"]
    assert real["modes_confident"] == 10 and noise["modes_confident"] <= noise["modes_covered"]


def test_a_collapsed_generator_loses_modes(env, mnist):
    data = _subset(mnist, 0, N_REAL)
    ones = mnist.x[N_REAL:][mnist.y[N_REAL:] == 1][:200]
    got = evaluate(StandIn(data, ones), data, len(ones), 10, None)
    pred = get_extractor("classifier:mnist").logits(ones).argmax(1).numpy()
    expect = mode_metrics(np.bincount(pred, minlength=10), p_data=data.info["priors"])
    assert got["modes_covered"] == expect["modes_covered"] < 5
    assert got["reverse_kl"] == pytest.approx(expect["reverse_kl"]) and got["reverse_kl"] > 1.5
    assert got["coverage"] < 0.3 < got["precision"]  # only the real ones are covered


def test_real_statistics_are_cached_once_and_reused(env, mnist):
    data = _subset(mnist, 0, N_REAL)
    method = StandIn(data, mnist.x[N_REAL:N_REAL + N_FAKE])
    Counting.seen = 0
    first = evaluate(method, data, N_FAKE, 10, None)
    seen_first = Counting.seen
    files = sorted((env / "stats").glob("*.npz"))
    assert len(files) == 2  # FID statistics and the PR/DC real set with its radii
    mtimes = [f.stat().st_mtime_ns for f in files]

    Counting.seen = 0
    second = evaluate(method, data, N_FAKE, 20, None)
    # Only the generated images went through the classifier (features, then logits).
    assert seen_first == N_REAL + 2 * N_FAKE and Counting.seen == 2 * N_FAKE
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert second == first
    # Another eval_samples: FID statistics reused, only the smaller PR/DC real set is new.
    Counting.seen = 0
    evaluate(StandIn(data, mnist.x[N_REAL:N_REAL + 200]), data, 200, 30, None)
    assert Counting.seen == 200 + 2 * 200
    assert len(list((env / "stats").glob("*.npz"))) == 3
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    # Other real images (another subset / options) are another entry.
    other = _subset(mnist, 0, 800)
    evaluate(StandIn(other, mnist.x[N_REAL:N_REAL + N_FAKE]), other, N_FAKE, 10, None)
    assert len(list((env / "stats").glob("*.npz"))) == 5


def test_missing_classifier_names_it_and_the_training_command(tmp_path, monkeypatch, mnist):
    monkeypatch.setenv(CLASSIFIERS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv(STATS_CACHE_ENV, str(tmp_path / "stats"))
    data = _subset(mnist, 0, 200)
    with pytest.raises(FeatureExtractorError) as info:
        evaluate(StandIn(data, mnist.x[200:300]), data, 100, 10, None)
    msg = str(info.value)
    assert "classifier:mnist" in msg and "study classifiers train mnist" in msg
    assert str(tmp_path / "empty") in msg


def test_auto_features_per_data_set():
    def bundle(name: str, **info) -> DataBundle:
        return DataBundle(name, torch.zeros(1, 1, 28, 28), None, info)

    assert resolve_features(bundle("mnist")) == "classifier:mnist"
    assert resolve_features(bundle("stacked_mnist")) == "classifier:mnist"
    assert resolve_features(bundle("mnist5", base="mnist")) == "classifier:mnist"
    assert resolve_features(bundle("fmnist5", base="fashion_mnist")) == "classifier:fashion_mnist"
    assert resolve_features(bundle("fashion_mnist")) == "classifier:fashion_mnist"
    assert resolve_features(bundle("cifar10")) == "classifier:cifar10"
    assert resolve_features(bundle("stl10")) == "inception"
    assert resolve_features(bundle("mnist"), "raw") == "raw"


def test_pngs_protocol_and_conditions_only_when_the_hook_returns_rows(env, mnist):
    data = _subset(mnist, 0, N_REAL)
    plain = env / "plain"
    evaluate(StandIn(data, mnist.x[N_REAL:N_REAL + 100]), data, 100, 30, plain)
    assert sorted(p.name for p in plain.iterdir()) == ["protocol.json", "samples_step0000030.png"]
    _valid_png(plain / "samples_step0000030.png")
    with Image.open(plain / "samples_step0000030.png") as im:  # 8×8 tiles of 28 px + padding
        assert im.size == (8 * 30 + 2, 8 * 30 + 2)
    proto = json.loads((plain / "protocol.json").read_text())
    assert proto["extractor"] == "classifier:mnist" and proto["weights_sha256"] == "tiny-test"
    assert (proto["n_real"], proto["n_fake"], proto["k"], proto["is_splits"]) == (
        N_REAL, 100, 5, 10)
    assert proto["n_real_prdc"] == 100 and proto["quantisation"] == "uint8"

    rows = mnist.x[:30].reshape(3, 10, 1, 28, 28)
    labelled = env / "labelled"
    evaluate(StandIn(data, mnist.x[N_REAL:N_REAL + 100], (rows, ["a", "b", "c"])), data, 100,
             30, labelled)
    _valid_png(labelled / "conditions_step0000030.png")

    bad = StandIn(data, mnist.x[N_REAL:N_REAL + 100], (rows, ["a"]))
    with pytest.raises(ValueError, match="sample_by_condition.*one label per row"):
        evaluate(bad, data, 100, 30, env / "bad")


def test_conditions_scatter_for_2d_points(tmp_path, shared_datasets):
    data = load_dataset("ring", root=shared_datasets, n=2000)
    centers = torch.as_tensor(np.asarray(data.info["centers"]), dtype=torch.float32)
    rows = centers[:, None, :] + 0.01 * torch.randn(len(centers), 50, 2)
    out = tmp_path / "toy"
    evaluate(StandIn(data, data.x[:500], (rows, [f"cluster {i}" for i in range(8)])), data,
             500, 40, out)
    _valid_png(out / "samples_step0000040.png")
    _valid_png(out / "conditions_step0000040.png")
    assert json.loads((out / "protocol.json").read_text())["extractor"] == "raw"


def test_stacked_mnist_per_channel_features_and_1000_modes(env, shared_datasets,
                                                          tiny_classifier):
    data = load_dataset("stacked_mnist", root=shared_datasets, split="test", n=400, size=32)
    samples = data.x[:200]
    out = env / "stacked"
    metrics = evaluate(StandIn(data, samples), data, 200, 50, out)
    modes = stacked_mnist_modes(tiny_classifier, samples)
    assert metrics["modes_covered"] == len(torch.unique(modes)) > 150
    # Modes among the samples whose three channels all read with p >= 0.9, counted directly.
    from evaluation.classifiers import stacked_mnist_channel_logits

    probs = stacked_mnist_channel_logits(tiny_classifier, samples).softmax(1)
    p = probs.amax(1)
    sure = (p >= 0.9).reshape(-1, 3).all(1)
    top2 = probs.topk(2, dim=1).values.sum(1)
    between = ((p < 0.9) & (top2 >= 0.9)).float().mean()
    assert metrics["between_frac"] == pytest.approx(float(between), abs=1e-6)
    assert metrics["modes_confident"] == len(torch.unique(modes[sure])) <= metrics["modes_covered"]
    assert metrics["confident_frac"] == pytest.approx(float((p >= 0.9).float().mean()))
    proto = json.loads((out / "protocol.json").read_text())
    assert proto["extractor"] == "classifier:mnist/per-channel"
    assert proto["feature_dim"] == 3 * 64 and "1000 modes" in proto["mode_classifier"]
    assert proto["resize"] == "bicubic to 28x28, clamped"
    assert 0 < metrics["is_mean"] and metrics["fid"] >= 0
    with Image.open(out / "samples_step0000050.png") as im:
        assert im.mode == "RGB"

    # Joint logits: their argmax is the per-channel argmax triple, first channel major.
    ex = get_extractor("classifier:mnist")
    adapter = ChannelAdapter(ex, (1, 28, 28), (3, 32, 32))
    joint = adapter.logits(samples[:20])
    per = ex.logits(torch.nn.functional.interpolate(
        samples[:20].reshape(60, 1, 32, 32), size=(28, 28), mode="bicubic",
        align_corners=False).clamp(-1, 1)).argmax(1).reshape(20, 3)
    assert joint.shape == (20, 1000)
    assert torch.equal(joint.argmax(1), per @ torch.tensor([100, 10, 1]))


def test_the_reference_split_is_the_specs_and_kid_scores_against_it(env):
    """eval_split test: FID, PR/DC and KID against the data set's test split, recorded in the
    protocol; the training split gives other numbers from the same samples."""
    from evaluation.kid import kid
    from trainables.scoring.images import real_subset

    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    noise = torch.randn(100, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    fake = train.x[:100] + 0.1 * noise
    on_test = evaluate(StandIn(train, fake), train, 100, 10, env / "test", "raw", split="test")
    on_train = evaluate(StandIn(train, fake), train, 100, 10, env / "train", "raw")
    proto = json.loads((env / "test" / "protocol.json").read_text())
    assert proto["split"] == "test" and proto["n_real"] == len(test.x)
    real = test.x.flatten(1)
    assert on_test["fid"] == pytest.approx(fid_from_features(real, fake.flatten(1))["fid"],
                                           rel=1e-6)
    ref = real[real_subset(test, 100)]
    assert on_test["kid_mean"] == kid(ref, fake.flatten(1))["kid_mean"]
    assert "cubic polynomial kernel, 100 subsets of 100" in proto["kid"]
    assert on_train["fid"] != on_test["fid"] and on_train["kid_mean"] != on_test["kid_mean"]


def test_a_missing_split_is_named(env, mnist):
    data = _subset(mnist, 0, 100)  # built by hand: only its own (training) split is known
    with pytest.raises(Exception, match="built by hand, so its 'test' split is unknown"):
        evaluate(StandIn(data, mnist.x[:50]), data, 50, 10, None, split="test")
