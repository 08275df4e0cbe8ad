"""The Inception path without the internet: torch-fidelity's extractor built from a local weights
file (written here with random weights in the expected format), its features, and FID / IS / KID
of the image scoring end to end against torch-fidelity's own `calculate_metrics`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from evaluation.features import INCEPTION_WEIGHTS_ENV, file_sha256, get_extractor, quantize_uint8
from evaluation.stats_cache import STATS_CACHE_ENV
from trainables.data.images import image_bundle
from trainables.scoring.images import image_metrics


class InceptionLayers(nn.Module):
    """torch-fidelity's FeatureExtractorInceptionV3 layers (names and shapes), randomly
    initialised: its state_dict is a weights file in the format the extractor loads."""

    def __init__(self) -> None:
        from torch_fidelity import feature_extractor_inceptionv3 as fe

        super().__init__()
        self.Conv2d_1a_3x3 = fe.BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = fe.BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = fe.BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = fe.BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = fe.BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = fe.InceptionA(192, pool_features=32)
        self.Mixed_5c = fe.InceptionA(256, pool_features=64)
        self.Mixed_5d = fe.InceptionA(288, pool_features=64)
        self.Mixed_6a = fe.InceptionB(288)
        self.Mixed_6b = fe.InceptionC(768, channels_7x7=128)
        self.Mixed_6c = fe.InceptionC(768, channels_7x7=160)
        self.Mixed_6d = fe.InceptionC(768, channels_7x7=160)
        self.Mixed_6e = fe.InceptionC(768, channels_7x7=192)
        self.Mixed_7a = fe.InceptionD(768)
        self.Mixed_7b = fe.InceptionE_1(1280)
        self.Mixed_7c = fe.InceptionE_2(2048)
        self.fc = nn.Linear(2048, 1008)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "weights-inception-random.pth"
    torch.save(InceptionLayers().state_dict(), path)
    return path


def images(n: int, channels: int, side: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, channels, side, side, generator=g) * 2 - 1).clamp(-1, 1)


def test_features_from_a_local_weights_file(weights):
    ex = get_extractor("inception", weights_path=str(weights), allow_download=False)
    desc = ex.describe()
    assert desc["weights_sha256"] == file_sha256(weights)
    assert (desc["resize"], desc["quantisation"]) == ("tf1-bilinear-299", "uint8")
    for channels, side in ((1, 28), (3, 32), (3, 64)):  # grey expanded; every size → 299
        x = images(3, channels, side, side)
        feats, logits = ex(x), ex.logits(x)
        assert feats.shape == (3, 2048) and feats.dtype == torch.float32
        assert logits.shape == (3, 1008) and torch.isfinite(feats).all()
        assert feats.std() > 0
    # uint8 quantisation: a shift within one grey level changes nothing, a level changes it.
    q = quantize_uint8(images(2, 3, 32, 7)).float()
    on_grid = q / 127.5 - 1
    same, other = on_grid + 0.3 / 127.5, on_grid + 1.0 / 127.5
    assert torch.equal(ex(on_grid), ex(same))
    assert not torch.equal(ex(on_grid), ex(other))


def test_fid_is_kid_end_to_end_equal_torch_fidelitys(weights, tmp_path, monkeypatch):
    import torch_fidelity

    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    monkeypatch.setenv(STATS_CACHE_ENV, str(tmp_path / "stats"))
    n = 40
    real, fake = images(n, 3, 32, 1), images(n, 3, 32, 2) * 0.5
    data = image_bundle("blobs", real, torch.zeros(n, dtype=torch.long), 1)
    ours, proto = image_metrics(fake, data, "inception")
    assert proto["extractor"] == "inception" and proto["n_real"] == n

    class Uint8(torch.utils.data.Dataset):
        def __init__(self, x: torch.Tensor) -> None:
            self.x = quantize_uint8(x)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.x[i]

    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8(fake), input2=Uint8(real), fid=True, isc=True, kid=True, cuda=False,
        kid_subset_size=n, feature_extractor_weights_path=str(weights), cache=False,
        verbose=False, batch_size=20, save_cpu_ram=True)  # save_cpu_ram: no loader workers
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-3)
    assert ours["is_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-5)
    assert ours["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-5)


def test_the_scorings_inception_is_kept_per_weights_file(weights, tmp_path, monkeypatch):
    from evaluation.errors import FeatureExtractorError
    from trainables.scoring.images import inception_extractor

    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(weights))
    first = inception_extractor("cpu")
    assert inception_extractor("cpu") is first  # built once per process
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(FeatureExtractorError, match="missing.pth"):
        inception_extractor("cpu")  # the earlier build does not hide weights missing now
    other = tmp_path / "other.pth"
    other.write_bytes(weights.read_bytes())
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(other))
    second = inception_extractor("cpu")
    assert second is not first and second.describe()["weights_file"] == "other.pth"
