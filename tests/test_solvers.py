"""DPM-Solver++(2M) and Heun on the probability-flow ODE, step by step against diffusers' schedulers.

The network is a stand-in that returns a fixed, precomputed sequence of eps, one per call, so both
implementations see the same predictions in the same order; x is compared after every step.
diffusers is a test-only reference (requirements.txt).
"""
import math

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler, HeunDiscreteScheduler

from diffusion_core import ReverseProcess, SamplerConfig, make_schedule, solvers

SHAPE = (2, 1, 4, 4)
RTOL = 1e-5


class EpsSequence:
    """Returns eps_seq[k] on its k-th call, and records the timesteps it was called at."""

    def __init__(self, eps_seq):
        self.eps_seq, self.calls = eps_seq, []

    def __call__(self, x, t, y):
        self.calls.append(int(t[0]))
        return self.eps_seq[len(self.calls) - 1].to(x.dtype)


def _eps_seq(count, seed=0):
    return torch.randn((count, *SHAPE), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _ours(sampler, steps, eps_seq, x_start):
    """x after every step (S + 1 states), from our ReverseProcess without clipping (diffusers does not clip)."""
    schedule = make_schedule("linear", 1000)
    process = ReverseProcess(schedule, SamplerConfig(sampler=sampler, steps=steps, clip_denoised=False))
    model = EpsSequence(eps_seq)
    xs, x, prev_x0 = [x_start], x_start, None
    for index in range(steps - 1, -1, -1):
        out = process.step(model, x, index, torch.Generator(), prev_x0=prev_x0)
        x, prev_x0 = out.x_prev, out.x0
        xs.append(x)
    return process, model, xs


def _scheduler(cls, schedule, **kwargs):
    scheduler = cls(num_train_timesteps=1000, trained_betas=schedule.betas.numpy(), **kwargs)
    scheduler.alphas_cumprod = schedule.alphas_cumprod.clone()  # float64, as ours (diffusers casts betas to float32)
    return scheduler


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 25])
def test_dpmpp_2m_matches_diffusers_step_by_step(steps):
    eps_seq, x_start = _eps_seq(steps), torch.randn(SHAPE, generator=torch.Generator().manual_seed(9),
                                                     dtype=torch.float64)
    process, model, ours = _ours("dpmpp2m", steps, eps_seq, x_start)
    assert len(model.calls) == steps  # one network call per step
    scheduler = _scheduler(DPMSolverMultistepScheduler, process.schedule, algorithm_type="dpmsolver++",
                           solver_order=2, lower_order_final=True, final_sigmas_type="zero")
    scheduler.set_timesteps(timesteps=process.timesteps.flip(0).tolist())
    assert scheduler.timesteps.tolist() == model.calls
    x = x_start
    for k, t in enumerate(scheduler.timesteps):
        x = scheduler.step(eps_seq[k], t, x).prev_sample
        assert _rel(ours[k + 1], x) <= RTOL, f"step {k + 1} of {steps}"


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 25])
def test_heun_matches_diffusers_step_by_step(steps):
    calls = 2 * steps - 1
    eps_seq, x_start = _eps_seq(calls, seed=1), torch.randn(SHAPE, generator=torch.Generator().manual_seed(8),
                                                             dtype=torch.float64)
    process, model, ours = _ours("heun", steps, eps_seq, x_start)
    assert len(model.calls) == calls  # two calls per step, one on the last
    scheduler = _scheduler(HeunDiscreteScheduler, process.schedule)
    scheduler.set_timesteps(timesteps=process.timesteps.flip(0).tolist())
    assert [int(t) for t in scheduler.timesteps] == model.calls
    # diffusers works in y = x / sqrt(ab) = x_0 + sigma eps and feeds the model y / sqrt(sigma^2 + 1) = x
    ab = torch.cat([process.spaced.alphas_cumprod.flip(0), torch.ones(1, dtype=torch.float64)])  # along the run
    y, done = x_start / ab[0].sqrt(), 0
    for k, t in enumerate(scheduler.timesteps):
        # the model input diffusers would feed (y / sqrt(sigma^2 + 1)) is ours: x at that timestep
        assert _rel(scheduler.scale_model_input(y, t), y * ab[k // 2 + k % 2].sqrt()) <= RTOL
        y = scheduler.step(eps_seq[k], t, y).prev_sample
        if scheduler.state_in_first_order or k == len(scheduler.timesteps) - 1:  # a whole step is done (the last
            # is diffusers' lone Euler step to sigma = 0, after which it still waits for a correction)
            done += 1
            assert _rel(ours[done], y * ab[done].sqrt()) <= RTOL, f"step {done} of {steps}"
    assert done == steps


def test_first_order_steps_are_ddim_eta_0():
    """DPM-Solver++'s first-order step and Heun's Euler half-step are both DDIM with eta = 0."""
    schedule = make_schedule("linear", 1000)
    x, eps = torch.randn((3, 1, 4, 4), dtype=torch.float64), torch.randn((3, 1, 4, 4), dtype=torch.float64)
    model = lambda x_, t, y: eps  # noqa: E731
    ddim = ReverseProcess(schedule, SamplerConfig(sampler="ddim", steps=10, clip_denoised=False))
    expected = ddim.step(model, x, 6, torch.Generator().manual_seed(0)).x_prev
    dpm = ReverseProcess(schedule, SamplerConfig(sampler="dpmpp2m", steps=10, clip_denoised=False))
    assert torch.allclose(dpm.step(model, x, 6, torch.Generator()).x_prev, expected, rtol=1e-12, atol=1e-12)
    ab = ddim.spaced.alphas_cumprod[6]
    euler = solvers.euler_update(x, eps, ab, ddim.spaced.alphas_cumprod_prev[6])
    assert torch.allclose(euler, expected, rtol=1e-12, atol=1e-12)


def test_known_values():
    """Two steps by hand: ab = 0.25 -> 0.5 -> 0.75 (respaced index 2 -> 1 -> 0, then 1 after the last)."""
    ab = torch.tensor([0.75, 0.5, 0.25], dtype=torch.float64)
    ab_prev = torch.tensor([1.0, 0.75, 0.5], dtype=torch.float64)
    tables = solvers.dpmpp_2m_tables(ab, ab_prev)
    # index 1: sigma = sqrt(0.5), sigma' = 0.5, alpha = sqrt(0.5), alpha' = sqrt(0.75)
    assert math.isclose(float(tables["c_x"][1]), 0.5 / math.sqrt(0.5))
    assert math.isclose(float(tables["c_d"][1]), math.sqrt(0.75) - 0.5)
    lam = [0.5 * math.log(a / (1 - a)) for a in (0.75, 0.5, 0.25)]  # lambda = log(alpha / sigma)
    assert math.isclose(float(tables["r"][1]), (lam[1] - lam[2]) / (lam[0] - lam[1]))
    assert math.isnan(float(tables["r"][0])) and math.isnan(float(tables["r"][2]))  # first-order steps
    assert float(tables["c_x"][0]) == 0.0 and float(tables["c_d"][0]) == 1.0  # the last step lands on x0_hat
    # Heun with eps constant 1 from x = 0 at ab = 0.5 to ab' = 0.75: sigma 1 -> 1/sqrt(3), y' = 1/sqrt(3) - 1
    x, ones = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    expected = math.sqrt(0.75) * (1 / math.sqrt(3) - 1)
    assert math.isclose(float(solvers.heun_update(x, ones, ones, 0.5 * ones, 0.75 * ones)), expected)
    assert float(solvers.pf_sigmas(torch.tensor(1.0))) == 0.0


@pytest.mark.parametrize("sampler", ["dpmpp2m", "heun"])
def test_sample_runs_and_records_with_clipping(sampler):
    schedule = make_schedule("linear", 1000)
    process = ReverseProcess(schedule, SamplerConfig(sampler=sampler, steps=5))
    model = EpsSequence(_eps_seq(9, seed=3) * 3)  # large eps: x0_hat gets clipped
    progress = []
    run = process.sample(model, torch.randn(SHAPE, dtype=torch.float64), torch.Generator(), record=True,
                         progress=lambda k, total: progress.append((k, total)))
    assert run.xs.shape == (6, *SHAPE) and run.eps.shape == run.x0.shape == (5, *SHAPE)
    assert run.x0.abs().max() <= 1.0 and progress[-1] == (5, 5)
    assert torch.allclose(run.final, run.x0[-1], rtol=0, atol=1e-12)  # the last step lands on the clipped x0_hat


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampler="dpmpp2m", eta=0.5), r"eta applies to ddim only; dpmpp2m is deterministic, got eta=0\.5"),
    (dict(sampler="heun", eta=1.0), r"eta applies to ddim only; heun is deterministic, got eta=1\.0"),
    (dict(sampler="dpm++"), r"sampler must be one of ddpm, ddim, dpmpp2m, heun, got 'dpm\+\+'"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(**kwargs)
