"""Beta schedules (pure functions) and the NoiseSchedule of derived quantities they produce.

Index convention: position ``i`` of every 1-D tensor here is the paper's timestep
``t = i + 1``; ``t = 0`` is the clean image x_0 and has no entry.
Everything is computed in float64 ("Use float64 for accuracy", improved-diffusion);
callers cast to the dtype of the images they work on (see ``extract``).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch

ScheduleName = Literal["linear", "cosine", "quadratic", "sigmoid"]
SCHEDULE_NAMES: tuple[str, ...] = get_args(ScheduleName)

# DDPM (Ho et al. 2020, section 4): beta_1 = 1e-4 rising linearly to beta_T = 0.02, T = 1000.
DEFAULT_BETA_START = 1e-4
DEFAULT_BETA_END = 0.02
DEFAULT_NUM_STEPS = 1000
COSINE_S = 0.008  # Nichol & Dhariwal 2021, eq. 17: keeps beta_1 from being vanishingly small
COSINE_MAX_BETA = 0.999  # Nichol & Dhariwal 2021: clip to avoid a singularity at t = T


def index_of(t):
    """The tensor index of the paper's t (1 … T): t - 1. An int, array or tensor alike."""
    return t - 1


def paper_t(index):
    """The paper's t of a tensor index (0 … T - 1): index + 1. An int, array or tensor alike."""
    return index + 1


def _check_num_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")


def _check_beta_range(beta_start: float, beta_end: float) -> None:
    for name, value in (("beta_start", beta_start), ("beta_end", beta_end)):
        is_number = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
        if not is_number or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if beta_start > beta_end:
        raise ValueError(f"beta_start must be <= beta_end, got beta_start={beta_start!r} > beta_end={beta_end!r}")


def linear_betas(num_steps: int, beta_start: float = DEFAULT_BETA_START,
                 beta_end: float = DEFAULT_BETA_END) -> torch.Tensor:
    """DDPM (Ho et al. 2020): beta_t rises linearly from beta_start to beta_end."""
    _check_num_steps(num_steps)
    _check_beta_range(beta_start, beta_end)
    return torch.linspace(float(beta_start), float(beta_end), int(num_steps), dtype=torch.float64)


def quadratic_betas(num_steps: int, beta_start: float = DEFAULT_BETA_START,
                    beta_end: float = DEFAULT_BETA_END) -> torch.Tensor:
    """Quadratic: sqrt(beta_t) rises linearly, beta_t = (sqrt(b0) + (sqrt(b1) - sqrt(b0)) * (t-1)/(T-1))^2.

    The "quad" schedule of the DDPM code release (Ho et al. 2020, diffusion_utils_2.py).
    """
    _check_num_steps(num_steps)
    _check_beta_range(beta_start, beta_end)
    return torch.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_steps, dtype=torch.float64) ** 2


def sigmoid_betas(num_steps: int, beta_start: float = DEFAULT_BETA_START,
                  beta_end: float = DEFAULT_BETA_END) -> torch.Tensor:
    """Sigmoid: beta_t = beta_start + (beta_end - beta_start) * sigmoid(u_t), u_t evenly spaced on [-6, 6].

    As in GeoDiff (Xu et al. 2022) and diffusers' "sigmoid" schedule: slow at both ends,
    fast in the middle.
    """
    _check_num_steps(num_steps)
    _check_beta_range(beta_start, beta_end)
    u = torch.linspace(-6.0, 6.0, num_steps, dtype=torch.float64)
    return beta_start + (beta_end - beta_start) * torch.sigmoid(u)


def cosine_betas(num_steps: int, s: float = COSINE_S, max_beta: float = COSINE_MAX_BETA) -> torch.Tensor:
    """Improved DDPM (Nichol & Dhariwal 2021, eq. 17): alpha_bar(t) = f(t) / f(0),
    f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), and beta_t = min(1 - alpha_bar(t)/alpha_bar(t-1), max_beta).
    """
    _check_num_steps(num_steps)
    if not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        raise ValueError(f"s must be a finite number >= 0, got {s!r}")
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=max_beta)


_BETA_FUNCTIONS = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "quadratic": quadratic_betas,
    "sigmoid": sigmoid_betas,
}


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A beta schedule and every quantity DDPM derives from it, all float64 of shape (T,)."""

    betas: torch.Tensor
    name: str = "custom"
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError(f"every beta must lie in (0, 1), got min {betas.min().item():.3g}, "
                             f"max {betas.max().item():.3g}")
        object.__setattr__(self, "betas", betas)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)  # DDPM eq. 4: alpha_bar_t = prod_{s<=t} alpha_s
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        derived = {
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "sqrt_recip_alphas_cumprod": (1.0 / alphas_cumprod).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1.0).sqrt(),
            "snr": alphas_cumprod / (1.0 - alphas_cumprod),
            # DDPM eq. 7: q(x_{t-1} | x_t, x_0) = N(coef1 * x_0 + coef2 * x_t, beta_tilde_t I)
            "posterior_variance": betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * alphas.sqrt() / (1.0 - alphas_cumprod),
        }
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    # Declared for readers and type checkers; filled in __post_init__.
    alphas: torch.Tensor = field(init=False, repr=False)
    alphas_cumprod: torch.Tensor = field(init=False, repr=False)
    alphas_cumprod_prev: torch.Tensor = field(init=False, repr=False)
    sqrt_alphas_cumprod: torch.Tensor = field(init=False, repr=False)
    sqrt_one_minus_alphas_cumprod: torch.Tensor = field(init=False, repr=False)
    sqrt_recip_alphas_cumprod: torch.Tensor = field(init=False, repr=False)
    sqrt_recipm1_alphas_cumprod: torch.Tensor = field(init=False, repr=False)
    snr: torch.Tensor = field(init=False, repr=False)
    posterior_variance: torch.Tensor = field(init=False, repr=False)
    posterior_mean_coef1: torch.Tensor = field(init=False, repr=False)
    posterior_mean_coef2: torch.Tensor = field(init=False, repr=False)

    @property
    def num_steps(self) -> int:
        return self.betas.numel()

    @property
    def log_snr(self) -> torch.Tensor:
        return torch.log(self.snr)

    def check_t(self, t: torch.Tensor) -> torch.Tensor:
        """Validate 0-based timestep indices (paper's t - 1); returns them as int64."""
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"t must hold integer timestep indices, got dtype {t.dtype}")
        low, high = (int(v) for v in t.aminmax()) if t.numel() else (0, 0)
        if low < 0 or high >= self.num_steps:
            raise ValueError(
                f"t must lie in [0, {self.num_steps - 1}] (0-based index of the paper's t = 1..{self.num_steps}), "
                f"got values from {low} to {high}"
            )
        return t.long()

    def first_index_below(self, threshold: float) -> int | None:
        """Paper timestep t (1-based) at which alpha_bar_t first falls below threshold, or None."""
        below = torch.nonzero(self.alphas_cumprod < threshold)
        return int(paper_t(below[0])) if below.numel() else None


def make_schedule(name: ScheduleName = "linear", num_steps: int = DEFAULT_NUM_STEPS, **params: float) -> NoiseSchedule:
    """Build a named schedule: linear/quadratic/sigmoid take beta_start and beta_end, cosine takes s."""
    if name not in _BETA_FUNCTIONS:
        raise ValueError(f"schedule name must be one of {', '.join(SCHEDULE_NAMES)}, got {name!r}")
    betas_fn = _BETA_FUNCTIONS[name]
    allowed = ("s",) if name == "cosine" else ("beta_start", "beta_end")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"the {name} schedule takes parameters {', '.join(allowed)}, got unknown {', '.join(unknown)}")
    return NoiseSchedule(betas_fn(num_steps, **params), name=name, params=dict(params))


@dataclass(frozen=True)
class ScheduleSpec:
    """A named schedule and its parameters, hashable (cached functions and widgets take it); build()
    makes the NoiseSchedule. The parameters a schedule does not take are ignored."""

    name: ScheduleName = "linear"
    num_steps: int = DEFAULT_NUM_STEPS
    beta_start: float = DEFAULT_BETA_START
    beta_end: float = DEFAULT_BETA_END
    s: float = COSINE_S

    @classmethod
    def from_dict(cls, spec: dict) -> ScheduleSpec:
        """From a model card's "schedule" entry ({"name", "num_steps", "beta_start", ...})."""
        defaults = cls()
        return cls(name=spec.get("name", defaults.name), num_steps=int(spec.get("num_steps", defaults.num_steps)),
                   beta_start=float(spec.get("beta_start", defaults.beta_start)),
                   beta_end=float(spec.get("beta_end", defaults.beta_end)), s=float(spec.get("s", defaults.s)))

    def params(self) -> dict:
        return {"s": self.s} if self.name == "cosine" else {"beta_start": self.beta_start, "beta_end": self.beta_end}

    def build(self) -> NoiseSchedule:
        """make_schedule; a ValueError names the bad parameter."""
        return make_schedule(self.name, self.num_steps, **self.params())

    def label(self) -> str:
        shape = f"s = {self.s:g}" if self.name == "cosine" else f"β {self.beta_start:g} → {self.beta_end:g}"
        return f"{self.name}, {shape}, T = {self.num_steps}"


def respace(schedule: NoiseSchedule, timesteps: torch.Tensor) -> NoiseSchedule:
    """The chain that visits only ``timesteps`` (sorted 0-based indices) of ``schedule``.

    Keeps alpha_bar at the kept steps and sets beta'_i = 1 - alpha_bar'_i / alpha_bar'_{i-1}
    (Nichol & Dhariwal 2021, section 4), so DDPM's formulas apply unchanged to fewer steps.
    """
    timesteps = schedule.check_t(timesteps)
    if timesteps.ndim != 1 or timesteps.numel() < 1 or bool((timesteps[1:] <= timesteps[:-1]).any()):
        raise ValueError(f"timesteps must be a non-empty strictly increasing 1-D sequence, got {timesteps.tolist()}")
    kept = schedule.alphas_cumprod[timesteps]
    prev = torch.cat([torch.ones(1, dtype=torch.float64), kept[:-1]])
    return NoiseSchedule(1.0 - kept / prev, name=f"{schedule.name}[{timesteps.numel()} steps]", params=schedule.params)


def spaced_timesteps(num_steps: int, count: int) -> torch.Tensor:
    """``count`` 0-based indices spread evenly over [0, num_steps - 1], both ends included."""
    _check_num_steps(num_steps)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= num_steps:
        raise ValueError(f"steps must be an integer in [1, {num_steps}], got {count!r}")
    if count == 1:
        return torch.tensor([num_steps - 1])
    return torch.unique(torch.round(torch.linspace(0, num_steps - 1, count, dtype=torch.float64)).long())


def extract(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] reshaped to broadcast over ``like`` (B, ...) and cast to its dtype and device."""
    out = values[t.to(values.device)].to(device=like.device, dtype=like.dtype)  # moves B values, not all T
    return out.reshape(t.shape[0], *([1] * (like.ndim - 1)))
