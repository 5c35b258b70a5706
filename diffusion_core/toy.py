"""A toy world small enough to see whole: how a data distribution melts into the prior.

A 1-D mixture of Gaussians, whose marginal q(x_t) stays a Gaussian mixture in closed form;
2-D point sets (two moons, a spiral) in [-1, 1]^2, the range of the digits' pixels; and a tiny
MLP denoiser eps_theta(x_t, t) trained on them in seconds on a CPU, sampled with the app's own
``ReverseProcess``. Timesteps ``t`` are the paper's (0 = the data) unless a name says "index".
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Literal, get_args

import numpy as np
import torch
from torch import nn

from .flow_matching import flow_matching_loss
from .forward import q_chain, q_sample, q_sample_at
from .samplers import ReverseProcess, SamplerConfig, Trajectory, initial_noise
from .schedules import NoiseSchedule, make_schedule
from .toy_score import MIXTURE_NAMES, MixtureName, mixture

ToyName = Literal["moons", "spiral"]
TOY_NAMES: tuple[str, ...] = get_args(ToyName)
DATA_NAMES: tuple[str, ...] = TOY_NAMES + MIXTURE_NAMES  # what a toy model can be trained on
Objective = Literal["eps", "flow"]  # DDPM's noise prediction, or flow matching's velocity (flow_matching.py)
OBJECTIVES: tuple[str, ...] = get_args(Objective)
ToySchedule = Literal["linear", "cosine"]
TOY_SCHEDULES: tuple[str, ...] = get_args(ToySchedule)


# --- the 1-D mixture and its marginals q(x_t) -----------------------------------------------------
@dataclass(frozen=True)
class GaussianMixture:
    """p(x) = sum_k weights[k] N(x; means[k], stds[k]^2), in one dimension."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.weights) == len(self.means) == len(self.stds) >= 1:
            raise ValueError(f"weights, means and stds need one entry per component, got lengths "
                             f"{len(self.weights)}, {len(self.means)}, {len(self.stds)}")
        if min(self.weights) <= 0 or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must be positive and sum to 1, got {self.weights}")
        if min(self.stds) <= 0:
            raise ValueError(f"stds must be positive, got {self.stds}")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at x (any shape)."""
        return mixture_density(self, np.ones(1), np.asarray(x, dtype=np.float64).ravel())[0].reshape(np.shape(x))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) draws: a component k ~ weights, then x ~ N(means[k], stds[k]^2)."""
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        return np.asarray(self.means)[k] + np.asarray(self.stds)[k] * rng.standard_normal(n)


MIXTURES = {  # presets for the page
    "two bumps": GaussianMixture((0.35, 0.65), (-1.2, 0.9), (0.25, 0.35)),
    "three spikes": GaussianMixture((0.3, 0.4, 0.3), (-1.5, 0.0, 1.5), (0.08, 0.08, 0.08)),
    "far and narrow": GaussianMixture((0.8, 0.2), (-0.5, 2.5), (0.3, 0.1)),
}


def mixture_density(mixture: GaussianMixture, alpha_bar: np.ndarray, x: np.ndarray) -> np.ndarray:
    """q(x_t) on the points x (N,) for each alpha_bar_t in alpha_bar (F,): (F, N).

    q(x_t) = int q(x_t | x_0) p(x_0) dx_0 with q(x_t | x_0) = N(sqrt(ab) x_0, 1 - ab) (DDPM eq. 4):
    each component N(mu_k, s_k^2) becomes N(sqrt(ab) mu_k, ab s_k^2 + 1 - ab), same weight.
    """
    ab = np.asarray(alpha_bar, dtype=np.float64)[:, None, None]  # (F, 1, 1)
    mu, s = np.asarray(mixture.means)[None, None, :], np.asarray(mixture.stds)[None, None, :]  # (1, 1, K)
    mean, var = np.sqrt(ab) * mu, ab * s ** 2 + (1.0 - ab)  # (F, 1, K)
    x = np.asarray(x, dtype=np.float64)[None, :, None]  # (1, N, 1)
    comp = np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * math.pi * var)  # (F, N, K)
    return comp @ np.asarray(mixture.weights)


def kernel_chain(x0: np.ndarray, schedule: NoiseSchedule, seed: int) -> np.ndarray:
    """Apply the transition kernel q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t) (DDPM eq. 2)
    T times to the samples x0 (N,). Returns (T + 1, N) float32: row t is x_t (row 0 is x0)."""
    x = torch.as_tensor(x0, dtype=torch.float32)[:, None]  # (N, 1)
    return q_chain(x, schedule, torch.Generator().manual_seed(seed))[:, :, 0].numpy()


# --- the 2-D toy data ---------------------------------------------------------------------------------
def two_moons(n: int, rng: np.random.Generator, noise: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles (as in scikit-learn's make_moons), scaled into [-1, 1]^2.

    Returns points (n, 2) and a colour value (n,) in [0, 1] that runs along the data.
    """
    u = rng.random(n)
    upper = u < 0.5
    angle = np.pi * np.where(upper, 2 * u, 2 * u - 1)  # (n,) along each moon
    x = np.where(upper, np.cos(angle), 1 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([(x - 0.5) / 1.6, (y - 0.25) / 1.6], axis=1) + noise * rng.standard_normal((n, 2))
    return points, u


def spiral(n: int, rng: np.random.Generator, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """The swiss roll of Sohl-Dickstein et al. 2015 (the first diffusion model's toy) seen from its end:
    radius growing with the angle over 1.5 turns, inside [-1, 1]^2; colour = position along it."""
    u = rng.random(n)
    angle = 1.5 * np.pi * (1 + 2 * u)  # 1.5 pi .. 4.5 pi
    radius = 0.9 * angle / (4.5 * np.pi)  # 0.3 .. 0.9
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) + noise * rng.standard_normal((n, 2))
    return points, u


def toy_points(name: ToyName | MixtureName, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(points (n, 2) float32, colour (n,)) of the named toy set, or of a 2-D Gaussian mixture of
    toy_score (colour: the component, spread over [0, 1])."""
    makers = {"moons": two_moons, "spiral": spiral}
    if name in MIXTURE_NAMES:
        data = mixture(name)
        points, component = data.sample(n, np.random.default_rng(seed))
        return points, component / max(len(data.weights) - 1, 1)
    if name not in makers:
        raise ValueError(f"toy data name must be one of {', '.join(DATA_NAMES)}, got {name!r}")
    points, colour = makers[name](n, np.random.default_rng(seed))
    return points.astype(np.float32), colour


def toy_schedule(name: ToySchedule, num_steps: int) -> NoiseSchedule:
    """A short schedule for the toy. cosine: Nichol & Dhariwal 2021. linear: DDPM's 1e-4 -> 0.02 scaled
    by 1000 / T (improved-diffusion's get_named_beta_schedule), so a short chain still ends in noise."""
    if name == "cosine":
        return make_schedule("cosine", num_steps)
    if name == "linear":
        scale = 1000 / num_steps
        return make_schedule("linear", num_steps, beta_start=1e-4 * scale, beta_end=0.02 * scale)
    raise ValueError(f"toy schedule must be one of {', '.join(TOY_SCHEDULES)}, got {name!r}")


def forward_cloud(points: np.ndarray, schedule: NoiseSchedule, t_values: np.ndarray, seed: int) -> np.ndarray:
    """x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps (DDPM eq. 4) for each paper t in t_values (F,), one eps
    per point for every t, so each point moves continuously. points (N, D); returns (F, N, D) float32."""
    x0 = torch.as_tensor(points, dtype=torch.float32)  # (N, D)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return q_sample_at(x0, np.asarray(t_values), schedule, eps).numpy()


def nearest(samples: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of samples (N, D): the distance to the nearest point of data (M, D), and its index."""
    d = torch.cdist(torch.as_tensor(samples, dtype=torch.float32), torch.as_tensor(data, dtype=torch.float32))
    distance, index = d.min(dim=1)
    return distance.numpy(), index.numpy()


def mean_nearest_distance(samples: np.ndarray, data: np.ndarray) -> float:
    """Mean over samples (N, D) of the distance to the nearest point of data (M, D): 0 on the data."""
    return float(nearest(samples, data)[0].mean())


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """The energy distance of Szekely & Rizzo between point clouds x (N, D) and y (M, D):
    sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|), each mean over all pairs (as scipy.stats.energy_distance
    in one dimension). Zero for equal clouds; it grows as the two distributions part."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    between, within_x, within_y = (torch.cdist(a, b).mean() for a, b in ((x, y), (x, x), (y, y)))
    return float((2 * between - within_x - within_y).clamp(min=0).sqrt())


# --- the tiny denoiser ------------------------------------------------------------------------------
class ToyDenoiser(nn.Module):
    """eps_theta(x_t, t) for 2-D points: an MLP on [x_t, Fourier features of x_t and of t / T]. With
    num_steps = 1 and t in [0, 1] the same network is flow matching's velocity v_theta(x_t, t).

    The sin / cos features of x_t (Tancik et al. 2020) let a small MLP draw the sharp score field
    near thin data in a thousand steps; with x_t alone it stays blurred for many more.
    """

    def __init__(self, num_steps: int, hidden: int = 64, x_octaves: int = 5, t_octaves: int = 8):
        super().__init__()
        self.num_steps = num_steps
        self.register_buffer("x_freqs", math.pi * 2.0 ** torch.arange(x_octaves, dtype=torch.float32))  # pi .. 16 pi
        self.register_buffer("t_freqs", math.pi * 2.0 ** torch.linspace(-1.0, 4.0, t_octaves))
        width = 2 + 4 * x_octaves + 2 * t_octaves
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, 2), t: (B,) 0-based timestep indices (or times in [0, 1] when num_steps = 1); y (a label)
        is ignored. Returns eps (or the velocity) (B, 2)."""
        ax = (x[:, :, None] * self.x_freqs).flatten(1)  # (B, 2 * x_octaves)
        at = (t.to(x.dtype) / self.num_steps)[:, None] * self.t_freqs  # (B, t_octaves)
        return self.net(torch.cat([x, ax.sin(), ax.cos(), at.sin(), at.cos()], dim=1))


@dataclass(frozen=True)
class ToyConfig:
    """Everything that decides a trained toy model (hashable: the page caches on it)."""

    data: ToyName | MixtureName = "moons"
    schedule: ToySchedule = "cosine"
    num_steps: int = 100  # T: short, so the reverse run over all T steps is instant
    num_points: int = 4000  # training set size
    train_steps: int = 1000  # a few seconds on one CPU core
    batch_size: int = 512  # large batches cost little more per step for so small a network
    hidden: int = 64
    lr: float = 1e-2  # Adam, decayed to 0 along a cosine
    seed: int = 0
    objective: Objective = "eps"  # "flow": a velocity on x_t = (1 - t) x_0 + t eps, t in [0, 1]; no schedule

    def __post_init__(self) -> None:
        if self.data not in DATA_NAMES:
            raise ValueError(f"data must be one of {', '.join(DATA_NAMES)}, got {self.data!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.schedule not in TOY_SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(TOY_SCHEDULES)}, got {self.schedule!r}")
        for name in ("num_steps", "num_points", "train_steps", "batch_size", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    def build_schedule(self) -> NoiseSchedule:
        return toy_schedule(self.schedule, self.num_steps)


@dataclass
class TrainedToy:
    config: ToyConfig
    model: ToyDenoiser
    losses: np.ndarray  # (train_steps,) the simple loss of each step
    seconds: float  # wall time of train_toy (the first call in a process also imports torch._dynamo)

    def smoothed_losses(self, window: int = 50) -> np.ndarray:
        """Running mean of the loss over the last ``window`` steps, (train_steps,)."""
        sums = np.cumsum(np.concatenate([[0.0], self.losses]))
        steps = np.arange(1, len(self.losses) + 1)
        return (sums[steps] - sums[np.maximum(steps - window, 0)]) / np.minimum(steps, window)


LossOf = Callable[[nn.Module, torch.Tensor, torch.Generator], torch.Tensor]  # (model, x0 (B, 2), generator) -> loss


def fit(model: nn.Module, data: torch.Tensor, loss_of: LossOf, config: ToyConfig, generator: torch.Generator,
        progress: Callable[[int, int, float], None] | None = None) -> np.ndarray:
    """The training loop every toy objective shares: batches of data (N, 2) drawn with ``generator``,
    loss_of(model, x0 (B, 2), generator) -> a scalar, Adam with a cosine decay of the learning rate.
    progress(step, total, loss) is called every 50 steps and at the end. Returns the losses (steps,)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.train_steps)
    losses = np.empty(config.train_steps)
    for step in range(config.train_steps):
        x0 = data[torch.randint(len(data), (config.batch_size,), generator=generator)]  # (B, 2)
        loss = loss_of(model, x0, generator)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        decay.step()
        losses[step] = loss.item()
        if progress is not None and ((step + 1) % 50 == 0 or step + 1 == config.train_steps):
            progress(step + 1, config.train_steps, float(losses[max(0, step - 49): step + 1].mean()))
    model.eval()
    return losses


def denoising_loss(schedule: NoiseSchedule) -> LossOf:
    """DDPM's simple loss || eps - eps_theta(sqrt(ab) x_0 + sqrt(1 - ab) eps, t) ||^2 (DDPM eq. 14, algorithm 1)."""
    def loss_of(model: nn.Module, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        t = torch.randint(schedule.num_steps, (x0.shape[0],), generator=generator)  # 0-based
        eps = torch.randn(x0.shape, generator=generator)
        return ((model(q_sample(x0, t, schedule, eps), t) - eps) ** 2).sum(dim=1).mean()  # (B, 2) -> ||.||^2
    return loss_of


def train_toy(config: ToyConfig, progress: Callable[[int, int, float], None] | None = None) -> TrainedToy:
    """Fit the toy network to config.data with config.objective: eps_theta(x_t, t) with DDPM's simple loss,
    or a flow-matching velocity v_theta(x_t, t) with t in [0, 1] (flow_matching.flow_matching_loss)."""
    start = time.perf_counter()
    data = torch.as_tensor(toy_points(config.data, config.num_points, config.seed)[0])  # (N, 2)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the global RNG alone
        torch.manual_seed(config.seed)
        model = ToyDenoiser(config.num_steps if config.objective == "eps" else 1, config.hidden)  # flow: t / 1
    loss_of = denoising_loss(config.build_schedule()) if config.objective == "eps" else flow_matching_loss
    losses = fit(model, data, loss_of, config, generator, progress)
    return TrainedToy(config, model, losses, time.perf_counter() - start)


def reverse_cloud(trained: TrainedToy, num_samples: int, seed: int) -> Trajectory:
    """Carry num_samples Gaussian points x_T ~ N(0, I) back to the data with DDPM over all T steps
    (ancestral sampling, DDPM algorithm 2). Trajectory.xs is (T + 1, num_samples, 2)."""
    schedule = trained.config.build_schedule()
    process = ReverseProcess(schedule, SamplerConfig(sampler="ddpm", steps=schedule.num_steps))
    generator = torch.Generator().manual_seed(seed)
    return process.sample(trained.model, initial_noise(num_samples, generator, shape=(2,)), generator, record=True)
