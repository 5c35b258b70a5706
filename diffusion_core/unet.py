"""A small U-Net for 1x28x28 images, conditioned on the timestep and optionally on a class label."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 1  # MNIST is grayscale
    base_channels: int = 16  # width at 28x28; ~0.14 GFLOP a forward pass, so it trains on 2 CPU cores (shipped: 32)
    channel_mults: tuple[int, ...] = (1, 2, 4)  # 28x28 (16) -> 14x14 (32) -> 7x7 (64)
    num_res_blocks: int = 1  # per resolution on the way down (one more on the way up, as in DDPM)
    time_emb_dim: int = 128  # 4x base width, the DDPM convention
    num_classes: int = 10  # digits 0-9; index num_classes is the "no label" class
    groups: int = 8  # GroupNorm groups
    dropout: float = 0.0  # a short training run needs no extra regularisation


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (Transformer positional encoding, as in DDPM). t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the (time + class) embedding added in between."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class UNet(nn.Module):
    """eps_theta(x_t, t, y): predicts the noise in x_t. x: (B, 1, 28, 28), t: (B,) int64, y: (B,) int64 or None.

    The same class runs on the latent grid (``latent.py``): in_channels = 4 and one level, so a 7x7
    grid, which cannot halve evenly, is never downsampled."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = c = config
        emb_dim = c.time_emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(c.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(c.num_classes + 1, emb_dim)  # last row: "no label"
        self.conv_in = nn.Conv2d(c.in_channels, c.base_channels, 3, padding=1)

        widths = [c.base_channels * m for m in c.channel_mults]
        self.down = nn.ModuleList()
        skip_widths = [c.base_channels]
        ch = c.base_channels
        for level, width in enumerate(widths):
            for _ in range(c.num_res_blocks):
                self.down.append(ResBlock(ch, width, emb_dim, c.groups, c.dropout))
                ch = width
                skip_widths.append(ch)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skip_widths.append(ch)

        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, c.groups, c.dropout) for _ in range(2)])

        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(c.num_res_blocks + 1):
                self.up.append(ResBlock(ch + skip_widths.pop(), width, emb_dim, c.groups, c.dropout))
                ch = width
            if level > 0:
                upsample = nn.Upsample(scale_factor=2, mode="nearest")
                self.up.append(nn.Sequential(upsample, nn.Conv2d(ch, ch, 3, padding=1)))

        self.norm_out = nn.GroupNorm(c.groups, ch)
        self.conv_out = nn.Conv2d(ch, c.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start as "predict zero noise", a stable beginning
        nn.init.zeros_(self.conv_out.bias)

    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x, t, y = check_inputs(self.config, x, t, y)
        return self.eps(x, t, y)

    def eps(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The network itself, for inputs that forward() has checked (and for export: no data-dependent checks)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels)) + self.label_emb(y)  # (B, emb_dim)

        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def check_inputs(config: UNetConfig, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None):
    """(x, t, y) as the network takes them, y None -> the "no label" class; ValueError naming what is wrong.
    Shared by UNet.forward and the exported engine (engine.py), which must refuse the same inputs."""
    halvings = 2 ** (len(config.channel_mults) - 1)  # 4 for the pixel model; 1 on the 7x7 latent grid
    if x.ndim != 4 or x.shape[1] != config.in_channels or x.shape[2] % halvings or x.shape[3] % halvings:
        raise ValueError(f"x must have shape (B, {config.in_channels}, H, W) with H and W divisible by "
                         f"{halvings}, got {tuple(x.shape)}")
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
    null_label = config.num_classes
    if y is None:
        y = torch.full_like(t, null_label)
    elif y.shape != t.shape:
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    elif y.numel() and (int(y.min()) < 0 or int(y.max()) > null_label):
        raise ValueError(f"y must hold labels 0-{null_label - 1} or {null_label} (no label), "
                         f"got values from {int(y.min())} to {int(y.max())}")
    return x, t, y


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
