"""The forward (noising) process: q(x_t | x_0) in closed form and the explicit Markov chain.

Timesteps ``t`` are 0-based indices into the schedule (paper's t = index + 1).
"""
from __future__ import annotations

import torch

from .schedules import NoiseSchedule, extract


def _check_batch(name: str, x: torch.Tensor, t: torch.Tensor) -> None:
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (B, ...) with a batch dimension, got shape {tuple(x.shape)}")
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"t must be a 1-D tensor with one index per batch item ({x.shape[0]}), got shape {tuple(t.shape)}")


def q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """Sample q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)  (DDPM eq. 4).

    x0, noise: (B, C, H, W); t: (B,) int64 indices. Returns sqrt(ab) * x0 + sqrt(1 - ab) * noise.
    """
    t = schedule.check_t(t)
    _check_batch("x0", x0, t)
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    return extract(schedule.sqrt_alphas_cumprod, t, x0) * x0 + extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise


def q_step(x_prev: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """One step of the chain, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)  (DDPM eq. 2)."""
    t = schedule.check_t(t)
    _check_batch("x_prev", x_prev, t)
    if noise.shape != x_prev.shape:
        raise ValueError(f"noise must have the shape of x_prev {tuple(x_prev.shape)}, got {tuple(noise.shape)}")
    return extract(schedule.alphas, t, x_prev).sqrt() * x_prev + extract(schedule.betas, t, x_prev).sqrt() * noise


def q_chain(x0: torch.Tensor, schedule: NoiseSchedule, generator: torch.Generator, num_steps: int | None = None) -> torch.Tensor:
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


def q_posterior_mean_variance(x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0)  (DDPM eqs. 6-7). Variance has shape (B, 1, 1, 1)."""
    t = schedule.check_t(t)
    _check_batch("xt", xt, t)
    mean = extract(schedule.posterior_mean_coef1, t, xt) * x0 + extract(schedule.posterior_mean_coef2, t, xt) * xt
    return mean, extract(schedule.posterior_variance, t, xt)
