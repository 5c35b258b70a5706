"""The forward (noising) process: q(x_t | x_0) in closed form and the explicit Markov chain.

Two conventions meet here:
- the paper's t: t = 0 is x_0 itself, t = 1 … T the noised states (what every screen shows);
- 0-based indices into the schedule's tensors, index = t - 1 (what q_sample, q_step and the
  samplers take, as improved-diffusion's do).
schedules.index_of and schedules.paper_t are the one conversion; the helpers under "The paper's t"
below take and return the paper's t, for the pages and the toy world.
"""
from __future__ import annotations

import numpy as np
import torch

from .schedules import NoiseSchedule, extract, index_of, paper_t


def _check_batch(name: str, x: torch.Tensor, t: torch.Tensor) -> None:
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (B, ...) with a batch dimension, got shape {tuple(x.shape)}")
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"t must be a 1-D tensor with one index per batch item ({x.shape[0]}), "
                         f"got shape {tuple(t.shape)}")


def q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """Sample q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)  (DDPM eq. 4).

    x0, noise: (B, C, H, W); t: (B,) int64 indices. Returns sqrt(ab) * x0 + sqrt(1 - ab) * noise.
    """
    t = schedule.check_t(t)
    _check_batch("x0", x0, t)
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    signal, sigma = extract(schedule.sqrt_alphas_cumprod, t, x0), extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0)
    return signal * x0 + sigma * noise


def q_step(x_prev: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """One step of the chain, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)  (DDPM eq. 2)."""
    t = schedule.check_t(t)
    _check_batch("x_prev", x_prev, t)
    if noise.shape != x_prev.shape:
        raise ValueError(f"noise must have the shape of x_prev {tuple(x_prev.shape)}, got {tuple(noise.shape)}")
    return extract(schedule.alphas, t, x_prev).sqrt() * x_prev + extract(schedule.betas, t, x_prev).sqrt() * noise


def q_chain(x0: torch.Tensor, schedule: NoiseSchedule, generator: torch.Generator,
            num_steps: int | None = None) -> torch.Tensor:
    """Run the explicit Markov chain from x_0, one q_step at a time, drawing fresh noise each step.

    x0: (B, C, H, W). Returns (num_steps + 1, B, C, H, W): entry k is x_k (entry 0 is x_0).
    """
    steps = schedule.num_steps if num_steps is None else num_steps
    if not 0 <= steps <= schedule.num_steps:
        raise ValueError(f"num_steps must lie in [0, {schedule.num_steps}], got {steps!r}")
    states = torch.empty((steps + 1, *x0.shape), dtype=x0.dtype)
    states[0] = x0
    x = x0
    for i in range(steps):
        t = torch.full((x0.shape[0],), i, dtype=torch.long)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        x = q_step(x, t, schedule, noise)
        states[i + 1] = x
    return states


def q_posterior_mean_variance(x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor,
                              schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0)  (DDPM eqs. 6-7). Variance has shape (B, 1, 1, 1)."""
    t = schedule.check_t(t)
    _check_batch("xt", xt, t)
    mean = extract(schedule.posterior_mean_coef1, t, xt) * x0 + extract(schedule.posterior_mean_coef2, t, xt) * xt
    return mean, extract(schedule.posterior_variance, t, xt)


# --- the paper's t ------------------------------------------------------------------------------
def paper_timesteps(schedule: NoiseSchedule) -> np.ndarray:
    """(T,) int: 1 … T, the paper's t of each entry of the schedule's tensors."""
    return paper_t(np.arange(schedule.num_steps))


def alphas_cumprod_from_zero(schedule: NoiseSchedule) -> np.ndarray:
    """(T + 1,) float64 indexed by the paper's t: ᾱ_0 = 1 (x_0 is the data), then ᾱ_1 … ᾱ_T."""
    return np.concatenate([[1.0], schedule.alphas_cumprod.numpy()])


def coefficients(schedule: NoiseSchedule, t_values) -> tuple[np.ndarray, np.ndarray]:
    """(F,) and (F,): √ᾱ_t and √(1 − ᾱ_t) at each paper t of t_values (t = 0: 1 and 0), so that
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (DDPM eq. 4). The same tensors q_sample uses."""
    t = _checked_paper_t(schedule, t_values)
    index = np.maximum(t, 1) - 1
    signal = np.where(t == 0, 1.0, schedule.sqrt_alphas_cumprod.numpy()[index])
    return signal, np.where(t == 0, 0.0, schedule.sqrt_one_minus_alphas_cumprod.numpy()[index])


def t_grid(num_steps: int, count: int = 101) -> tuple[int, ...]:
    """``count`` paper timesteps spread evenly over 0 … T, both ends included (fewer if T is small)."""
    return tuple(int(t) for t in np.unique(np.round(np.linspace(0, num_steps, min(count, num_steps + 1)))))


def fixed_noise(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """ε ~ N(0, I) of ``shape`` from ``seed``, drawn on the CPU: the first draw q_chain makes from the
    same seed, so the closed form and the chain start from the same noise."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def q_sample_at(x0: torch.Tensor, t_values, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """x_0 (C, H, W) noised to each paper t of t_values (F,) with the one ``noise`` (C, H, W):
    (F, C, H, W), x_0 itself at t = 0 (DDPM eq. 4)."""
    t = torch.as_tensor(_checked_paper_t(schedule, t_values))
    count = len(t)
    xt = q_sample(x0.expand(count, *x0.shape), index_of(t.clamp(min=1)), schedule, noise.expand(count, *x0.shape))
    xt[t == 0] = x0
    return xt


def forward_states(x0: torch.Tensor, schedule: NoiseSchedule, t_values, seed: int, chain: bool = False):
    """x_0 (C, H, W) at each paper t of t_values (F,) with the noise of ``seed``, split in two parts.

    Returns three (F, C, H, W) tensors: x_t, the signal part √ᾱ_t x_0 and the noise part
    x_t − √ᾱ_t x_0. In closed form the noise part is √(1 − ᾱ_t) ε with the same ε at every t.
    chain=True runs the explicit Markov chain instead (fresh noise each step, its first draw the
    same ε); its noise part is then √(1 − ᾱ_t) ε̄_t with ε̄_t the noise accumulated so far.
    """
    t = _checked_paper_t(schedule, t_values)
    signal_coef, noise_coef = (torch.as_tensor(c, dtype=x0.dtype).reshape(-1, *[1] * x0.ndim)
                               for c in coefficients(schedule, t))
    signal = signal_coef * x0
    if chain:
        states = q_chain(x0[None], schedule, torch.Generator().manual_seed(seed), int(t.max()))  # (t_max + 1, 1, ...)
        xt = states[torch.as_tensor(t), 0]  # states[k] is x_k: indexed by the paper's t
        return xt, signal, xt - signal
    eps = fixed_noise(seed, (1, *x0.shape))[0]
    return q_sample_at(x0, t, schedule, eps), signal, noise_coef * eps


def _checked_paper_t(schedule: NoiseSchedule, t_values) -> np.ndarray:
    t = np.asarray(t_values)
    in_range = t.size == 0 or 0 <= t.min() <= t.max() <= schedule.num_steps
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer) or not in_range:
        raise ValueError(f"t must be whole numbers in [0, {schedule.num_steps}] (the paper's t), got {t.tolist()!r}")
    return t
