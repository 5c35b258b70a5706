"""Training loops behind `python -m diffusion_core train` and `train-classifier`.

Seeded and resumable: every epoch draws its shuffling and noise from generators seeded by
(seed, epoch), and a checkpoint (safetensors + JSON, never pickle) is written after each
epoch, so `--resume` continues exactly where the last finished epoch left off.
"""
from __future__ import annotations

import copy
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .classifier import Classifier, ClassifierConfig
from .data import to_model_space
from .forward import q_sample
from .pretrained import load_diffusion_model, save_weights
from .schedules import NoiseSchedule, ScheduleSpec
from .unet import UNet, UNetConfig

TRAINING_SCHEDULE = ScheduleSpec()  # DDPM's linear β from 1e-4 to 0.02 over T = 1000, for every ε-model


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6  # ~90 min for the default U-Net on one CPU thread
    batch_size: int = 64  # more, smaller steps beat fewer large ones at a fixed CPU budget
    lr: float = 1e-3  # Adam peak rate, reached after warmup, then cosine decay
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05  # cosine decays to this fraction of lr
    ema_decay: float = 0.999  # horizon ~1000 steps, about two epochs at batch 64
    label_dropout: float = 0.1  # share of examples trained as "no label", for classifier-free guidance
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.label_dropout <= 1:
            raise ValueError(f"label_dropout must lie in [0, 1], got {self.label_dropout!r}")


def hardware_summary(device: torch.device | str = "cpu") -> str:
    if torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} torch threads"


def learning_rate(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def eps_model_card(kind: str, architecture: str, net) -> dict:
    """How the card of every ε-prediction network begins: what it is, its config, its schedule."""
    spec = TRAINING_SCHEDULE
    return {"kind": kind, "architecture": architecture, "config": asdict(net), "prediction": "epsilon",
            "schedule": {"name": spec.name, "num_steps": spec.num_steps, **spec.params()}}


def seeded_model(network: Callable[..., nn.Module], config, seed: int, device: torch.device | str) -> nn.Module:
    """network(config) on ``device``, its weights initialised from ``seed`` (every training starts here)."""
    torch.manual_seed(seed)
    return network(config).to(device)


def training_record(cfg: TrainConfig, meta: dict, device: torch.device | str) -> dict:
    """A model card's "training" entry: the settings, the steps and losses of ``fit``'s run, where."""
    return {**asdict(cfg), "optimizer": "Adam, linear warmup then cosine decay", "steps": meta["step"],
            "epochs_done": meta["epoch"], "loss_per_epoch": meta["loss_per_epoch"],
            "wall_time_s": meta["wall_time_s"], "hardware": hardware_summary(device)}


def check_writable(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


class Checkpoint:
    """<out>.ckpt.safetensors (model, EMA, optimiser tensors) + <out>.ckpt.json (progress, config)."""

    def __init__(self, out: Path):
        self.tensors = out.with_name(out.name + ".ckpt.safetensors")
        self.meta = out.with_name(out.name + ".ckpt.json")

    def save(self, model: nn.Module, ema: nn.Module | None, opt: torch.optim.Optimizer, meta: dict) -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        if ema is not None:
            tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
        for index, state in opt.state_dict()["state"].items():
            tensors.update({f"opt.{index}.{k}": torch.as_tensor(v) for k, v in state.items()})
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(self.tensors))
        self.meta.write_text(json.dumps(meta, indent=2) + "\n")

    def load(self, model: nn.Module, ema: nn.Module | None, opt: torch.optim.Optimizer, network: dict) -> dict:
        if not self.meta.is_file() or not self.tensors.is_file():
            raise ValueError(f"--resume: no checkpoint at {self.meta} (start without --resume)")
        meta = json.loads(self.meta.read_text())
        if meta.get("network") != json.loads(json.dumps(network)):
            raise ValueError(f"--resume: checkpoint {self.meta} is of another architecture "
                             f"({meta.get('network')}), not {network}")
        try:
            tensors = load_file(str(self.tensors))
            model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            if ema is not None:
                ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        except (SafetensorError, RuntimeError) as exc:
            first_line = str(exc).splitlines()[0]
            raise ValueError(f"--resume: checkpoint {self.tensors} does not fit this network: {first_line}") from None
        opt_state = opt.state_dict()
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                opt_state["state"].setdefault(int(index), {})[name] = value
        opt.load_state_dict(opt_state)
        return meta


def fit(model: nn.Module, loss_fn: Callable, data: tuple[torch.Tensor, ...], out: Path, cfg: TrainConfig,
        network: dict, resume: bool, ema: nn.Module | None = None, log: Callable[[str], None] = print) -> dict:
    """The shared loop: Adam with warmup + cosine, a tqdm bar with loss and ETA, a checkpoint per epoch.

    The model (and ema) sit on the device to train on; ``data`` is moved there. loss_fn(model, batch,
    generator) -> scalar loss, drawing its randomness from the CPU generator so that a seed means
    the same draws on every device. Returns the last checkpoint's meta.
    """
    check_writable(out)
    device = next(model.parameters()).device
    data = tuple(d.to(device) for d in data)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ckpt = Checkpoint(out)
    meta = {"network": network, "train": asdict(cfg), "epoch": 0, "step": 0, "loss_per_epoch": [], "wall_time_s": 0.0}
    if resume:
        meta = {**ckpt.load(model, ema, opt, network), "train": asdict(cfg)}
        log(f"resumed from {ckpt.meta} after epoch {meta['epoch']}")
    n = data[0].shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    for epoch in range(meta["epoch"], cfg.epochs):
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen).to(device)
        started, running = time.perf_counter(), []  # losses stay on the device: no sync every step
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", mininterval=5)
        for i in bar:
            for group in opt.param_groups:
                group["lr"] = learning_rate(meta["step"], total, cfg)
            batch = tuple(d[order[i * cfg.batch_size:(i + 1) * cfg.batch_size]] for d in data)
            loss = loss_fn(model, batch, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            meta["step"] += 1
            if ema is not None:
                decay = min(cfg.ema_decay, (1 + meta["step"]) / (10 + meta["step"]))
                with torch.no_grad():
                    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
            running.append(loss.detach())
            if i % 50 == 0:
                bar.set_postfix(loss=f"{torch.stack(running[-50:]).mean().item():.4f}")
        meta["epoch"] = epoch + 1
        meta["loss_per_epoch"].append(round(torch.stack(running).mean().item(), 5))
        meta["wall_time_s"] = round(meta["wall_time_s"] + time.perf_counter() - started, 1)
        ckpt.save(model, ema, opt, meta)
        log(f"epoch {epoch + 1}: mean loss {meta['loss_per_epoch'][-1]:.4f}, checkpoint {ckpt.tensors}")
    return meta


def eps_loss(model: nn.Module, x0: torch.Tensor, y: torch.Tensor, schedule: NoiseSchedule, gen: torch.Generator,
             label_dropout: float) -> torch.Tensor:
    """DDPM eq. 14, ||eps - eps_theta(x_t, t, y)||^2, with y replaced by the null label for a share
    ``label_dropout`` of examples (classifier-free guidance, Ho & Salimans 2022). x0: (B, C, H, W), y: (B,).
    Pixels or latents alike: t, noise and the dropout are drawn from the CPU generator in that order."""
    t = torch.randint(0, schedule.num_steps, (x0.shape[0],), generator=gen)  # stays on the CPU: no sync
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)
    drop = (torch.rand(x0.shape[0], generator=gen) < label_dropout).to(x0.device)
    y = torch.where(drop, torch.full_like(y, model.null_label), y)
    return F.mse_loss(model(q_sample(x0, t, schedule, noise), t.to(x0.device), y), noise)


def initialise_from(model: nn.Module, init_from: Path, loader: Callable) -> dict:
    """Fill ``model`` with saved weights (``loader(name, directory=...)`` checks their sha256) for a
    fine-tune; returns the card entry {"initialised_from": ...} that keeps their training record."""
    start_model, start_card = loader(init_from.name, directory=init_from.parent)
    if start_model.config != model.config:
        raise ValueError(f"--init-from: {init_from} is of another architecture ({asdict(start_model.config)}), "
                         f"not {asdict(model.config)}")
    model.load_state_dict(start_model.state_dict())
    record = {"weights": start_card["weights_file"], "sha256": start_card["sha256"],
              "training": start_card.get("training"), "initialised_from": start_card.get("initialised_from")}
    return {"initialised_from": {k: v for k, v in record.items() if v is not None}}


def train_diffusion(images, labels, out: Path, cfg: TrainConfig, net: UNetConfig = UNetConfig(),
                    resume: bool = False, log: Callable[[str], None] = print,
                    device: torch.device | str = "cpu", init_from: Path | None = None) -> dict:
    """Train the class-conditional eps-prediction U-Net (DDPM linear schedule, T = 1000); save EMA weights.

    ``init_from`` (a path prefix of saved weights and card) starts the network and its EMA from those
    weights, sha-checked, with a fresh optimiser: a fine-tune. Its card's training record is kept.
    """
    schedule = TRAINING_SCHEDULE.build()
    model = seeded_model(UNet, net, cfg.seed, device)
    start = {} if init_from is None else initialise_from(model, init_from, load_diffusion_model)
    ema = copy.deepcopy(model).requires_grad_(False)

    def loss_fn(model, batch, gen):
        x0, y = batch
        return eps_loss(model, x0, y, schedule, gen, cfg.label_dropout)

    data = (to_model_space(images), torch.tensor(np.asarray(labels), dtype=torch.long))
    meta = fit(model, loss_fn, data, out, cfg, asdict(net), resume, ema=ema, log=log)
    card = {
        **eps_model_card("diffusion", "UNet (diffusion_core/unet.py)", net),
        "image_scaling": "uint8 pixels p -> p / 127.5 - 1, in [-1, 1]",
        "weights": "EMA of the training weights",
        "training_data": f"MNIST training set, {data[0].shape[0]} digits",
        "training": training_record(cfg, meta, device),
        **start,
    }
    return save_weights(ema, out.name, card, out.parent)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    device = next(model.parameters()).device
    images, labels = images.to(device), labels.to(device)
    hits = sum(int((model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
               for i in range(0, images.shape[0], batch_size))
    return hits / images.shape[0]


def train_classifier(train, test, out: Path, cfg: TrainConfig, net: ClassifierConfig = ClassifierConfig(),
                     resume: bool = False, log: Callable[[str], None] = print,
                     device: torch.device | str = "cpu") -> dict:
    """Train the MNIST classifier with small random shifts; report its test accuracy in the card."""
    model = seeded_model(Classifier, net, cfg.seed, device)

    def loss_fn(model, batch, gen):
        x, y = batch
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))  # a shift of up to 2 px, like a different writer
        return F.cross_entropy(model(x), y)

    data = (to_model_space(train[0]), torch.tensor(np.asarray(train[1]), dtype=torch.long))
    meta = fit(model, loss_fn, data, out, cfg, asdict(net), resume, log=log)
    test_acc = accuracy(model, to_model_space(test[0]), torch.tensor(np.asarray(test[1]), dtype=torch.long))
    log(f"test accuracy {test_acc:.4f}")
    card = {
        "kind": "classifier",
        "architecture": "Classifier (diffusion_core/classifier.py)",
        "config": asdict(net),
        "image_scaling": "uint8 pixels p -> p / 127.5 - 1, in [-1, 1]",
        "training_data": f"MNIST training set, {data[0].shape[0]} digits, random shifts of up to 2 px",
        "training": training_record(cfg, meta, device),
        "test_accuracy": round(test_acc, 4),
        "test_data": f"MNIST test set, {test[0].shape[0]} digits",
    }
    return save_weights(model.eval(), out.name, card, out.parent)
