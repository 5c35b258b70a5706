"""Solvers of the probability-flow ODE on the respaced chain: DPM-Solver++(2M) and Heun.

Both are deterministic and both read the chain through ᾱ at the visited timesteps only:
index i of the respaced schedule goes to ᾱ' = ``alphas_cumprod_prev[i]`` (1 after the last step,
where x_0 is reached). ``ReverseProcess`` (samplers.py) calls the network and hands the
predictions to the functions here; the tables are float64 (S,), like the schedule's.

- DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2): the exact solution of the ODE's
  linear part with the data prediction x̂_0 extrapolated linearly in λ = log(α/σ), α = √ᾱ,
  σ = √(1 − ᾱ). It reuses the previous step's x̂_0, so it costs one network call per step;
  the first step (no previous x̂_0) and the last (to σ = 0) are first order, as in diffusers'
  DPMSolverMultistepScheduler (lower_order_final, final_sigmas_type="zero").
- Heun (Karras et al. 2022, Alg. 1 without churn): the trapezoid rule on dy/dσ = ε with
  y = x/√ᾱ and σ = √((1 − ᾱ)/ᾱ); two network calls per step, one on the last step (an Euler
  step to σ = 0). Its Euler half-step alone is DDIM with η = 0.
"""
from __future__ import annotations

import torch


def dpmpp_2m_tables(alphas_cumprod: torch.Tensor, alphas_cumprod_prev: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-step coefficients of x_t' = c_x x_t + c_d D, D = (1 + 1/(2r)) x̂_0 − 1/(2r) x̂_0,prev. Each float64 (S,).

    DPM-Solver++ eq. (first order): x_t' = (σ'/σ) x_t − α' (e^{−h} − 1) D with h = λ' − λ; written
    without λ' (infinite when σ' = 0): α'(1 − e^{−h}) = α' − α σ'/σ. r = h_prev / h, where h_prev is
    the previous step's λ gap (index i + 1 → i); r is NaN where the step is first order.
    """
    alpha, sigma = alphas_cumprod.sqrt(), (1 - alphas_cumprod).sqrt()
    alpha_next, sigma_next = alphas_cumprod_prev.sqrt(), (1 - alphas_cumprod_prev).sqrt()
    lam = alpha.log() - sigma.log()
    r = torch.full_like(lam, float("nan"))
    if lam.numel() > 2:
        h = lam[:-2] - lam[1:-1]  # λ(i − 1) − λ(i) for i = 1 … S − 2 (index 0 is the last step: first order)
        h_prev = lam[1:-1] - lam[2:]
        r[1:-1] = h_prev / h
    return {"c_x": sigma_next / sigma, "c_d": alpha_next - alpha * sigma_next / sigma, "r": r}


def dpmpp_2m_update(x: torch.Tensor, x0: torch.Tensor, x0_prev: torch.Tensor | None, c_x: torch.Tensor,
                    c_d: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """One DPM-Solver++(2M) step. x, x0, x0_prev (B, C, H, W); c_x, c_d, r broadcast to them (r NaN: first order).

    x0_prev None (the first step, or a run resumed without it) gives the first-order step, DDIM with η = 0.
    """
    if x0_prev is None or bool(torch.isnan(r).any()):
        d = x0
    else:
        d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev  # Lu et al. 2022, Alg. 2 (the midpoint form)
    return c_x * x + c_d * d


def pf_sigmas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """σ = √((1 − ᾱ)/ᾱ), the noise level of y = x/√ᾱ = x_0 + σ ε (Karras et al. 2022, VP in VE form). 0 at ᾱ = 1."""
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def euler_update(x: torch.Tensor, eps: torch.Tensor, ab: torch.Tensor, ab_next: torch.Tensor) -> torch.Tensor:
    """x at ᾱ' from one Euler step of dy/dσ = ε: y' = y + (σ' − σ) ε, x' = √ᾱ' y'. Broadcast ᾱ, ᾱ' to x."""
    return ab_next.sqrt() * (x / ab.sqrt() + (pf_sigmas(ab_next) - pf_sigmas(ab)) * eps)


def heun_update(x: torch.Tensor, eps: torch.Tensor, eps_next: torch.Tensor, ab: torch.Tensor,
                ab_next: torch.Tensor) -> torch.Tensor:
    """Heun's correction: y' = y + (σ' − σ) (ε + ε')/2, with ε' predicted at the Euler point (Karras Alg. 1, l. 7-8)."""
    return euler_update(x, (eps + eps_next) / 2, ab, ab_next)
