"""The reverse process: DDPM and DDIM steps, trajectories, guidance and seeds, with stand-in models."""
import math

import numpy as np
import pytest
import torch

from diffusion_core import (
    ReverseProcess,
    SamplerConfig,
    guided_eps,
    initial_noise,
    make_schedule,
    q_sample,
    spaced_timesteps,
)
from diffusion_core.unet import UNet, UNetConfig

N = 20000  # samples for the moment checks: standard error of a variance ~ 1%


def ref_alpha_bar(T=1000, b0=1e-4, b1=0.02):
    return np.cumprod(1.0 - np.linspace(b0, b1, T))  # DDPM linear schedule, numpy float64


def ref_posterior(ab_prev, ab):
    """q(x_s | x_t, x_0) for s < t on the chain through alpha_bar: completing the square in x_s.

    N(x_s; sqrt(ab_prev) x0, 1 - ab_prev) * N(x_t; sqrt(a) x_s, 1 - a) with a = ab / ab_prev.
    Returns (variance, coefficient of x0, coefficient of x_t).
    """
    a = ab / ab_prev
    var = 1.0 / (1.0 / (1.0 - ab_prev) + a / (1.0 - a))
    return var, var * math.sqrt(ab_prev) / (1.0 - ab_prev), var * math.sqrt(a) / (1.0 - a)


class Recorder:
    """A stand-in eps model that records its calls: eps = 0.1 x + 0.01 (y + 1) + 1e-5 t."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, y):
        self.calls.append((t.clone(), None if y is None else y.clone()))
        return 0.1 * x + 0.01 * (y.to(x.dtype) + 1)[:, None, None, None] + 1e-5 * t.to(x.dtype)[:, None, None, None]


def constant(value):
    return lambda x, t, y: torch.full_like(x, value)


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 1000)


def _batch(value, n=N):
    return torch.full((n, 1, 1, 1), value, dtype=torch.float64)


# --- DDPM and DDIM variances and means against Gaussian algebra ---

@pytest.mark.parametrize("index", [1, 10, 500, 999])
@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_ddim_eta_1_and_ddpm_have_posterior_mean_and_variance(schedule, sampler, index):
    proc = ReverseProcess(schedule, SamplerConfig(sampler=sampler, steps=1000, eta=1.0, clip_denoised=False))
    x, eps = 0.4, 0.2
    out = proc.step(constant(eps), _batch(x), index, torch.Generator().manual_seed(index))
    ab = ref_alpha_bar()
    var, c1, c2 = ref_posterior(ab[index - 1], ab[index])
    x0 = (x - math.sqrt(1 - ab[index]) * eps) / math.sqrt(ab[index])  # DDPM eq. 15 solved for x_0
    samples = out.x_prev.flatten().numpy()
    assert out.x0[0].item() == pytest.approx(x0, rel=1e-9)
    assert samples.var(ddof=1) == pytest.approx(var, rel=5 * math.sqrt(2 / N))
    assert samples.mean() == pytest.approx(c1 * x0 + c2 * x, abs=5 * math.sqrt(var / N))


@pytest.mark.parametrize("index", [1, 250, 999])
def test_ddim_eta_1_equals_ddpm_step_for_the_same_noise(schedule, index):
    x = torch.randn((4, 1, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = Recorder()
    outs = []
    for config in (SamplerConfig("ddim", steps=1000, eta=1.0, clip_denoised=False),
                   SamplerConfig("ddpm", steps=1000, clip_denoised=False)):
        outs.append(ReverseProcess(schedule, config).step(model, x, index, torch.Generator().manual_seed(3)))
    torch.testing.assert_close(outs[0].x_prev, outs[1].x_prev, rtol=1e-9, atol=1e-9)


def test_ddpm_fixed_large_uses_beta(schedule):
    # at small t, beta_t and the posterior variance differ by a factor ~2, so the two are told apart
    proc = ReverseProcess(schedule, SamplerConfig("ddpm", steps=1000, variance="fixed_large", clip_denoised=False))
    out = proc.step(constant(0.0), _batch(0.0), 2, torch.Generator().manual_seed(0))
    beta = np.linspace(1e-4, 0.02, 1000)[2]
    assert out.x_prev.flatten().numpy().var(ddof=1) == pytest.approx(beta, rel=5 * math.sqrt(2 / N))


@pytest.mark.parametrize("config", [SamplerConfig("ddpm", steps=1000, variance="fixed_large"),
                                    SamplerConfig("ddpm", steps=25, variance="fixed_large"),
                                    SamplerConfig("ddim", steps=25, eta=1.0)])
def test_last_step_adds_no_noise(schedule, config):
    # the step to x_0 returns the predicted clean image, whatever the variance choice
    x = torch.randn((3, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    out = ReverseProcess(schedule, config).step(Recorder(), x, 0, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.x_prev, out.x0)


@pytest.mark.parametrize("steps, index", [(1000, 300), (1000, 999), (50, 10), (50, 49)])
def test_ddpm_with_true_noise_recovers_x0_and_posterior_mean(schedule, steps, index):
    # x_t made from a known x_0 and eps; a model that returns that eps must give back x_0,
    # and the step must draw from q(x_prev | x_t, x_0) of the (respaced) chain.
    x0 = torch.tensor([-1.0, -0.3, 0.5, 0.9], dtype=torch.float64).reshape(1, 1, 2, 2).expand(N, 1, 2, 2)
    eps = torch.tensor([0.7, -1.2, 0.1, 2.0], dtype=torch.float64).reshape(1, 1, 2, 2).expand(N, 1, 2, 2)
    proc = ReverseProcess(schedule, SamplerConfig("ddpm", steps=steps))
    ts = np.round(np.linspace(0, 999, steps)).astype(int)
    t, t_prev = ts[index], ts[index - 1]
    xt = q_sample(x0, torch.full((N,), int(t)), schedule, eps)
    seen = []

    def true_noise(x, t_model, y):
        seen.append(int(t_model[0]))
        return eps

    out = proc.step(true_noise, xt, index, torch.Generator().manual_seed(5))
    assert seen == [t], "the model must be asked about the original timestep"
    torch.testing.assert_close(out.x0, x0, rtol=0, atol=1e-9)
    torch.testing.assert_close(out.eps, eps, rtol=0, atol=1e-6)
    ab = ref_alpha_bar()
    var, c1, c2 = ref_posterior(ab[t_prev], ab[t])
    expected = c1 * x0[0].numpy() + c2 * xt[0].numpy()
    np.testing.assert_allclose(out.x_prev.mean(0).numpy(), expected, atol=5 * math.sqrt(var / N))
    np.testing.assert_allclose(out.x_prev.var(0).numpy(), np.full((1, 2, 2), var), rtol=5 * math.sqrt(2 / N))


@pytest.mark.parametrize("steps, index", [(1000, 700), (50, 25)])
def test_ddim_eta_0_with_true_noise_stays_on_the_forward_path(schedule, steps, index):
    # DDIM eq. 12 with sigma = 0: x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps, exactly q_sample at t_prev
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand((3, 1, 4, 4), generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn((3, 1, 4, 4), generator=g, dtype=torch.float64)
    ts = spaced_timesteps(1000, steps)
    xt = q_sample(x0, ts[index].repeat(3), schedule, eps)
    out = ReverseProcess(schedule, SamplerConfig("ddim", steps=steps)).step(lambda x, t, y: eps, xt, index, g)
    ab_prev = ref_alpha_bar()[int(ts[index - 1])]
    expected = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
    torch.testing.assert_close(out.x_prev, expected, rtol=1e-9, atol=1e-9)


def test_ddim_eta_0_step_is_deterministic(schedule):
    proc = ReverseProcess(schedule, SamplerConfig("ddim", steps=50, eta=0.0))
    x = torch.randn((2, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    a = proc.step(Recorder(), x, 30, torch.Generator().manual_seed(1)).x_prev
    b = proc.step(Recorder(), x, 30, torch.Generator().manual_seed(2)).x_prev
    assert torch.equal(a, b)
    ddim = ReverseProcess(schedule, SamplerConfig("ddim", steps=50, eta=0.5))
    c = ddim.step(Recorder(), x, 30, torch.Generator().manual_seed(2))
    assert not torch.allclose(a, c.x_prev), "eta > 0 must add noise"


def test_clipped_x0_comes_with_a_consistent_eps(schedule):
    proc = ReverseProcess(schedule, SamplerConfig("ddim", steps=1000))
    x = torch.zeros((2, 1, 4, 4), dtype=torch.float64)
    out = proc.step(constant(-10.0), x, 100, torch.Generator().manual_seed(0))  # x0_hat would be far above 1
    assert out.x0.max().item() <= 1.0 and out.x0.min().item() >= -1.0
    ab = ref_alpha_bar()[100]
    torch.testing.assert_close(math.sqrt(ab) * out.x0 + math.sqrt(1 - ab) * out.eps, x, rtol=0, atol=1e-9)


# --- whole runs: seeds, trajectories, subsets ---

@pytest.mark.parametrize("config", [SamplerConfig("ddpm", steps=20), SamplerConfig("ddim", steps=20, eta=0.5),
                                    SamplerConfig("ddim", steps=20, eta=0.0)])
def test_samplers_are_deterministic_per_seed(schedule, config):
    proc = ReverseProcess(schedule, config)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return proc.sample(Recorder(), initial_noise(3, g, (1, 8, 8)), g)

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (3, 1, 8, 8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_unet_sampling_is_deterministic_per_seed(schedule):
    torch.manual_seed(0)
    net = UNet(UNetConfig()).eval()
    torch.nn.init.normal_(net.conv_out.weight, std=0.05)
    proc = ReverseProcess(schedule, SamplerConfig("ddpm", steps=4, guidance=2.0))
    labels = torch.tensor([3, 7])

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return proc.sample(net, initial_noise(2, g), g, labels=labels)

    a, b, c = run(11), run(11), run(12)
    assert a.shape == (2, 1, 28, 28)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_trajectory_shapes_and_order(schedule):
    S = 10
    proc = ReverseProcess(schedule, SamplerConfig("ddpm", steps=S))
    g = torch.Generator().manual_seed(0)
    x_start = initial_noise(2, g, (1, 4, 4))
    traj = proc.sample(Recorder(), x_start, g, record=True)
    assert traj.xs.shape == (S + 1, 2, 1, 4, 4)
    assert traj.eps.shape == traj.x0.shape == (S, 2, 1, 4, 4)
    assert traj.timesteps.tolist() == np.round(np.linspace(0, 999, S)).astype(int)[::-1].tolist()
    assert torch.equal(traj.xs[0], x_start)
    assert torch.equal(traj.final, traj.xs[-1])
    # the last step adds no noise: the sample is the final predicted clean image
    torch.testing.assert_close(traj.final, traj.x0[-1])
    # recording does not change the result
    g = torch.Generator().manual_seed(0)
    x_start = initial_noise(2, g, (1, 4, 4))
    assert torch.equal(proc.sample(Recorder(), x_start, g), traj.final)


def test_partial_run_from_start_index(schedule):
    proc = ReverseProcess(schedule, SamplerConfig("ddim", steps=50))
    model = Recorder()
    traj = proc.sample(model, torch.zeros((1, 1, 4, 4)), torch.Generator().manual_seed(0), start_index=4, record=True)
    expected = np.round(np.linspace(0, 999, 50)).astype(int)[:5][::-1].tolist()
    assert traj.timesteps.tolist() == expected
    assert [int(t[0]) for t, _ in model.calls] == expected
    assert traj.xs.shape[0] == 6


def test_subset_sampling_visits_spaced_timesteps_once_each(schedule):
    model = Recorder()
    proc = ReverseProcess(schedule, SamplerConfig("ddim", steps=50))
    proc.sample(model, torch.zeros((2, 1, 4, 4)), torch.Generator().manual_seed(0))
    visited = [int(t[0]) for t, _ in model.calls]
    assert visited == np.round(np.linspace(0, 999, 50)).astype(int)[::-1].tolist()
    assert visited[0] == 999 and visited[-1] == 0 and len(set(visited)) == 50
    assert all(t.shape == (2,) for t, _ in model.calls)


def test_full_ddpm_visits_every_timestep(schedule):
    short = make_schedule("cosine", 30)
    model = Recorder()
    ReverseProcess(short, SamplerConfig("ddpm", steps=30)).sample(model, torch.zeros((1, 1, 4, 4)),
                                                                  torch.Generator().manual_seed(0))
    assert [int(t[0]) for t, _ in model.calls] == list(range(29, -1, -1))


# --- classifier-free guidance ---

def test_guidance_formula():
    model = Recorder()
    x = torch.randn((3, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([5, 500, 999])
    labels = torch.tensor([0, 4, 9])
    eps_c = model(x, t, labels)
    eps_u = model(x, t, torch.full((3,), 10))
    model.calls.clear()
    for w in (0.5, 2.0, 7.5):
        torch.testing.assert_close(guided_eps(model, x, t, labels, w, 10), eps_u + w * (eps_c - eps_u))
    assert not torch.allclose(eps_c, eps_u), "the stand-in model must depend on the label"


def test_guidance_1_calls_only_conditional_and_0_only_unconditional():
    x, t, labels = torch.zeros((2, 1, 4, 4)), torch.tensor([3, 3]), torch.tensor([1, 8])
    model = Recorder()
    guided_eps(model, x, t, labels, 1.0, 10)
    assert len(model.calls) == 1 and model.calls[0][1].tolist() == [1, 8]
    model = Recorder()
    guided_eps(model, x, t, labels, 0.0, 10)
    assert len(model.calls) == 1 and model.calls[0][1].tolist() == [10, 10]
    model = Recorder()
    guided_eps(model, x, t, None, 3.0, 10)  # no label: unconditional whatever w is
    assert len(model.calls) == 1 and model.calls[0][1].tolist() == [10, 10]


def test_guided_step_uses_guided_eps(schedule):
    model = Recorder()
    proc = ReverseProcess(schedule, SamplerConfig("ddim", steps=50, guidance=3.0, clip_denoised=False))
    x = torch.randn((2, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([2, 6])
    out = proc.step(model, x, 20, torch.Generator().manual_seed(0), labels=labels, null_label=10)
    t = torch.full((2,), int(proc.timesteps[20]))
    eps_c, eps_u = model(x, t, labels), model(x, t, torch.full((2,), 10))
    torch.testing.assert_close(out.eps, eps_u + 3.0 * (eps_c - eps_u))


# --- bad input ---

@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), r"steps must be an integer >= 1, got 0"),
    (dict(steps=-3), r"steps.*got -3"),
    (dict(steps=2.5), r"steps must be an integer.*2\.5"),
    (dict(steps=True), r"steps must be an integer"),
    (dict(eta=2), r"eta must be a number in \[0, 1\], got 2"),
    (dict(eta=-0.1), r"eta.*\[0, 1\].*-0\.1"),
    (dict(eta=float("nan")), r"eta.*\[0, 1\].*nan"),
    (dict(guidance=1e9), r"guidance must be a number in \[0, 20\], got 1000000000\.0"),
    (dict(guidance=float("nan")), r"guidance.*\[0, 20\].*nan"),
    (dict(guidance=float("inf")), r"guidance.*\[0, 20\].*inf"),
    (dict(guidance=-1.0), r"guidance.*\[0, 20\].*-1\.0"),
    (dict(sampler="euler"), r"sampler must be one of ddpm, ddim, dpmpp2m, heun, got 'euler'"),
    (dict(variance="learned"), r"variance must be 'fixed_small' or 'fixed_large', got 'learned'"),
])
def test_sampler_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(**kwargs)


def test_reverse_process_rejects_bad_values(schedule):
    with pytest.raises(ValueError, match=r"steps must lie in \[1, 1000\], got 1001"):
        ReverseProcess(schedule, SamplerConfig(steps=1001))
    proc = ReverseProcess(schedule, SamplerConfig(steps=10))
    x, g = torch.zeros((2, 1, 4, 4)), torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 9\], got 10"):
        proc.step(Recorder(), x, 10, g)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 9\], got -1"):
        proc.step(Recorder(), x, -1, g)
    with pytest.raises(ValueError, match=r"start_index must lie in \[0, 9\], got 10"):
        proc.sample(Recorder(), x, g, start_index=10)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\), got \(3,\)"):
        proc.sample(Recorder(), x, g, labels=torch.tensor([1, 2, 3]))


# --- noise and restore (SDEdit) -------------------------------------------------------------------
def test_index_near_picks_the_respaced_step_nearest_t():
    process = ReverseProcess(make_schedule("linear", 1000), SamplerConfig(sampler="ddim", steps=50))
    assert process.index_near(1) == 0 and process.index_near(1000) == 49
    for t in (37, 300, 512, 999):
        index = process.index_near(t)
        assert abs(int(process.timesteps[index]) + 1 - t) == (process.timesteps + 1 - t).abs().min()
    for bad in (0, 1001, -5):
        with pytest.raises(ValueError, match="t must lie in"):
            process.index_near(bad)


def test_restoring_with_a_perfect_noise_predictor_gives_x0_back_from_any_t():
    """DDIM with η = 0 is exact when ε̂ is the true noise of x_t about x0: restoring returns x0."""
    from diffusion_core.samplers import noise_and_restore

    schedule = make_schedule("linear", 1000)
    process = ReverseProcess(schedule, SamplerConfig(sampler="ddim", steps=25))
    x0 = torch.rand((2, 1, 8, 8), generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8

    def oracle(x, t, y):
        ab = schedule.alphas_cumprod[t.cpu()].to(x.dtype)[:, None, None, None]
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    for t in (20, 400, 1000):
        index = process.index_near(t)
        x_t, restored = noise_and_restore(oracle, process, x0, index, torch.Generator().manual_seed(0))
        ab = float(schedule.alphas_cumprod[process.timesteps[index]])
        noise = (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        assert abs(float(noise.std()) - 1.0) < 0.25  # x_t is x0 noised by q(x_t | x0)
        torch.testing.assert_close(restored, x0, atol=1e-4, rtol=0)


def test_restoring_is_seeded():
    from diffusion_core.samplers import noise_and_restore

    process = ReverseProcess(make_schedule("linear", 1000), SamplerConfig(sampler="ddim", steps=10))
    model, x0 = Recorder(), torch.zeros((1, 1, 4, 4))
    first = noise_and_restore(model, process, x0, 5, torch.Generator().manual_seed(3))
    again = noise_and_restore(model, process, x0, 5, torch.Generator().manual_seed(3))
    other = noise_and_restore(model, process, x0, 5, torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, again)
    assert not torch.equal(first[0], other[0])
    assert len(model.calls) == 3 * 6  # from respaced index 5 down to 0: six network calls per run
