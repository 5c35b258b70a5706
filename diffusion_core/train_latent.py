"""Training the two stages of latent diffusion: `train-autoencoder`, then `train-latent`.

Both run through ``train.fit`` (seeded, resumable, a checkpoint per epoch). The autoencoder's
card records its reconstruction quality and the ``scale_factor`` that brings its latents to unit
standard deviation (Rombach et al. 2022, section 4.3.2 and appendix G: SD's 0.18215); the latent
model's card records which autoencoder (by sha256) and which scale factor it was trained with.
"""
from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .autoencoder import Autoencoder, AutoencoderConfig, encode_means, reconstruct, vae_loss
from .data import to_model_space
from .pretrained import load_autoencoder, load_classifier, load_latent_model, read_card, save_weights
from .quality import read_digits
from .train import (
    TRAINING_SCHEDULE,
    TrainConfig,
    eps_loss,
    eps_model_card,
    fit,
    initialise_from,
    seeded_model,
    training_record,
)
from .unet import UNet, UNetConfig


def reconstruction_report(autoencoder: Autoencoder, classifier: torch.nn.Module, images: np.ndarray,
                          labels: np.ndarray) -> dict:
    """How well digits survive the round trip x -> mean of q(z | x) -> decode: MSE in model space
    [-1, 1] (and in [0, 1] pixels), and the classifier's accuracy on the reconstructions beside the
    originals. images: (N, 28, 28) uint8."""
    x = to_model_space(images)
    recon = reconstruct(autoencoder, x)
    truth = np.asarray(labels)
    original, rebuilt = read_digits(classifier, x), read_digits(classifier, recon)
    mse = float(F.mse_loss(recon, x))
    return {"n": int(x.shape[0]), "mse_model_space": round(mse, 5), "mse_unit_pixels": round(mse / 4, 5),
            "classifier_accuracy_reconstructed": round(float((rebuilt.predictions == truth).mean()), 4),
            "classifier_accuracy_original": round(float((original.predictions == truth).mean()), 4),
            "mean_confidence_reconstructed": round(rebuilt.mean_confidence, 4)}


@torch.inference_mode()
def latent_statistics(autoencoder: Autoencoder, x: torch.Tensor, seed: int = 0) -> dict:
    """Over a training set x (N, 1, 28, 28): the std of latents z ~ q(z | x), and so the scale factor
    1 / std that the diffusion model's latents are multiplied by (as SD computes its 0.18215)."""
    mean, std = encode_means(autoencoder, x)
    z = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed)).to(mean.device)
    return {"latent_std": round(float(z.std()), 5), "scale_factor": round(1.0 / float(z.std()), 5),
            "latent_mean": round(float(z.mean()), 5),
            "posterior_std_mean": round(float(std.mean()), 5),
            "per_channel_std": [round(float(v), 4) for v in z.transpose(0, 1).flatten(1).std(1)]}


def train_autoencoder(train, test, out: Path, cfg: TrainConfig, net: AutoencoderConfig = AutoencoderConfig(),
                      resume: bool = False, log: Callable[[str], None] = print,
                      device: torch.device | str = "cpu") -> dict:
    """Train the first stage on train = (images, labels) uint8; measure it on test; save weights and card."""
    model = seeded_model(Autoencoder, net, cfg.seed, device)

    def loss_fn(model, batch, gen):
        return vae_loss(model, batch[0], gen)

    data = (to_model_space(train[0]),)
    meta = fit(model, loss_fn, data, out, cfg, asdict(net), resume, log=log)
    model.eval()
    classifier, classifier_card = load_classifier(device=device)
    report = reconstruction_report(model, classifier, *test)
    stats = latent_statistics(model, data[0], cfg.seed)
    log(f"reconstruction: {report}\nlatents: {stats}")
    card = {
        "kind": "autoencoder",
        "architecture": "Autoencoder (diffusion_core/autoencoder.py), a VAE with a light KL term",
        "config": asdict(net),
        "latent_shape": list(net.latent_shape),
        "scale_factor": stats["scale_factor"],
        "latent_statistics": stats,
        "image_scaling": "uint8 pixels p -> p / 127.5 - 1, in [-1, 1]",
        "training_data": f"MNIST training set, {data[0].shape[0]} digits",
        "training": training_record(cfg, meta, device),
        "reconstruction": {**report, "test_data": f"MNIST test set, {test[0].shape[0]} digits",
                           "classifier_sha256": classifier_card["sha256"]},
    }
    return save_weights(model, out.name, card, out.parent)


def train_latent(images, labels, out: Path, cfg: TrainConfig, net: UNetConfig, autoencoder: Path,
                 resume: bool = False, log: Callable[[str], None] = print,
                 device: torch.device | str = "cpu", init_from: Path | None = None) -> dict:
    """Train the class-conditional eps-prediction U-Net on scaled latents z = scale_factor * z0,
    z0 ~ q(z | x) drawn afresh every batch (Rombach et al. 2022, eq. 2), with the pixel model's
    linear schedule (T = 1000) and label dropout; save the EMA weights and a card naming the autoencoder.
    ``init_from`` (path prefix) fine-tunes saved latent weights of the same autoencoder, as train_diffusion's."""
    ae, ae_card = load_autoencoder(autoencoder.name, device=device, directory=autoencoder.parent)
    if net.in_channels != ae.config.latent_channels:
        raise ValueError(f"in_channels must equal the autoencoder's latent_channels ({ae.config.latent_channels}), "
                         f"got {net.in_channels}")
    if init_from is not None and read_card(init_from.name, init_from.parent).get("autoencoder", {}).get(
            "sha256") != ae_card["sha256"]:
        raise ValueError(f"--init-from: {init_from} was trained on another autoencoder than {autoencoder}")
    scale = float(ae_card["scale_factor"])
    mean, std = encode_means(ae, to_model_space(images))  # (N, C, h, w) each, on the device
    schedule = TRAINING_SCHEDULE.build()
    model = seeded_model(UNet, net, cfg.seed, device)
    start = {} if init_from is None else initialise_from(model, init_from, load_latent_model)
    ema = copy.deepcopy(model).requires_grad_(False)

    def loss_fn(model, batch, gen):
        mu, sigma, y = batch
        z0 = scale * (mu + sigma * torch.randn(mu.shape, generator=gen).to(mu.device))
        return eps_loss(model, z0, y, schedule, gen, cfg.label_dropout)

    data = (mean.clone(), std.clone(), torch.tensor(np.asarray(labels), dtype=torch.long))
    meta = fit(model, loss_fn, data, out, cfg, {**asdict(net), "autoencoder_sha256": ae_card["sha256"]}, resume,
               ema=ema, log=log)
    card = {
        **eps_model_card("latent_diffusion", "UNet (diffusion_core/unet.py) on the autoencoder's latent grid "
                         "(diffusion_core/latent.py)", net),
        "autoencoder": {"weights": ae_card["weights_file"], "sha256": ae_card["sha256"], "scale_factor": scale,
                        "latent_shape": ae_card["latent_shape"]},
        "latent_scaling": "z = scale_factor * z0, z0 ~ q(z | x) of the autoencoder; decode(z / scale_factor)",
        "weights": "EMA of the training weights",
        "training_data": f"MNIST training set, {len(labels)} digits, encoded",
        "training": training_record(cfg, meta, device),
        **start,
    }
    return save_weights(ema, out.name, card, out.parent)
