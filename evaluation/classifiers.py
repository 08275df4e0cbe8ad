"""Reference classifiers for mode counting, reverse KL and classifier features (pure torch).

Small CNNs, one per data set, taking images in [-1, 1] (what a tanh generator outputs):
`forward(x)` gives logits, `features(x)` the penultimate ReLU features. Weights live in
`<root>/<name>.pt` (a state_dict, loaded with weights_only=True) beside `<name>.json` (test
accuracy, data hash, epochs, seed, versions). Training lives in `study.reference_classifiers`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

CLASSIFIERS_DIR_ENV = "STUDY_CLASSIFIERS_DIR"


class ClassifierNotFoundError(FileNotFoundError):
    """No trained classifier of that name in the classifier folder."""


class ConvClassifier(nn.Module):
    def __init__(
        self, trunk: nn.Module, feature_dim: int, n_classes: int,
        input_shape: tuple[int, int, int], dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.trunk, self.feature_dim, self.input_shape = trunk, feature_dim, input_shape
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected images of shape {self.input_shape}, got {tuple(x.shape)}")
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def _conv(cin: int, cout: int, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def _fc(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Flatten(), nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]


def _mnist_cnn() -> ConvClassifier:
    # ~4.6M MACs per image: three conv stages 28→14→7→3, chosen to train to >99% in a few CPU
    # minutes on 2 cores.
    trunk = nn.Sequential(
        *_conv(1, 24, 5), nn.MaxPool2d(2), *_conv(24, 48), nn.MaxPool2d(2),
        *_conv(48, 96), nn.MaxPool2d(2), *_fc(96 * 3 * 3, 128),
    )
    return ConvClassifier(trunk, 128, 10, (1, 28, 28), dropout=0.2)


def _digits_cnn() -> ConvClassifier:
    trunk = nn.Sequential(*_conv(1, 16), *_conv(16, 32), nn.MaxPool2d(2), *_fc(32 * 4 * 4, 128))
    return ConvClassifier(trunk, 128, 10, (1, 8, 8), dropout=0.3)


def _cifar_cnn() -> ConvClassifier:
    # VGG-style 32→16→8→4, global average pool; ~38M MACs per image.
    trunk = nn.Sequential(
        *_conv(3, 32), *_conv(32, 32), nn.MaxPool2d(2),
        *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2),
        *_conv(64, 128), *_conv(128, 128), nn.MaxPool2d(2),
        *_conv(128, 256), nn.AdaptiveAvgPool2d(1), *_fc(256, 256),
    )
    return ConvClassifier(trunk, 256, 10, (3, 32, 32), dropout=0.3)


ARCHITECTURES: dict[str, Callable[[], ConvClassifier]] = {
    "mnist": _mnist_cnn,
    "fashion_mnist": _mnist_cnn,
    "digits": _digits_cnn,
    "cifar10": _cifar_cnn,
}


def available_classifiers() -> list[str]:
    return sorted(ARCHITECTURES)


def build_classifier(name: str) -> ConvClassifier:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown classifier {name!r}; expected one of {available_classifiers()}")
    return ARCHITECTURES[name]()


def classifiers_dir(root: str | os.PathLike | None = None) -> Path:
    """Argument, else $STUDY_CLASSIFIERS_DIR, else ~/.cache/gan-mode-study/classifiers."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(CLASSIFIERS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache/gan-mode-study/classifiers"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    # Write beside the target then rename, so a reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_classifier(
    model: nn.Module, name: str, root: str | os.PathLike | None, meta: dict[str, Any]
) -> Path:
    """Write `<root>/<name>.pt` (state_dict) then `<name>.json`; returns the .pt path."""
    folder = classifiers_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.pt"
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _atomic_write(weights, lambda p: torch.save(state, p))
    # The json goes last: its presence marks a complete pair.
    meta = {"name": name, "arch": name, **meta}
    _atomic_write(
        folder / f"{name}.json", lambda p: p.write_text(json.dumps(meta, indent=2, default=str))
    )
    return weights


def load_classifier(
    name: str, root: str | os.PathLike | None = None
) -> tuple[ConvClassifier, dict[str, Any]]:
    """The trained classifier (eval mode, CPU) and its metadata."""
    folder = classifiers_dir(root)
    weights, meta_path = folder / f"{name}.pt", folder / f"{name}.json"
    if not weights.is_file() or not meta_path.is_file():
        raise ClassifierNotFoundError(
            f"no trained classifier {name!r} in {folder} (looked for {weights.name} and "
            f"{meta_path.name}). Train it with `study classifiers train {name}`, or point "
            f"${CLASSIFIERS_DIR_ENV} at a folder that holds it."
        )
    meta = json.loads(meta_path.read_text())
    model = build_classifier(meta.get("arch", name))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"{weights}: weights do not fit the current {name!r} architecture; retrain with "
            f"`study classifiers train {name}`"
        ) from exc
    return model.eval(), meta


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of `x` in eval mode, batched on the model's device; returned on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.cat([
        model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)
    ])
    model.train(was_training)
    return out


@torch.no_grad()
def stacked_mnist_modes(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mode labels 100a + 10b + c of Stacked MNIST images N×3×H×W in [-1, 1], classifying each
    channel with the MNIST classifier (other sizes are resized to 28×28 first)."""
    return triples(stacked_mnist_channel_logits(model, x, batch_size))


def triples(channel_logits: torch.Tensor) -> torch.Tensor:
    """Mode labels 100a + 10b + c from per-channel logits (3N, 10) in (image, channel) order."""
    return channel_logits.argmax(1).reshape(-1, 3) @ torch.tensor([100, 10, 1])


@torch.no_grad()
def stacked_mnist_channel_logits(model: nn.Module, x: torch.Tensor,
                                 batch_size: int = 1000) -> torch.Tensor:
    """The MNIST classifier's logits of each channel of N×3×H×W images, shape (3N, 10), channel
    order (image, channel): the modes and the per-channel learning gate both read them."""
    n, c, h, w = x.shape
    if c != 3:
        raise ValueError(f"expected 3-channel Stacked MNIST images, got shape {tuple(x.shape)}")
    channels = x.reshape(n * 3, 1, h, w)
    if (h, w) != (28, 28):
        # Bicubic undoes the loader's 28→32 bilinear upsampling best (per-digit accuracy 98.9%
        # vs 97.4% for antialiased bilinear and 95.7% for area on resized MNIST test digits).
        channels = torch.nn.functional.interpolate(
            channels, size=(28, 28), mode="bicubic", align_corners=False
        ).clamp_(-1, 1)
    return predict_logits(model, channels, batch_size)
