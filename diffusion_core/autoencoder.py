"""The first stage of latent diffusion, in miniature: a small convolutional VAE for 28x28 digits.

Rombach et al. 2022 ("High-Resolution Image Synthesis with Latent Diffusion Models", section 3.1)
train an autoencoder whose encoder maps an image to a diagonal Gaussian over a smaller latent
grid, with a light KL penalty towards N(0, I) so the latent space stays smooth and of bounded
scale; the diffusion model then runs on that grid. Here (B, 1, 28, 28) digits in model space
[-1, 1] become (B, 4, 7, 7) latents: 196 numbers, 4x fewer than the pixels. The latents are
multiplied by a ``scale_factor`` (1 / their standard deviation over the training set; SD's is
0.18215) before the diffusion model sees them, stored in the model card.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class AutoencoderConfig:
    latent_channels: int = 4  # 4 x 7 x 7 = 196 numbers: chosen by measurement (model card, "latent_shape_sweep")
    base_channels: int = 32  # width at 28x28
    channel_mults: tuple[int, ...] = (1, 2, 2)  # 28x28 (32) -> 14x14 (64) -> 7x7 (64): the latent is 4x smaller a side
    groups: int = 8  # GroupNorm groups
    kl_weight: float = 1e-3  # beta in SSE + beta * KL per image: light, so reconstruction dominates (as in SD's 1e-6)

    def __post_init__(self) -> None:
        for name in ("latent_channels", "base_channels", "groups"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.channel_mults or 28 % 2 ** (len(self.channel_mults) - 1):
            raise ValueError(f"channel_mults must have 1 to 3 levels (28 halves at most twice), "
                             f"got {self.channel_mults!r}")
        if any(self.base_channels * m % self.groups for m in self.channel_mults):
            raise ValueError(f"every width base_channels * mult must be a multiple of groups={self.groups}, "
                             f"got base_channels={self.base_channels}, channel_mults={self.channel_mults!r}")
        if not (isinstance(self.kl_weight, (int, float)) and self.kl_weight >= 0):
            raise ValueError(f"kl_weight must be a number >= 0, got {self.kl_weight!r}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        side = 28 // 2 ** (len(self.channel_mults) - 1)
        return (self.latent_channels, side, side)


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(logvar))): what the encoder returns. mean, logvar: (B, C, h, w)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)  # exp() stays finite in float32

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I) drawn on the CPU: the reparameterisation (Kingma & Welling 2014)."""
        eps = torch.randn(self.mean.shape, generator=generator).to(self.mean.device)
        return self.mean + self.std * eps

    def kl(self) -> torch.Tensor:
        """KL(q(z | x) || N(0, I)) per example, (B,): 0.5 sum(mean^2 + var - 1 - logvar).

        Kingma & Welling 2014, appendix B (there as -KL)."""
        return 0.5 * (self.mean ** 2 + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


class ConvBlock(nn.Module):
    """GroupNorm-SiLU-conv twice with a residual path: the U-Net's ResBlock without the timestep."""

    def __init__(self, in_ch: int, out_ch: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, in_ch), nn.SiLU(), nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.GroupNorm(groups, out_ch), nn.SiLU(), nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Autoencoder(nn.Module):
    """encode: (B, 1, 28, 28) in [-1, 1] -> q(z | x) over (B, C, h, w); decode: (B, C, h, w) -> (B, 1, 28, 28)."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__()
        self.config = c = config
        widths = [c.base_channels * m for m in c.channel_mults]

        encoder: list[nn.Module] = [nn.Conv2d(1, widths[0], 3, padding=1)]
        ch = widths[0]
        for level, width in enumerate(widths):
            encoder.append(ConvBlock(ch, width, c.groups))
            ch = width
            if level < len(widths) - 1:
                encoder.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))  # 28 -> 14 -> 7
        encoder += [ConvBlock(ch, ch, c.groups), nn.GroupNorm(c.groups, ch), nn.SiLU(),
                    nn.Conv2d(ch, 2 * c.latent_channels, 3, padding=1)]  # mean and logvar
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = [nn.Conv2d(c.latent_channels, ch, 3, padding=1), ConvBlock(ch, ch, c.groups)]
        for level, width in reversed(list(enumerate(widths))):
            decoder.append(ConvBlock(ch, width, c.groups))
            ch = width
            if level > 0:
                decoder += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)]
        decoder += [nn.GroupNorm(c.groups, ch), nn.SiLU(), nn.Conv2d(ch, 1, 3, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return self.config.latent_shape

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x: (B, 1, 28, 28) in [-1, 1] -> q(z | x) with mean and logvar (B, C, h, w)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, h, w) unscaled latents -> (B, 1, 28, 28) in model space (not clipped)."""
        if z.ndim != 4 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"z must have shape (B, {', '.join(map(str, self.latent_shape))}), got {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Training pass: (reconstruction (B, 1, 28, 28) from a sampled z, the posterior)."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior


def vae_loss(model: Autoencoder, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The beta-VAE objective (Higgins et al. 2017) per pixel: (||x - x_hat||^2 + beta KL) / 784, batch mean."""
    recon, posterior = model(x, generator)
    sse = F.mse_loss(recon, x, reduction="none").flatten(1).sum(1)  # (B,)
    return ((sse + model.config.kl_weight * posterior.kl()) / x[0].numel()).mean()


@torch.inference_mode()
def encode_means(model: Autoencoder, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, std) of many digits, (N, C, h, w) each, on the model's device, in batches."""
    device = next(model.parameters()).device
    means, stds = [], []
    for i in range(0, x.shape[0], batch_size):
        posterior = model.encode(x[i:i + batch_size].to(device))
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


@torch.inference_mode()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Decode the posterior means: (N, 1, 28, 28) in [-1, 1] -> (N, 1, 28, 28) clipped to [-1, 1], on the CPU."""
    device = next(model.parameters()).device
    out = [model.decode(model.encode(x[i:i + batch_size].to(device)).mean).clamp(-1, 1).cpu()
           for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out)
