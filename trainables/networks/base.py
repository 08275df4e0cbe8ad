"""The discriminator side of the G/D contract (see `select.py`), shared by every network."""

from __future__ import annotations

import torch
from torch import nn


class FeatureDiscriminator(nn.Module):
    """D(x, c) = head(features(x))[:, c] (column 0 without c); subclasses define features."""

    head: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.head(self.features(x))
        if c is None:
            return logits[:, 0]
        return logits.gather(1, c.view(-1, 1))[:, 0]
