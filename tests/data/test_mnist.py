import gzip
import shutil

import numpy as np
import pytest
import torch

from trainables.data import DatasetError, load_dataset
from trainables.data.mnist import read_idx


def _check_images(ds, n, shape):
    assert ds.x.shape == (n, *shape) and ds.x.dtype == torch.float32
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0
    assert ds.y.dtype == torch.int64 and set(ds.y.unique().tolist()) == set(range(10))
    assert ds.info["shape"] == shape and ds.info["n_classes"] == 10
    np.testing.assert_allclose(ds.info["priors"].sum(), 1.0)
    np.testing.assert_allclose(ds.info["priors"], 0.1, atol=0.015)  # near balanced


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_family_from_flat_layout(shared_data_root, name):
    _check_images(load_dataset(name, root=shared_data_root), 60_000, (1, 28, 28))
    _check_images(load_dataset(name, root=shared_data_root, split="test"), 10_000, (1, 28, 28))


def test_torchvision_layout(shared_data_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (shared_data_root / "mnist").glob("t10k-*.gz"):
        # torchvision keeps extracted copies beside the archives; read uncompressed ones here
        (raw / f.stem).write_bytes(gzip.decompress(f.read_bytes()))
    ds = load_dataset("mnist", root=tmp_path, split="test")
    ref = load_dataset("mnist", root=shared_data_root, split="test")
    assert torch.equal(ds.x, ref.x) and torch.equal(ds.y, ref.y)


def test_digits_split():
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert train.x.shape[1:] == (1, 8, 8) and len(train.x) + len(test.x) == 1797
    assert len(test.x) == 360
    assert float(train.x.min()) == -1.0 and float(train.x.max()) == 1.0
    np.testing.assert_allclose(test.info["priors"], 0.1, atol=0.01)  # stratified


def test_missing_files_name_paths_and_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDY_DATA_ROOT", raising=False)
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", root=tmp_path / "nowhere")
    msg = str(err.value)
    assert "fashion-mnist/train-images-idx3-ubyte.gz" in msg
    assert "FashionMNIST/raw/train-labels-idx1-ubyte" in msg
    assert "STUDY_DATA_ROOT" in msg and "--data-root" in msg and "download=True" in msg


def _copy_test_split(shared_data_root, tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    for f in (shared_data_root / "mnist").glob("t10k-*.gz"):
        shutil.copy(f, d / f.name)
    return d


def test_bad_magic_number(shared_data_root, tmp_path):
    d = _copy_test_split(shared_data_root, tmp_path)
    raw = bytearray(gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[3] = 0x03  # labels file now claims to be an idx3 file
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: bad idx magic number"):
        load_dataset("mnist", root=tmp_path, split="test")


def test_truncated_payload(shared_data_root, tmp_path):
    d = _copy_test_split(shared_data_root, tmp_path)
    raw = gzip.decompress((d / "t10k-images-idx3-ubyte.gz").read_bytes())
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-784], compresslevel=1))
    with pytest.raises(DatasetError, match=r"t10k-images.*expected 7840016.*truncated"):
        load_dataset("mnist", root=tmp_path, split="test")


def test_truncated_gzip_stream(shared_data_root, tmp_path):
    d = _copy_test_split(shared_data_root, tmp_path)
    path = d / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: unreadable or truncated"):
        load_dataset("mnist", root=tmp_path, split="test")


def test_wrong_sample_count(tmp_path):
    # A well-formed idx file of the wrong length is still rejected.
    labels = np.zeros(10, np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes((0x801).to_bytes(4, "big") + (10).to_bytes(4, "big") + labels.tobytes())
    with pytest.raises(DatasetError, match=r"shape \(10,\); expected \(10000,\)"):
        read_idx(path, 0x801, (), 10_000)
    assert read_idx(path, 0x801, (), 10).shape == (10,)
