"""Exact scores of 2-D Gaussian mixtures: the two ways back, and guidance as geometry.

For p(x_0) = sum_k pi_k N(mu_k, s_k^2 I), every component stays a Gaussian under q(x_t | x_0) =
N(sqrt(ab_t) x_0, (1 - ab_t) I) (DDPM eq. 4), so the noised density is a mixture with the same weights,

    q(x_t) = sum_k pi_k N(x_t; sqrt(ab_t) mu_k, v_k I),    v_k = ab_t s_k^2 + 1 - ab_t,

and its score is exact at every t: grad log q(x_t) = sum_k r_k(x_t) (sqrt(ab_t) mu_k - x_t) / v_k, with
r_k the posterior probability of component k. The noise a perfect denoiser predicts is
eps*(x_t, t) = E[eps | x_t] = -sqrt(1 - ab_t) grad log q(x_t) (Vincent 2011; Song et al. 2021, eq. 20's
score-eps link), so ``ExactEps`` can stand in for the network in ``ReverseProcess``: DDPM's ancestral
steps then discretise the reverse SDE, DDIM with eta = 0 the probability-flow ODE (Song et al. 2021).
Timesteps are 0-based schedule indices where a name says "index", as in ``samplers``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from .samplers import ReverseProcess, SamplerConfig
from .schedules import NoiseSchedule

MixtureName = Literal["ring", "uneven"]
MIXTURE_NAMES: tuple[str, ...] = get_args(MixtureName)


@dataclass(frozen=True)
class Mixture2D:
    """p(x) = sum_k weights[k] N(x; means[k], stds[k]^2 I) in the plane."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, float], ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.weights) == len(self.means) == len(self.stds) >= 1:
            raise ValueError(f"weights, means and stds need one entry per component, got lengths "
                             f"{len(self.weights)}, {len(self.means)}, {len(self.stds)}")
        if any(len(m) != 2 for m in self.means):
            raise ValueError(f"means must be (x, y) pairs, got {self.means}")
        if min(self.weights) <= 0 or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must be positive and sum to 1, got {self.weights}")
        if min(self.stds) <= 0:
            raise ValueError(f"stds must be positive, got {self.stds}")

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2) float32 draws and the component (n,) each came from."""
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        points = np.asarray(self.means)[k] + np.asarray(self.stds)[k, None] * rng.standard_normal((n, 2))
        return points.astype(np.float32), k

    def _noised(self, x: torch.Tensor, alpha_bar) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Means (B, K, 2), variances (B, K) and log-probabilities of each component (B, K) of q(x_t)."""
        ab = torch.as_tensor(alpha_bar, dtype=x.dtype, device=x.device).reshape(-1, 1)  # (B or 1, 1)
        mu = torch.as_tensor(self.means, dtype=x.dtype, device=x.device)  # (K, 2)
        s2 = torch.as_tensor(self.stds, dtype=x.dtype, device=x.device) ** 2  # (K,)
        log_pi = torch.as_tensor(self.weights, dtype=x.dtype, device=x.device).log()
        mean = ab.sqrt()[:, :, None] * mu  # (B, K, 2)
        var = ab * s2 + (1.0 - ab)  # (B, K)
        log_comp = log_pi - torch.log(2 * math.pi * var) - ((x[:, None, :] - mean) ** 2).sum(-1) / (2 * var)
        return mean, var, log_comp

    def log_density(self, x: torch.Tensor, alpha_bar) -> torch.Tensor:
        """log q(x_t) at x (B, 2) for alpha_bar a number or (B,); alpha_bar = 1 is the data itself."""
        return torch.logsumexp(self._noised(x, alpha_bar)[2], dim=1)

    def score(self, x: torch.Tensor, alpha_bar) -> torch.Tensor:
        """grad_x log q(x_t) at x (B, 2): sum_k r_k (sqrt(ab) mu_k - x) / v_k, in closed form. (B, 2)"""
        mean, var, log_comp = self._noised(x, alpha_bar)
        r = torch.softmax(log_comp, dim=1)  # (B, K): the posterior probability of each component
        return ((r / var)[:, :, None] * (mean - x[:, None, :])).sum(1)

    def density(self, x: np.ndarray, alpha_bar: float) -> np.ndarray:
        """q(x_t) at the points x (N, 2), a numpy convenience for the pictures. (N,)"""
        return self.log_density(torch.as_tensor(x, dtype=torch.float64), alpha_bar).exp().numpy()


def combine(parts: tuple[Mixture2D, ...], weights: tuple[float, ...]) -> Mixture2D:
    """The mixture sum_c weights[c] parts[c]: how p(x) = sum_y p(y) p(x | y) is itself a mixture."""
    return Mixture2D(tuple(w * pi for w, part in zip(weights, parts) for pi in part.weights),
                     tuple(m for part in parts for m in part.means), tuple(s for part in parts for s in part.stds))


_RING = tuple((0.7 * math.cos(a), 0.7 * math.sin(a)) for a in np.arange(8) * math.pi / 4)
MIXTURES_2D: dict[str, Mixture2D] = {
    "ring": Mixture2D((0.125,) * 8, _RING, (0.06,) * 8),  # eight equal Gaussians on a circle
    "uneven": Mixture2D((0.6, 0.3, 0.1), ((-0.5, -0.3), (0.5, -0.3), (0.0, 0.6)), (0.15, 0.08, 0.05)),
}
MIXTURE_LABELS = {"ring": "eight Gaussians on a ring", "uneven": "three uneven Gaussians (weights 0.6, 0.3, 0.1)"}


def mixture(name: MixtureName) -> Mixture2D:
    if name not in MIXTURES_2D:
        raise ValueError(f"mixture name must be one of {', '.join(MIXTURE_NAMES)}, got {name!r}")
    return MIXTURES_2D[name]


# --- the two-class toy of the guidance page ---------------------------------------------------------
CLASSES = (  # y = 0 and y = 1; the first mode of class 1 sits near class 0, the second far from it
    Mixture2D((0.5, 0.5), ((-0.55, 0.35), (-0.55, -0.45)), (0.1, 0.1)),
    Mixture2D((0.5, 0.5), ((-0.05, 0.35), (0.6, -0.2)), (0.1, 0.1)),
)
CLASS_WEIGHTS = (0.5, 0.5)  # p(y)


class ExactEps:
    """eps*(x_t, t, y) = -sqrt(1 - ab_t) grad log q(x_t | y), a perfect denoiser in the network's place.

    classes: p(x | y) for y = 0 .. C - 1; label C (``null_label``) or y = None is the unconditional
    p(x) = sum_y p(y) p(x | y). Called like the network: x (B, 2), t (B,) 0-based indices, y (B,) or None.
    Computed in float64 whatever x is (near t = T the DDIM step divides by sqrt(ab_T) ~ 5e-4).
    """

    def __init__(self, schedule: NoiseSchedule, classes: tuple[Mixture2D, ...],
                 class_weights: tuple[float, ...] | None = None):
        self.schedule = schedule
        self.classes = classes
        weights = class_weights or (1.0 / len(classes),) * len(classes)
        self.unconditional = classes[0] if len(classes) == 1 else combine(classes, weights)
        self.null_label = len(classes)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        ab = self.schedule.alphas_cumprod[t.cpu()]  # (B,) float64
        x64 = x.to(torch.float64)
        options = [*self.classes, self.unconditional]
        labels = torch.full((x.shape[0],), self.null_label) if y is None else y.cpu()
        if not bool(((labels >= 0) & (labels <= self.null_label)).all()):
            raise ValueError(f"labels must lie in [0, {self.null_label}] ({self.null_label}: no label), "
                             f"got {labels.tolist()}")
        eps = torch.zeros_like(x64)
        for label in labels.unique().tolist():
            rows = labels == label
            eps[rows] = -(1.0 - ab[rows]).sqrt()[:, None] * options[label].score(x64[rows], ab[rows])
        return eps.to(x.dtype)


def exact_sampler(schedule: NoiseSchedule, sampler: Literal["ddpm", "ddim"], steps: int | None = None,
                  guidance: float = 1.0) -> ReverseProcess:
    """DDPM (the reverse SDE, ancestral steps) or DDIM with eta = 0 (the probability-flow ODE) with no
    clipping of x0_hat: with the exact score nothing needs correcting."""
    config = SamplerConfig(sampler=sampler, steps=steps or schedule.num_steps, eta=0.0, guidance=guidance,
                           clip_denoised=False)
    return ReverseProcess(schedule, config)


@torch.inference_mode()
def two_ways_back(schedule: NoiseSchedule, data: Mixture2D, num_points: int, seed: int) -> tuple[np.ndarray, ...]:
    """The same start points x_T ~ N(0, I) carried back by the reverse SDE (DDPM) and by the probability-flow
    ODE (DDIM, eta = 0), both driven by the exact eps*. Returns (sde, ode), each (T + 1, N, 2) float64, and
    the paper's t of each row (T + 1,): T first, 0 (the samples) last."""
    model = ExactEps(schedule, (data,))
    start = torch.randn((num_points, 2), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    paths = []
    for sampler in ("ddpm", "ddim"):
        generator = torch.Generator().manual_seed(seed + 1)
        trajectory = exact_sampler(schedule, sampler).sample(model, start, generator, null_label=model.null_label,
                                                                    record=True)
        paths.append(trajectory.xs.numpy())
    return paths[0], paths[1], np.append(trajectory.t.numpy(), 0)


def exact_eps_field(data: Mixture2D, alpha_bar: float, points: np.ndarray) -> np.ndarray:
    """eps*(x) = -sqrt(1 - ab) grad log q(x_t) at points (N, 2), for one alpha_bar. (N, 2); 0 at ab = 1."""
    x = torch.as_tensor(points, dtype=torch.float64)
    return (-math.sqrt(1.0 - alpha_bar) * data.score(x, alpha_bar)).numpy()


@torch.inference_mode()
def network_eps_field(model, index: int, points: np.ndarray) -> np.ndarray:
    """A network's eps_theta(x, t) at points (N, 2) for the 0-based timestep ``index``. (N, 2)"""
    x = torch.as_tensor(points, dtype=torch.float32)
    return model(x, torch.full((len(x),), index, dtype=torch.long)).double().numpy()


def grid_points(axis: np.ndarray) -> np.ndarray:
    """The square grid axis x axis as points (G * G, 2), row-major in y: point i * G + j is (axis[j], axis[i])."""
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


@torch.inference_mode()
def guided_samples(schedule: NoiseSchedule, label: int, guidance: float, num_points: int, seed: int) -> np.ndarray:
    """Samples of the two-class toy (CLASSES) with classifier-free guidance eps_0 + w (eps_y - eps_0) on the
    exact scores, by DDIM with eta = 0 from the same x_T ~ N(0, I) for every w. (num_points, 2) float64."""
    model = ExactEps(schedule, CLASSES, CLASS_WEIGHTS)
    start = torch.randn((num_points, 2), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    labels = torch.full((num_points,), label)
    process = exact_sampler(schedule, "ddim", guidance=guidance)
    return process.sample(model, start, torch.Generator(), labels=labels, null_label=model.null_label).numpy()
