"""Choose G/D architectures from the `network` setting and the data's shape.

Every pair keeps one contract, so each method works with each architecture:
- ``G(z, c=None)``: ``c`` holds class/partition indices when built with ``n_classes > 0``
  (one-hot input for the MLPs, conditional BN for the conv nets);
- ``D.features(x)`` is the last hidden layer (Self-Cond clusters on it, PGMGAN projects on it),
  ``D.head`` an ``nn.Linear(F, d_out)``, and ``D(x, c=None)`` returns ``head(features(x))[:, c]``
  (column 0 without ``c``).

Builders are imported lazily from ``NETWORKS`` (name → "module:function"); each takes
``(data, latent_dim, n_classes, d_out, **options)`` and returns ``(G, D)``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from trainables.data import DataBundle

NETWORKS: dict[str, str] = {
    "toy_mlp": "trainables.networks.toy:build",
    "dcgan": "trainables.networks.dcgan:build",
    "sngan_resnet": "trainables.networks.sngan_resnet:build",
    "wgan_conv_mnist": "trainables.networks.wgan_conv:build_mnist",
    "wgan_resnet32": "trainables.networks.wgan_conv:build_resnet32",
    "nemgan_conv": "trainables.networks.nemgan_conv:build",
}


def is_vector_data(data: DataBundle) -> bool:
    return data.x.dim() == 2


def auto_network(data: DataBundle) -> str:
    return "toy_mlp" if is_vector_data(data) else "dcgan"


def build_pair(
    network: str, data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1,
    **options: Any,
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator); `auto` picks the toy MLPs for vector data, DCGAN for images."""
    if network == "auto":
        network = auto_network(data)
    if network not in NETWORKS:
        raise ValueError(f"network: {network!r} is not one of {sorted(NETWORKS)}")
    module, fn = NETWORKS[network].split(":")
    builder = getattr(importlib.import_module(module), fn)
    try:  # an option the builder does not take: say which setting, not a bare TypeError
        inspect.signature(builder).bind(data, latent_dim, n_classes=n_classes, d_out=d_out,
                                        **options)
    except TypeError as exc:
        raise ValueError(f"network_options {options} for network {network!r}: {exc}") from None
    return builder(data, latent_dim, n_classes=n_classes, d_out=d_out, **options)
