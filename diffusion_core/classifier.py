"""A small MNIST classifier: judges generated digits and reads the emerging digit during denoising."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ClassifierConfig:
    channels: tuple[int, ...] = (32, 64)  # two conv stages, each halving the resolution: 28 -> 14 -> 7
    feature_dim: int = 128  # penultimate features, used for the Frechet distance
    num_classes: int = 10
    dropout: float = 0.25


def _stage(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Classifier(nn.Module):
    """x: (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); ``features`` gives the (B, feature_dim) penultimate layer."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        widths = (1, *config.channels)
        self.stages = nn.Sequential(*[_stage(a, b) for a, b in zip(widths[:-1], widths[1:])])
        side = 28 // 2 ** len(config.channels)
        self.embed = nn.Sequential(
            nn.Flatten(), nn.Dropout(config.dropout),
            nn.Linear(config.channels[-1] * side * side, config.feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.embed(self.stages(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
