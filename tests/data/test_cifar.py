import pickle

import numpy as np
import pytest
import torch

from trainables.data import DatasetError, load_dataset


def test_cifar10_npz_subset(shared_data_root):
    if not (shared_data_root / "cifar-10-subset").is_dir():
        pytest.skip("no CIFAR-10 subset in the offline copies")
    train = load_dataset("cifar10", root=shared_data_root)
    test = load_dataset("cifar10", root=shared_data_root, split="test")
    assert train.x.shape == (10_000, 3, 32, 32) and test.x.shape == (1000, 3, 32, 32)
    assert train.info["subset"] is True and train.info["n_classes"] == 10
    assert float(train.x.min()) == -1.0 and float(train.x.max()) == 1.0
    np.testing.assert_allclose(train.info["priors"], 0.1, atol=0.01)


def _write_pickle(path, n, label_key, n_classes, seed):
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             label_key: rng.integers(0, n_classes, n).tolist()}
    path.write_bytes(pickle.dumps(batch))
    return batch


def test_cifar10_pickles_preferred(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    batches = [_write_pickle(d / f"data_batch_{i}", 4, b"labels", 10, i) for i in range(1, 6)]
    _write_pickle(d / "test_batch", 3, b"labels", 10, 9)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x.shape == (20, 3, 32, 32) and ds.info["subset"] is False
    first = torch.from_numpy(batches[0][b"data"][0].reshape(3, 32, 32).astype(np.float32))
    assert torch.allclose(ds.x[0], first / 127.5 - 1)
    assert ds.y[:4].tolist() == batches[0][b"labels"]
    (d / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetError, match="test_batch: not a valid CIFAR python pickle"):
        load_dataset("cifar10", root=tmp_path, split="test")


def test_cifar10_missing_and_bad_npz(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", root=tmp_path)
    assert "cifar-10-batches-py/data_batch_1" in str(err.value)
    assert "cifar-10-subset" in str(err.value) and "download=True" in str(err.value)
    (tmp_path / "cifar-10-subset").mkdir()
    np.savez(tmp_path / "cifar-10-subset" / "bad.npz", x_train=np.zeros((2, 32, 32), np.uint8),
             y_train=np.zeros(2))
    with pytest.raises(DatasetError, match="expected uint8 N×32×32×3"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar100_fine_and_coarse(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8),
             b"fine_labels": [0, 99, 5, 6, 7, 8], b"coarse_labels": [0, 19, 1, 2, 3, 4]}
    (d / "train").write_bytes(pickle.dumps(batch))
    fine = load_dataset("cifar100", root=tmp_path)
    coarse = load_dataset("cifar100", root=tmp_path, label_mode="coarse")
    assert fine.info["n_classes"] == 100 and coarse.info["n_classes"] == 20
    assert fine.y.tolist() == batch[b"fine_labels"] and coarse.y.max() == 19
    with pytest.raises(DatasetError, match="cifar-100-python/test"):
        load_dataset("cifar100", root=tmp_path, split="test")


def test_stl10_binary_resized(tmp_path):
    d = tmp_path / "stl10_binary"
    d.mkdir()
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (4, 3, 96, 96), dtype=np.uint8)
    # Files are column-major: stored images are transposed in H and W.
    train.transpose(0, 1, 3, 2).tofile(d / "train_X.bin")
    np.array([1, 2, 10, 3], np.uint8).tofile(d / "train_y.bin")
    rng.integers(0, 256, (6, 3, 96, 96), dtype=np.uint8).tofile(d / "unlabeled_X.bin")
    full = load_dataset("stl10", root=tmp_path, split="train", size=None)
    assert torch.allclose(full.x[0], torch.from_numpy(train[0]).float() / 127.5 - 1)
    assert full.y.tolist() == [0, 1, 9, 2]
    ds = load_dataset("stl10", root=tmp_path, split="train+unlabeled")  # 48×48 by default
    assert ds.x.shape == (10, 3, 48, 48) and ds.y.tolist()[4:] == [-1] * 6
    assert -1 <= float(ds.x.min()) and float(ds.x.max()) <= 1
    np.testing.assert_allclose(ds.info["priors"][[0, 1, 2, 9]], 0.25)
    assert len(load_dataset("stl10", root=tmp_path, split="train+unlabeled", n=5).x) == 5
    with open(d / "unlabeled_X.bin", "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(DatasetError, match="unlabeled_X.bin: .* truncated or corrupted"):
        load_dataset("stl10", root=tmp_path, split="unlabeled")
    with pytest.raises(DatasetError, match="stl10_binary/test_X.bin"):
        load_dataset("stl10", root=tmp_path, split="test")
