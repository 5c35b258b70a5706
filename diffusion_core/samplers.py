"""The reverse process p_theta(x_{t-1} | x_t): DDPM, DDIM, DPM-Solver++(2M) and Heun steps, trajectories, guidance.

The network is passed in (``model(x, t, y) -> eps``), so this module holds only the maths.
Sampling on S of the T timesteps uses the respaced chain (``schedules.respace``): index i of
the respaced schedule is original timestep ``timesteps[i]``, and DDPM's formulas apply to it
unchanged. All randomness comes from a CPU ``torch.Generator``, so a seed gives the same
digits on every device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Optional

import torch

from . import solvers
from .forward import q_sample
from .schedules import NoiseSchedule, extract, index_of, paper_t, respace, spaced_timesteps

SamplerName = Literal["ddpm", "ddim", "dpmpp2m", "heun"]
SAMPLERS = ("ddpm", "ddim", "dpmpp2m", "heun")  # dpmpp2m and heun: ODE solvers in solvers.py
VarianceName = Literal["fixed_small", "fixed_large"]
MAX_GUIDANCE = 20.0  # beyond this, classifier-free guidance only saturates the image
DEFAULT_GUIDANCE = 2.0  # the app's and the CLI's w when a label is chosen
# The app's and the CLI's default run: the fewest network calls whose figures match DDIM-50's within
# the spread of two seeds (quality.choose_default on the card's steps tables; tests/test_quality.py checks it).
DEFAULT_SAMPLER, DEFAULT_STEPS = "ddim", 50
EpsModel = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class SamplerConfig:
    sampler: SamplerName = "ddim"
    steps: int = 50  # reverse steps, spread evenly over the T timesteps (T for full DDPM)
    eta: float = 0.0  # DDIM stochasticity (DDIM only): 0 deterministic, 1 the DDPM posterior variance
    variance: VarianceName = "fixed_small"  # DDPM sigma_t^2: beta_tilde_t (small) or beta_t (large)
    guidance: float = 1.0  # w in eps_u + w (eps_c - eps_u); 1 = plain conditional, 0 = unconditional
    clip_denoised: bool = True  # clip x0_hat to the data range [-1, 1] before each step

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.variance not in ("fixed_small", "fixed_large"):
            raise ValueError(f"variance must be 'fixed_small' or 'fixed_large', got {self.variance!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not (isinstance(self.eta, (int, float)) and 0.0 <= self.eta <= 1.0):
            raise ValueError(f"eta must be a number in [0, 1], got {self.eta!r}")
        if self.sampler in ("dpmpp2m", "heun") and self.eta != 0.0:
            raise ValueError(f"eta applies to ddim only; {self.sampler} is deterministic, got eta={self.eta!r}")
        if not (isinstance(self.guidance, (int, float)) and math.isfinite(self.guidance)
                and 0.0 <= self.guidance <= MAX_GUIDANCE):
            raise ValueError(f"guidance must be a number in [0, {MAX_GUIDANCE:g}], got {self.guidance!r}")


@dataclass
class StepOutput:
    x_prev: torch.Tensor  # (B, C, H, W) the next, less noisy state
    eps: torch.Tensor  # (B, C, H, W) predicted noise (after guidance)
    x0: torch.Tensor  # (B, C, H, W) predicted clean image


@dataclass
class Trajectory:
    """Every state of one reverse run. S steps; frame k is the k-th step taken (from noisiest)."""

    timesteps: torch.Tensor  # (S,) original 0-based timestep of frame k (descending)
    xs: torch.Tensor  # (S + 1, B, C, H, W): xs[k] is the input of frame k, xs[S] the final sample
    eps: torch.Tensor  # (S, B, C, H, W)
    x0: torch.Tensor  # (S, B, C, H, W)

    @property
    def final(self) -> torch.Tensor:
        return self.xs[-1]

    @property
    def t(self) -> torch.Tensor:
        """(S,) the paper's t of frame k (descending; the state after the last frame is t = 0)."""
        return paper_t(self.timesteps)


def guided_eps(model: EpsModel, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None,
               guidance: float, null_label: int) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): eps_u + w (eps_c - eps_u), in one batched call.

    labels None means unconditional; w = 1 needs only the conditional pass, w = 0 only the unconditional.
    """
    if labels is None or guidance == 0.0:
        return model(x, t, torch.full_like(t, null_label))
    if guidance == 1.0:
        return model(x, t, labels)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, torch.full_like(labels, null_label)]))
    eps_cond, eps_uncond = both.chunk(2)
    return eps_uncond + guidance * (eps_cond - eps_uncond)


class ReverseProcess:
    """A sampler bound to a schedule: ``step`` takes one reverse step, ``sample`` runs the chain."""

    def __init__(self, schedule: NoiseSchedule, config: SamplerConfig = SamplerConfig()):
        if config.steps > schedule.num_steps:
            raise ValueError(f"steps must lie in [1, {schedule.num_steps}], got {config.steps}")
        self.schedule, self.config = schedule, config
        self.timesteps = spaced_timesteps(schedule.num_steps, config.steps)  # (S,) ascending
        self.spaced = respace(schedule, self.timesteps)
        # DDIM eq. 16 scaled by η, float64 (S,): η √((1 − ᾱ_t') / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_t'), with t' the
        # next timestep visited (ᾱ_t' = 1 after the last). Zero at index 0 and for η = 0.
        ab, ab_prev = self.spaced.alphas_cumprod, self.spaced.alphas_cumprod_prev
        self.ddim_sigmas = config.eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
        self.dpmpp = solvers.dpmpp_2m_tables(ab, ab_prev)  # c_x, c_d, r, each (S,)

    @property
    def num_steps(self) -> int:
        return self.timesteps.numel()

    def index_near(self, t: int) -> int:
        """The respaced index whose timestep is nearest the paper's t (1..T): where a run from t starts."""
        if not 1 <= t <= self.schedule.num_steps:
            raise ValueError(f"t must lie in [1, {self.schedule.num_steps}], got {t!r}")
        return int((self.timesteps - index_of(t)).abs().argmin())

    def paper_t(self, index: int) -> int:
        """The paper's t of respaced index ``index`` (0 … num_steps - 1); -1 gives 0, the sample x_0."""
        return 0 if index < 0 else int(paper_t(self.timesteps[index]))

    def predict_x0(self, x: torch.Tensor, i: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """DDPM eq. 15 solved for x_0: x0 = x_t / sqrt(ab_t) - sqrt(1/ab_t - 1) eps."""
        s = self.spaced
        return extract(s.sqrt_recip_alphas_cumprod, i, x) * x - extract(s.sqrt_recipm1_alphas_cumprod, i, x) * eps

    def predict(self, model: EpsModel, x: torch.Tensor, index: int, labels: torch.Tensor | None = None,
                null_label: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps, x0) at respaced index ``index``: guided noise and x0_hat, clipped, with the eps consistent with it."""
        batch = x.shape[0]
        i = torch.full((batch,), index, dtype=torch.long)
        t_model = torch.full((batch,), int(self.timesteps[index]), dtype=torch.long, device=x.device)
        eps = guided_eps(model, x, t_model, labels, self.config.guidance, null_label)
        x0 = self.predict_x0(x, i, eps)
        if self.config.clip_denoised:
            x0 = x0.clamp(-1.0, 1.0)
            # the noise direction consistent with the clipped x0 (improved-diffusion's _predict_eps_from_xstart)
            eps = (extract(self.spaced.sqrt_recip_alphas_cumprod, i, x) * x - x0) / extract(
                self.spaced.sqrt_recipm1_alphas_cumprod, i, x)
        return eps, x0

    def step(self, model: EpsModel, x: torch.Tensor, index: int, generator: torch.Generator,
             labels: torch.Tensor | None = None, null_label: int = 10,
             prev_x0: torch.Tensor | None = None) -> StepOutput:
        """One reverse step from respaced index ``index`` (x is x at timesteps[index]) to the one before.

        prev_x0 is the x0_hat of the step just taken (from index + 1), which DPM-Solver++(2M) extrapolates
        from; the other samplers ignore it, and without it dpmpp2m takes a first-order step. Only DDPM and
        DDIM draw from ``generator``; Heun calls the network twice (once on the last step).
        """
        if not 0 <= index < self.num_steps:
            raise ValueError(f"index must lie in [0, {self.num_steps - 1}], got {index!r}")
        i = torch.full((x.shape[0],), index, dtype=torch.long)
        eps, x0 = self.predict(model, x, index, labels, null_label)
        sampler = self.config.sampler
        if sampler == "dpmpp2m":
            c_x, c_d, r = (extract(self.dpmpp[k], i, x) for k in ("c_x", "c_d", "r"))
            return StepOutput(x_prev=solvers.dpmpp_2m_update(x, x0, prev_x0, c_x, c_d, r), eps=eps, x0=x0)
        if sampler == "heun":
            ab, ab_next = extract(self.spaced.alphas_cumprod, i, x), extract(self.spaced.alphas_cumprod_prev, i, x)
            x_euler = solvers.euler_update(x, eps, ab, ab_next)
            if index == 0:  # to sigma = 0: the Euler step, which lands on x0_hat
                return StepOutput(x_prev=x_euler, eps=eps, x0=x0)
            eps_next, _ = self.predict(model, x_euler, index - 1, labels, null_label)
            return StepOutput(x_prev=solvers.heun_update(x, eps, eps_next, ab, ab_next), eps=eps, x0=x0)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) if index > 0 else None
        x_prev = self._ddpm(x, x0, i, noise) if sampler == "ddpm" else self._ddim(x0, eps, i, noise)
        return StepOutput(x_prev=x_prev, eps=eps, x0=x0)

    def _ddpm(self, x, x0, i, noise):
        """DDPM eq. 6-7 ancestral step: posterior mean plus sigma_t z."""
        s = self.spaced
        mean = extract(s.posterior_mean_coef1, i, x) * x0 + extract(s.posterior_mean_coef2, i, x) * x
        if noise is None:
            return mean
        variance = s.posterior_variance if self.config.variance == "fixed_small" else s.betas
        return mean + extract(variance, i, x).sqrt() * noise

    def _ddim(self, x0, eps, i, noise):
        """DDIM eq. 12 with sigma_t from eq. 16 scaled by eta."""
        ab_prev = extract(self.spaced.alphas_cumprod_prev, i, x0)
        sigma = extract(self.ddim_sigmas, i, x0)
        x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        return x_prev if noise is None else x_prev + sigma * noise

    @torch.inference_mode()
    def sample(self, model: EpsModel, x_start: torch.Tensor, generator: torch.Generator,
               labels: torch.Tensor | None = None, null_label: int = 10, start_index: int | None = None,
               record: bool = False, progress: Callable[[int, int], None] | None = None) -> Trajectory | torch.Tensor:
        """Run from x_start at respaced index start_index (default: the noisiest) down to x_0.

        Returns the final (B, C, H, W) sample, or the whole Trajectory (on the CPU) when record=True.
        """
        start = self.num_steps - 1 if start_index is None else start_index
        if not 0 <= start < self.num_steps:
            raise ValueError(f"start_index must lie in [0, {self.num_steps - 1}], got {start_index!r}")
        if labels is not None and labels.shape != (x_start.shape[0],):
            raise ValueError(f"labels must have shape ({x_start.shape[0]},), got {tuple(labels.shape)}")
        x, frames, prev_x0 = x_start, [], None  # prev_x0: the last step's x0_hat, for DPM-Solver++(2M)
        for k, index in enumerate(range(start, -1, -1)):
            out = self.step(model, x, index, generator, labels, null_label, prev_x0=prev_x0)
            if record:
                frames.append((x.cpu(), out.eps.cpu(), out.x0.cpu()))
            x, prev_x0 = out.x_prev, out.x0
            if progress is not None:
                progress(k + 1, start + 1)
        if not record:
            return x
        xs, eps, x0 = zip(*frames)
        return Trajectory(timesteps=self.timesteps[: start + 1].flip(0), xs=torch.stack([*xs, x.cpu()]),
                          eps=torch.stack(eps), x0=torch.stack(x0))


@torch.inference_mode()
def noise_and_restore(model: EpsModel, process: ReverseProcess, x0: torch.Tensor, index: int,
                      generator: torch.Generator, labels: torch.Tensor | None = None,
                      null_label: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """SDEdit (Meng et al. 2022): noise x0 (B, C, H, W) to timestep ``process.timesteps[index]`` in one
    draw from q(x_t | x_0) (DDPM eq. 4), then run the reverse chain from there. Returns (x_t, restored)."""
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    t = process.timesteps[index].repeat(x0.shape[0]).to(x0.device)
    x_t = q_sample(x0, t, process.schedule, noise)
    return x_t, process.sample(model, x_t, generator, labels, null_label, start_index=index)


def initial_noise(batch: int, generator: torch.Generator, shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """x_T ~ N(0, I), (batch, *shape), drawn on the CPU for device-independent seeds."""
    return torch.randn((batch, *shape), generator=generator)
