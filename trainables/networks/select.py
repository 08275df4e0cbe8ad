"""Choose G/D architectures from the `network` setting and the data's shape."""

from __future__ import annotations

from torch import nn

from trainables.data import DataBundle
from trainables.networks.toy import ToyDiscriminator, ToyGenerator


def is_vector_data(data: DataBundle) -> bool:
    return data.x.dim() == 2


def build_pair(
    network: str, data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator); `auto` picks the toy MLPs for vector data."""
    if network == "auto":
        network = "toy_mlp" if is_vector_data(data) else "dcgan"
    if network == "toy_mlp":
        if not is_vector_data(data):
            shape = tuple(data.x.shape[1:])
            raise ValueError(f"network toy_mlp needs vector data, {data.name} has {shape}")
        dim = data.x.shape[1]
        g = ToyGenerator(latent_dim, dim, n_classes=n_classes)
        return g, ToyDiscriminator(dim, n_out=d_out)
    raise ValueError(f"network: {network!r} is not available for data set {data.name}")
