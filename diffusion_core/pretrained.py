"""Load and save weights (safetensors only, never pickle) with their JSON model cards; pick the device."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .data import PRETRAINED_DIR

DIFFUSION_MODEL = "mnist_unet"
CLASSIFIER_MODEL = "mnist_classifier"
AUTOENCODER_MODEL = "mnist_autoencoder"  # latent diffusion's first stage (autoencoder.py)
LATENT_MODEL = "mnist_latent_unet"  # the eps-prediction U-Net on its latent grid (latent.py)
DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


class PretrainedError(RuntimeError):
    """Weights or their model card are missing, damaged or do not fit the network."""


def pick_device(choice: str = "auto") -> torch.device:
    """'auto' takes cuda, then mps, then cpu; an explicit choice is honoured or refused."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if choice == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (choice == "cuda" and not cuda) or (choice == "mps" and not mps):
        raise ValueError(f"device {choice!r} was asked for but is not available on this machine (use auto or cpu)")
    return torch.device(choice)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def paths_for(name: str, directory: Path = PRETRAINED_DIR) -> tuple[Path, Path]:
    """(weights, card) for a model name such as 'mnist_unet' or a path prefix 'pretrained/mnist_unet'."""
    base = Path(name)
    if base.parent == Path("."):
        base = Path(directory) / base
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def read_card(name: str, directory: Path = PRETRAINED_DIR) -> dict:
    _, card_path = paths_for(name, directory)
    if not card_path.is_file():
        raise PretrainedError(f"model card {card_path} not found: the pretrained model {name!r} is not installed")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PretrainedError(f"model card {card_path} is not valid JSON: {exc}") from None
    if not isinstance(card, dict) or not isinstance(card.get("config"), dict) \
            or not isinstance(card.get("sha256"), str):
        raise PretrainedError(f"model card {card_path} lacks its 'config' or 'sha256' entry")
    return card


def config_from_card(config_cls, card: dict, name: str):
    """Rebuild a network's @dataclass config from a card's 'config' entry (lists become tuples)."""
    data = card["config"]
    allowed = set(config_cls.__dataclass_fields__)
    if set(data) - allowed:
        raise PretrainedError(f"model card of {name!r} has unknown config keys {sorted(set(data) - allowed)}; "
                              f"{config_cls.__name__} takes {sorted(allowed)}")
    try:
        return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except (TypeError, ValueError) as exc:
        raise PretrainedError(f"model card of {name!r} has an invalid {config_cls.__name__}: {exc}") from None


def save_weights(model: nn.Module, name: str, card: dict, directory: Path = PRETRAINED_DIR) -> dict:
    """Write <name>.safetensors and <name>.json (card plus sha256 and parameter count); returns the card."""
    weights_path, card_path = paths_for(name, directory)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path))
    card = {**card, "parameters": sum(p.numel() for p in model.parameters()), "weights_file": weights_path.name,
            "sha256": sha256_of(weights_path)}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def load_weights(model: nn.Module, name: str, card: dict, directory: Path = PRETRAINED_DIR) -> None:
    """Fill ``model`` from <name>.safetensors after checking the file's sha256 against the card."""
    weights_path, _ = paths_for(name, directory)
    if not weights_path.is_file():
        raise PretrainedError(f"weights file {weights_path} not found")
    actual = sha256_of(weights_path)
    if actual != card["sha256"]:
        raise PretrainedError(
            f"weights file {weights_path} has sha256 {actual[:12]}..., "
            f"its model card expects {card['sha256'][:12]}...: "
            "the file is truncated or was changed; restore it from the repository"
        )
    try:
        state = load_file(str(weights_path))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PretrainedError(f"weights file {weights_path} does not fit the network in its card: "
                              f"{first_line}") from None


def load_diffusion_model(name: str = DIFFUSION_MODEL, device: str | torch.device = "cpu",
                         directory: Path = PRETRAINED_DIR):
    """The pretrained U-Net (eval mode, on ``device``) and its model card.

    On a CPU its convolution weights are stored channels-last (NHWC): oneDNN's convolutions run
    faster on that layout for the shipped width-32 network (`python -m diffusion_core bench speed`
    measures it), with the same outputs to ~3e-6.
    """
    from .unet import UNet, UNetConfig

    card = read_card(name, directory)
    model = UNet(config_from_card(UNetConfig, card, name))
    load_weights(model, name, card, directory)
    model = model.to(device).eval()
    if torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model, card


def load_classifier(name: str = CLASSIFIER_MODEL, device: str | torch.device = "cpu", directory: Path = PRETRAINED_DIR):
    """The pretrained MNIST classifier (eval mode, on ``device``) and its model card."""
    from .classifier import Classifier, ClassifierConfig

    card = read_card(name, directory)
    model = Classifier(config_from_card(ClassifierConfig, card, name))
    load_weights(model, name, card, directory)
    return model.to(device).eval(), card


def load_autoencoder(name: str = AUTOENCODER_MODEL, device: str | torch.device = "cpu",
                     directory: Path = PRETRAINED_DIR):
    """The pretrained latent-diffusion autoencoder (eval mode, on ``device``) and its model card."""
    from .autoencoder import Autoencoder, AutoencoderConfig

    card = read_card(name, directory)
    if not isinstance(card.get("scale_factor"), (int, float)) or not card["scale_factor"] > 0:
        raise PretrainedError(f"model card of {name!r} lacks a positive 'scale_factor'")
    model = Autoencoder(config_from_card(AutoencoderConfig, card, name))
    load_weights(model, name, card, directory)
    return model.to(device).eval(), card


def load_latent_model(name: str = LATENT_MODEL, device: str | torch.device = "cpu", directory: Path = PRETRAINED_DIR):
    """The pretrained U-Net on the latent grid (eval mode, on ``device``) and its model card, whose
    'autoencoder' entry names the autoencoder (sha256, scale_factor) it was trained on."""
    from .unet import UNet, UNetConfig

    card = read_card(name, directory)
    if not isinstance(card.get("autoencoder"), dict) or not isinstance(card["autoencoder"].get("sha256"), str):
        raise PretrainedError(f"model card of {name!r} lacks its 'autoencoder' entry (weights, sha256, scale_factor)")
    model = UNet(config_from_card(UNetConfig, card, name))
    load_weights(model, name, card, directory)
    return model.to(device).eval(), card


def training_stages(card: dict) -> list[dict]:
    """A card's training records, first stage first: the run it was fine-tuned from (its
    'initialised_from', recursively), then its own."""
    stages, node = [], card
    while isinstance(node, dict):
        if isinstance(node.get("training"), dict):
            stages.insert(0, node["training"])
        node = node.get("initialised_from")
    return stages


def environment_summary() -> dict:
    return {
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
