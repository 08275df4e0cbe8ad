import numpy as np
import pytest
import torch

from trainables.data import DatasetError, load_dataset


def test_stacked_mnist_labels_match_channels(shared_data_root):
    ds = load_dataset("stacked_mnist", root=shared_data_root, n=3000, seed=1)
    mnist = load_dataset("mnist", root=shared_data_root)
    assert ds.x.shape == (3000, 3, 28, 28) and ds.n_modes == 1000
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0
    idx, cl = ds.info["indices"], ds.info["channel_labels"]
    assert torch.equal(cl, mnist.y[idx])
    assert torch.equal(ds.y, 100 * cl[:, 0] + 10 * cl[:, 1] + cl[:, 2])
    for c in range(3):  # channel c is the MNIST image whose label is digit c of y
        assert torch.equal(ds.x[:, c], mnist.x[idx[:, c], 0])
    assert torch.equal(ds.y // 100, cl[:, 0])
    again = load_dataset("stacked_mnist", root=shared_data_root, n=3000, seed=1, size=None)
    assert torch.equal(again.x, ds.x)  # fixed seeded index set


def test_stacked_mnist_resized_covers_modes(shared_data_root):
    ds = load_dataset("stacked_mnist", root=shared_data_root, n=20_000, size=32)
    assert ds.x.shape == (20_000, 3, 32, 32)
    assert -1.0 <= float(ds.x.min()) and float(ds.x.max()) <= 1.0
    assert len(ds.y.unique()) > 990  # 20k uniform draws over 1000 modes miss almost none
    assert ds.info["priors"].shape == (1000,)


@pytest.mark.parametrize(
    "name, digits, major",
    [("mnist2_0v4_70", (0, 4), 0.7), ("mnist2_0v4_90", (0, 4), 0.9),
     ("mnist2_3v5_70", (3, 5), 0.7), ("mnist2_3v5_90", (3, 5), 0.9)],
)
def test_mnist2(shared_data_root, name, digits, major):
    for split in ("train", "test"):
        ds = load_dataset(name, root=shared_data_root, split=split)
        assert ds.n_modes == 2 and set(ds.y.tolist()) == {0, 1}
        np.testing.assert_allclose(ds.info["priors"], [major, 1 - major], atol=1e-3)
        src = ds.info["source_labels"]
        assert torch.equal(src[ds.y == 0].unique(), torch.tensor([digits[0]]))
        assert torch.equal(src[ds.y == 1].unique(), torch.tensor([digits[1]]))
    # All of the majority class is kept; the minority is sub-sampled.
    mnist = load_dataset("mnist", root=shared_data_root, split="test")
    assert int((ds.y == 0).sum()) >= int((mnist.y == digits[0]).sum()) - 1


def test_mnist5_and_fmnist5_merges(shared_data_root):
    m5 = load_dataset("mnist5", root=shared_data_root)
    assert m5.x.shape == (60_000, 1, 28, 28) and m5.n_modes == 5
    np.testing.assert_allclose(m5.info["priors"], [0.3, 0.1, 0.4, 0.1, 0.1], atol=0.015)
    merge = {3: 0, 5: 0, 8: 0, 2: 1, 1: 2, 4: 2, 7: 2, 9: 2, 6: 3, 0: 4}
    expect = torch.tensor([merge[int(c)] for c in m5.info["source_labels"]])
    assert torch.equal(m5.y, expect)
    f5 = load_dataset("fmnist5", root=shared_data_root, split="test")
    np.testing.assert_allclose(f5.info["priors"], [0.3, 0.1, 0.2, 0.3, 0.1])
    assert f5.info["classes"] == [[5, 7, 9], [8], [0, 3], [2, 4, 6], [1]]


def test_generic_imbalanced(shared_data_root):
    ds = load_dataset(
        "imbalanced", root=shared_data_root, base="fashion_mnist",
        classes=[[0, 1], 2, [3]], priors=[0.6, 0.3, 0.1], n=5000,
    )
    assert len(ds.x) == 5000 and ds.info["base"] == "fashion_mnist"
    np.testing.assert_allclose(ds.info["priors"], [0.6, 0.3, 0.1])
    exact = load_dataset("mnist5", root=shared_data_root, priors=[0.3, 0.1, 0.4, 0.1, 0.1])
    np.testing.assert_allclose(exact.info["priors"], [0.3, 0.1, 0.4, 0.1, 0.1], atol=1e-4)
    with pytest.raises(DatasetError, match="disjoint"):
        load_dataset("imbalanced", root=shared_data_root, classes=[[0, 1], [1]])
    with pytest.raises(DatasetError, match="priors"):
        load_dataset("imbalanced", root=shared_data_root, classes=[[0], [1]], priors=[1, 0])
    with pytest.raises(DatasetError, match="base"):
        load_dataset("imbalanced", root=shared_data_root, base="svhn")
