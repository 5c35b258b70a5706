"""Latent diffusion (Rombach et al. 2022) in miniature: the same DDPM schedule, guidance and
samplers as the pixel model, run on the autoencoder's (4, 7, 7) latent grid, then decoded.

The diffusion maths is not repeated here: ``ReverseProcess`` (samplers.py) is shape-agnostic and
steps the latent as it steps pixels. What changes is what the network sees, z = scale_factor *
z0 with z0 ~ q(z | x) (Rombach et al. 2022, eq. 2 and section 4.3.2), and one setting: x̂0 is not
clipped to [-1, 1], because a latent has no such box (pixels do).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import quality
from .autoencoder import Autoencoder
from .data import PRETRAINED_DIR, to_pixels
from .pretrained import AUTOENCODER_MODEL, LATENT_MODEL, PretrainedError, load_autoencoder, load_latent_model
from .samplers import ReverseProcess, SamplerConfig, Trajectory, initial_noise
from .schedules import NoiseSchedule
from .unet import UNet, UNetConfig


def latent_unet_config(latent_channels: int = 4, base_channels: int = 64) -> UNetConfig:
    """The U-Net for a (C, 7, 7) grid: one level (7 cannot halve evenly; the receptive field of its
    16 convolutions already spans the grid), two ResBlocks per stage, embedding 4x the width (DDPM)."""
    return UNetConfig(in_channels=latent_channels, base_channels=base_channels, channel_mults=(1,),
                      num_res_blocks=2, time_emb_dim=4 * base_channels)


def latent_process(schedule: NoiseSchedule, config: SamplerConfig) -> ReverseProcess:
    """The pixel model's sampler on latents: the same config with clip_denoised off (x̂0 is a latent)."""
    return ReverseProcess(schedule, replace(config, clip_denoised=False))


class LatentDiffusion(nn.Module):
    """The two stages together: ``model(z, t, y) -> eps`` on scaled latents (B, C, h, w) and the
    autoencoder that maps latents to digits (B, 1, 28, 28) and back."""

    def __init__(self, autoencoder: Autoencoder, model: UNet, scale_factor: float):
        super().__init__()
        if model.config.in_channels != autoencoder.config.latent_channels:
            raise ValueError(f"model.config.in_channels ({model.config.in_channels}) must equal the autoencoder's "
                             f"latent_channels ({autoencoder.config.latent_channels})")
        if not scale_factor > 0:
            raise ValueError(f"scale_factor must be positive, got {scale_factor!r}")
        self.autoencoder, self.model, self.scale_factor = autoencoder, model, float(scale_factor)

    @property
    def null_label(self) -> int:
        return self.model.null_label

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return self.autoencoder.latent_shape

    def forward(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """eps_theta(z_t, t, y), what the samplers call: z (B, C, h, w), t (B,), y (B,) or None."""
        return self.model(z, t, y)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Digits (B, 1, 28, 28) in [-1, 1] -> scaled latents (B, C, h, w): scale_factor * mean of q(z | x)."""
        return self.scale_factor * self.autoencoder.encode(x).mean

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, C, h, w) -> digits (B, 1, 28, 28), clipped to [-1, 1]."""
        return self.autoencoder.decode(z / self.scale_factor).clamp(-1.0, 1.0)

    def sample(self, process: ReverseProcess, z_start: torch.Tensor, generator: torch.Generator,
               labels: torch.Tensor | None = None, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Run ``process`` (build it with ``latent_process``) from z_T (B, C, h, w); decode: (B, 1, 28, 28)."""
        z = process.sample(self, z_start, generator, labels=labels, null_label=self.null_label, progress=progress)
        return self.decode(z)


def generate(ld: LatentDiffusion, schedule: NoiseSchedule, config: SamplerConfig, n: int, seed: int,
             labels: torch.Tensor | None = None, batch_size: int = 250, device: torch.device | str = "cpu",
             progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """n decoded samples (n, 1, 28, 28) in [-1, 1], drawn as quality.generate draws the pixel model's."""
    return quality.generate(ld, schedule, config, n, seed, labels, batch_size, device, progress,
                            process=latent_process(schedule, config), shape=ld.latent_shape, decode=ld.decode)


@dataclass
class DecodedTrajectory:
    """A latent reverse run for the scrubber: S steps, B digits, frame k the k-th step (noisiest first)."""

    latent: Trajectory  # the sampler's own record: timesteps (S,), xs (S + 1, B, C, h, w), eps, x0 (S, B, C, h, w)
    xs_pixels: np.ndarray  # (S + 1, B, 28, 28) uint8: decode(z_t) of each state; the last is the sample
    x0_pixels: np.ndarray  # (S, B, 28, 28) uint8: decode(ẑ0) predicted at each step


@torch.inference_mode()
def decoded_trajectory(ld: LatentDiffusion, process: ReverseProcess, z_start: torch.Tensor,
                       generator: torch.Generator, labels: torch.Tensor | None = None,
                       progress: Callable[[int, int], None] | None = None) -> DecodedTrajectory:
    """Sample as ``LatentDiffusion.sample`` does, recording every step, and decode every z_t and every
    predicted ẑ0 (one batched decoder call each) to uint8 digits."""
    trajectory = process.sample(ld, z_start, generator, labels=labels, null_label=ld.null_label, record=True,
                                progress=progress)
    device = next(ld.parameters()).device

    def decode_all(z: torch.Tensor) -> np.ndarray:  # (F, B, C, h, w) -> (F, B, 28, 28) uint8
        images = ld.decode(z.flatten(0, 1).to(device))
        return to_pixels(images[:, 0]).reshape(*z.shape[:2], 28, 28)

    return DecodedTrajectory(trajectory, decode_all(trajectory.xs), decode_all(trajectory.x0))


def load_latent_diffusion(device: torch.device | str = "cpu", directory: Path = PRETRAINED_DIR,
                          model_name: str = LATENT_MODEL, autoencoder_name: str = AUTOENCODER_MODEL
                          ) -> tuple[LatentDiffusion, dict, dict]:
    """The shipped pair (both sha-checked), and their cards (latent model, autoencoder). The latent
    model's card must name this very autoencoder (its sha256): a U-Net is only valid on its own latents."""
    autoencoder, ae_card = load_autoencoder(autoencoder_name, device=device, directory=directory)
    model, card = load_latent_model(model_name, device=device, directory=directory)
    if card["autoencoder"]["sha256"] != ae_card["sha256"]:
        raise PretrainedError(f"{model_name} was trained on the autoencoder with sha256 "
                              f"{card['autoencoder']['sha256'][:12]}..., but {autoencoder_name} has "
                              f"{ae_card['sha256'][:12]}...: retrain one, or restore both from the repository")
    return LatentDiffusion(autoencoder, model, card["autoencoder"]["scale_factor"]).eval(), card, ae_card


def _median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, budget_s: float = 20.0) -> float:
    from .speed import median_seconds

    with torch.inference_mode():
        return median_seconds(fn, repeats, device, budget_s=budget_s)


def compare_cost(pixel_model: nn.Module, ld: LatentDiffusion, schedule: NoiseSchedule, device: torch.device,
                 repeats: int = 30, e2e_repeats: int = 3) -> dict:
    """Pixel U-Net against latent U-Net on the same threads, in one run: FLOPs and median ms of one
    reverse step (DDIM, unconditional, batch 1 and 16; a guided step costs each twice), the decoder's
    FLOPs, and seconds for the CLI's default run (16 digits, DDIM 50), decoding included."""
    from .speed import forward_flops

    report: dict = {"device": str(device), "threads": torch.get_num_threads()}
    config = SamplerConfig("ddim", steps=50)
    for name, model, shape, process in (("pixel", pixel_model, (1, 28, 28), ReverseProcess(schedule, config)),
                                        ("latent", ld, ld.latent_shape, latent_process(schedule, config))):
        gen = torch.Generator().manual_seed(0)
        x1 = initial_noise(1, gen, shape=shape).to(device)
        t1, y1 = torch.tensor([500], device=device), torch.tensor([model.null_label], device=device)
        entry = {"numbers_per_sample": int(np.prod(shape)),
                 "gflop_per_step": round(forward_flops(model, x1, t1, y1) / 1e9, 4)}
        for batch in (1, 16):
            x = initial_noise(batch, gen, shape=shape).to(device)

            def step(model=model, x=x, process=process, gen=gen):
                return process.step(model, x, process.num_steps // 2, gen, None, model.null_label)

            entry[f"ms_per_step_batch{batch}"] = round(_median_seconds(step, device, repeats) * 1e3, 3)

        def default_run(model=model, shape=shape, process=process):
            g = torch.Generator().manual_seed(0)
            x = process.sample(model, initial_noise(16, g, shape=shape).to(device), g, null_label=model.null_label)
            return ld.decode(x) if model is ld else x

        entry["default_run_s"] = round(_median_seconds(default_run, device, e2e_repeats, budget_s=120), 3)
        report[name] = entry
    z = initial_noise(1, torch.Generator().manual_seed(0), shape=ld.latent_shape).to(device)
    report["latent"]["decoder_gflop"] = round(forward_flops(ld.autoencoder.decoder, z) / 1e9, 4)
    report["step_flops_ratio"] = round(report["pixel"]["gflop_per_step"] / report["latent"]["gflop_per_step"], 2)
    report["default_run_speedup"] = round(report["pixel"]["default_run_s"] / report["latent"]["default_run_s"], 2)
    return report
