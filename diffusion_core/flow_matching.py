"""Flow matching on the toy: a velocity along straight paths, and how few Euler steps it needs.

Flow matching (Lipman et al. 2023; rectified flow, Liu et al. 2023) joins each data point x_0 to its
noise eps by the straight line x_t = (1 - t) x_0 + t eps, t in [0, 1], and regresses the network on the
line's velocity d x_t / dt = eps - x_0. The minimiser is a conditional expectation, like DDPM's:

    v*(x, t) = E[eps - x_0 | x_t = x]          (DDPM: eps*(x, t) = E[eps | x_t = x])

and sampling integrates dx/dt = v(x, t) from t = 1 (noise) to t = 0 with Euler steps. The path
through each pair is straight; the marginal paths the ODE follows bend where such lines cross, so how
straight they come out is measured (``straightness``), not assumed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .samplers import ReverseProcess, SamplerConfig
from .schedules import NoiseSchedule

VelocityModel = nn.Module  # v(x (B, 2), t (B,) in [0, 1]) -> (B, 2)


def interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_0 + t eps for x0, eps (B, D) and t (B,) in [0, 1]: x_0 at t = 0, eps at t = 1."""
    t = t.reshape(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return (1.0 - t) * x0 + t * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """d x_t / dt along the straight path: eps - x_0 (the same at every t)."""
    return eps - x0


def flow_matching_loss(model: VelocityModel, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """|| v_theta(x_t, t) - (eps - x_0) ||^2 with t ~ U[0, 1] and eps ~ N(0, I) (conditional flow matching,
    Lipman et al. 2023, eq. 23 with sigma_min = 0). x0 (B, 2) -> a scalar."""
    t = torch.rand(x0.shape[0], generator=generator)  # (B,)
    eps = torch.randn(x0.shape, generator=generator)
    return ((model(interpolate(x0, eps, t), t) - velocity_target(x0, eps)) ** 2).sum(dim=1).mean()


@torch.inference_mode()
def euler_flow(model: VelocityModel, x1: torch.Tensor, steps: int) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 (x1 = noise, (B, D)) to t = 0 in ``steps`` equal Euler steps,
    x <- x - v(x, t) / steps. Returns every state (steps + 1, B, D): row 0 is x1, the last the sample."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    xs, x = [x1], x1
    for k in range(steps):
        t = torch.full((x.shape[0],), 1.0 - k / steps, dtype=x.dtype)
        x = x - model(x, t) / steps
        xs.append(x)
    return torch.stack(xs)


@torch.inference_mode()
def ddim_flow(model: nn.Module, schedule: NoiseSchedule, x_start: torch.Tensor, steps: int,
              clip_denoised: bool = True) -> torch.Tensor:
    """DDPM's eps-model carried back by DDIM with eta = 0 in ``steps`` steps: Euler's method for the
    probability-flow ODE written in x / sqrt(ab) and sigma = sqrt((1 - ab) / ab) (Song et al. 2021, DDIM
    section 4.3). Returns every state (steps + 1, B, D) like euler_flow."""
    process = ReverseProcess(schedule, SamplerConfig("ddim", steps=steps, eta=0.0, clip_denoised=clip_denoised))
    return process.sample(model, x_start, torch.Generator(), record=True).xs


def straightness(paths: torch.Tensor) -> float:
    """Mean over points of |end - start| / (length of the path), paths (S + 1, B, D): 1 for straight lines."""
    chord = (paths[-1] - paths[0]).norm(dim=-1)  # (B,)
    length = (paths[1:] - paths[:-1]).norm(dim=-1).sum(0)  # (B,)
    return float((chord / length.clamp(min=1e-12)).mean())


def steps_comparison(eps_model: nn.Module, flow_model: VelocityModel, schedule: NoiseSchedule, data: str,
                     seed: int, steps: tuple[int, ...] = (1, 2, 4, 8, 16, 64), samples: int = 1000,
                     reference: int = 2000):
    """DDPM's ε-model (DDIM, η = 0) against the flow-matching velocity (Euler) at each number of steps, from
    the same ``samples`` noise points of ``seed``. Returns the samples (2, len(steps), samples, 2), their
    energy distances (2, len(steps)) to ``reference`` fresh points of the toy data, and the floor: the
    distance of ``samples`` more data points to those."""
    from .toy import energy_distance, toy_points  # toy imports this module

    start = torch.randn((samples, 2), generator=torch.Generator().manual_seed(seed))  # x_T = x_1 ~ N(0, I)
    real = toy_points(data, reference, seed=5)[0]
    drawn = np.stack([[ddim_flow(eps_model, schedule, start, n)[-1].numpy() for n in steps],
                      [euler_flow(flow_model, start, n)[-1].numpy() for n in steps]])
    distances = np.array([[energy_distance(s, real) for s in row] for row in drawn])
    return drawn, distances, energy_distance(toy_points(data, samples, seed=6)[0], real)
