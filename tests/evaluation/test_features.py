from __future__ import annotations

import time

import pytest
import torch

from evaluation.errors import FeatureExtractorError, MetricInputError
from evaluation.features import (
    INCEPTION_WEIGHTS_ENV,
    get_extractor,
    quantize_uint8,
    register_classifier,
)
from evaluation.protocol import metric_protocol


def test_raw_extractor() -> None:
    x = torch.rand(5, 1, 4, 4) * 2 - 1
    ex = get_extractor("raw")
    assert ex(x).shape == (5, 16)
    assert ex.describe()["name"] == "raw"


def test_inception_without_weights_fails_fast(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nowhere" / "weights-inception.pth"
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(missing))
    t0 = time.monotonic()
    with pytest.raises(FeatureExtractorError) as info:
        get_extractor("inception")
    assert time.monotonic() - t0 < 5
    msg = str(info.value)
    assert str(missing) in msg and INCEPTION_WEIGHTS_ENV in msg
    assert "weights-inception-2015-12-05-6726825d.pth" in msg
    with pytest.raises(FeatureExtractorError, match="weights_path"):
        get_extractor("inception", weights_path=str(missing))


def test_inception_offline_no_download(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FeatureExtractorError, match="allow_download=False"):
        get_extractor("inception", allow_download=False)


class _TinyClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 6))
        self.head = torch.nn.Linear(6, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_classifier_extractor_via_registration() -> None:
    torch.manual_seed(0)
    model = _TinyClassifier()
    register_classifier("tiny", lambda root: (model, {"weights_sha256": "abc", "test_acc": 0.9}))
    try:
        ex = get_extractor("classifier:tiny")
        x = torch.rand(7, 1, 4, 4) * 2 - 1
        feats, logits = ex(x), ex.logits(x)
        assert feats.shape == (7, 6) and logits.shape == (7, 3)
        xq = quantize_uint8(x).float() / 127.5 - 1  # inputs are uint8-quantised first
        torch.testing.assert_close(feats, model.features(xq).detach())
        desc = ex.describe()
        assert desc["name"] == "classifier:tiny" and desc["weights_sha256"] == "abc"
        assert desc["test_acc"] == 0.9 and desc["quantisation"] == "uint8"
        proto = metric_protocol(ex, n_real=100, n_fake=50, split="test", k=5)
        assert proto["extractor"] == "classifier:tiny" and proto["weights_sha256"] == "abc"
        assert proto["n_real"] == 100 and proto["is_splits"] == 10
        assert {"version_torch", "version_numpy", "version_scipy", "version_sklearn",
                "version_torch_fidelity"} <= proto.keys()
    finally:
        register_classifier("tiny", None)


def test_extractor_errors() -> None:
    with pytest.raises(FeatureExtractorError, match="unknown extractor"):
        get_extractor("vgg")
    register_classifier("tiny2", lambda root: (_TinyClassifier(), {}))
    try:
        with pytest.raises(MetricInputError, match="NCHW"):
            get_extractor("classifier:tiny2")(torch.zeros(3, 16))
        with pytest.raises(MetricInputError, match="NaN"):
            get_extractor("classifier:tiny2")(torch.full((1, 1, 4, 4), float("nan")))
    finally:
        register_classifier("tiny2", None)


def test_quantize_uint8() -> None:
    x = torch.tensor([-1.0, -0.999, 0.0, 1.0, 1.5])
    assert quantize_uint8(x).tolist() == [0, 0, 128, 255, 255]


def test_classifier_missing_gives_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STUDY_CLASSIFIERS_DIR", str(tmp_path))
    with pytest.raises(FeatureExtractorError, match="classifier:nosuchset"):
        get_extractor("classifier:nosuchset", root=str(tmp_path))


def test_inception_offline_probe_fails_fast(monkeypatch, tmp_path) -> None:
    import evaluation.features as F

    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(F, "_probe", lambda host, port, timeout: "Name or service not known")
    with pytest.raises(FeatureExtractorError, match="cannot reach github.com") as info:
        get_extractor("inception")
    assert INCEPTION_WEIGHTS_ENV in str(info.value)
