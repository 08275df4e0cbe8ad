"""Reference classifiers: save/load round trip, and the accuracy targets (the slow tests)."""

import json
import os
from pathlib import Path

import pytest
import torch

from evaluation.classifiers import (
    ClassifierNotFoundError,
    build_classifier,
    load_classifier,
    predict_logits,
    save_classifier,
    stacked_mnist_modes,
)
from study.reference_classifiers import data_hash, train_classifier
from trainables.data import load_dataset


@pytest.mark.parametrize(
    "name, shape", [("mnist", (1, 28, 28)), ("fashion_mnist", (1, 28, 28)),
                    ("digits", (1, 8, 8)), ("cifar10", (3, 32, 32))],
)
def test_build_shapes(name, shape):
    model = build_classifier(name).eval()
    x = torch.rand(3, *shape) * 2 - 1
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, model.feature_dim)


def test_save_load_round_trip(tmp_path):
    model = build_classifier("digits").eval()
    with torch.no_grad():  # non-trivial BN statistics must survive too
        model.trunk[1].running_mean.uniform_()
    save_classifier(model, "digits", tmp_path, {"test_accuracy": 0.5, "seed": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.json", "digits.pt"]
    assert torch.load(tmp_path / "digits.pt", weights_only=True)  # plain tensors only
    loaded, meta = load_classifier("digits", tmp_path)
    assert meta["test_accuracy"] == 0.5 and meta["seed"] == 3 and not loaded.training
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(loaded(x), model(x))


def test_missing_classifier_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CLASSIFIERS_DIR", str(tmp_path))
    with pytest.raises(ClassifierNotFoundError, match="study classifiers train mnist"):
        load_classifier("mnist")
    with pytest.raises(ValueError, match="unknown classifier"):
        build_classifier("imagenet")


@pytest.fixture(scope="session")
def classifiers_dir(tmp_path_factory):
    # CI may cache trained classifiers across runs through $STUDY_CLASSIFIERS_DIR.
    env = os.environ.get("STUDY_CLASSIFIERS_DIR")
    return env if env else tmp_path_factory.mktemp("classifiers")


def _trained(name, data_root, out_dir):
    """Load a cached classifier trained on this very data, else train it once."""
    try:
        model, meta = load_classifier(name, out_dir)
        test = load_dataset(name, root=data_root, split="test")
        train = load_dataset(name, root=data_root, split="train")
        if meta.get("data_hash") == data_hash(train.x, train.y, test.x, test.y):
            return model, meta
    except ClassifierNotFoundError:
        pass
    train_classifier(name, data_root=data_root, out_dir=out_dir, verbose=False)
    return load_classifier(name, out_dir)


def _test_accuracy(model, name, data_root):
    test = load_dataset(name, root=data_root, split="test")
    return float((predict_logits(model, test.x).argmax(1) == test.y).float().mean())


def test_digits_classifier_accuracy(classifiers_dir):
    model, meta = _trained("digits", None, classifiers_dir)
    acc = _test_accuracy(model, "digits", None)
    assert acc >= 0.97 and acc == pytest.approx(meta["test_accuracy"], abs=1e-6)
    stored = json.loads((Path(classifiers_dir) / "digits.json").read_text())
    assert stored["epochs"] > 0 and stored["data_hash"] == meta["data_hash"]


@pytest.mark.slow
def test_mnist_classifier_accuracy(shared_data_root, classifiers_dir):
    model, meta = _trained("mnist", shared_data_root, classifiers_dir)
    acc = _test_accuracy(model, "mnist", shared_data_root)
    assert acc >= 0.99, f"MNIST reference classifier reached only {acc:.4f}"
    assert acc == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert meta["data_hash"].startswith("sha256:") and meta["versions"]["torch"]
    # Applied per channel it recovers Stacked MNIST modes, at 28×28 and resized to 32×32.
    for size, target in ((None, 0.97), (32, 0.95)):
        sm = load_dataset("stacked_mnist", root=shared_data_root, split="test", n=2000, size=size)
        assert float((stacked_mnist_modes(model, sm.x) == sm.y).float().mean()) >= target


@pytest.fixture(scope="module")
def read_triples(shared_data_root, classifiers_dir):
    """The MNIST classifier, 3000 real 32×32 test triples, one index per distinct triple it reads
    right, and the learning gate on them (read once for the three calibrations)."""
    from evaluation.classifiers import stacked_mnist_channel_logits, triples
    from evaluation.modes import confident_share

    model, _ = _trained("mnist", shared_data_root, classifiers_dir)
    sm = load_dataset("stacked_mnist", root=shared_data_root, split="test", n=3000, size=32)
    logits = stacked_mnist_channel_logits(model, sm.x)
    first: dict[int, int] = {}
    for i, (y, r) in enumerate(zip(sm.y.tolist(), triples(logits).tolist(), strict=True)):
        if y == r and y not in first:
            first[y] = i
    return model, sm, list(first.values()), confident_share(logits.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("m", [1, 10, 100])
def test_mode_count_calibration(read_triples, m):
    """M distinct real triples, repeated to the 10k samples a run scores, count exactly M modes
    (the Self-Cond authors' counting, dropout on at evaluation and fed [0, 255], read 10
    distinct outputs as 41 modes); real triples pass the learning gate almost always."""
    from evaluation.modes import mode_histogram, modes_covered

    model, sm, first, gate = read_triples
    assert len(first) >= m
    picks = torch.tensor(first[:m])
    samples = sm.x[picks.repeat(10_000 // m + 1)[:10_000]]
    modes = stacked_mnist_modes(model, samples).numpy()
    assert modes_covered(mode_histogram(modes, 1000)) == m
    # The learning gate on real triples (0.96 here): what a generator of digits approaches.
    assert gate > 0.9
