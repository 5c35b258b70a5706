"""Beta schedules and their derived quantities, against numpy references written here.

Index convention under test: position i of every tensor is the paper's t = i + 1.
"""
import math

import numpy as np
import pytest
import torch

from diffusion_core import NoiseSchedule, make_schedule, respace, spaced_timesteps

# --- independent numpy references (float64), written from the papers, not from the code ---

def ref_linear_betas(T, b0=1e-4, b1=0.02):
    # DDPM (Ho et al. 2020), section 4: beta_t linear from b0 (t = 1) to b1 (t = T)
    t = np.arange(1, T + 1, dtype=np.float64)
    return b0 + (b1 - b0) * (t - 1) / max(T - 1, 1)


def ref_cosine_betas(T, s=0.008, max_beta=0.999):
    # Improved DDPM (Nichol & Dhariwal 2021), eq. 17 and the clip at 0.999
    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - f(t) / f(t - 1), max_beta) for t in range(1, T + 1)])


def ref_alpha_bar(betas):
    out, prod = [], 1.0
    for b in betas:  # a plain running product, DDPM eq. 4
        prod *= 1.0 - b
        out.append(prod)
    return np.array(out)


# Pinned: alpha_bar_t of the DDPM linear schedule (1e-4 -> 0.02, T = 1000), paper's t.
LINEAR_ALPHA_BAR = {1: 0.9999, 10: 0.9981052, 100: 0.8970181, 250: 0.5240854, 500: 0.07858724,
                    750: 0.003350550, 1000: 4.035830e-05}
# Pinned: alpha_bar_t of the cosine schedule (s = 0.008, beta <= 0.999, T = 1000).
COSINE_ALPHA_BAR = {1: 0.9999587, 10: 0.9993687, 100: 0.9720927, 250: 0.8470122, 500: 0.4938436,
                    750: 0.1442721, 999: 2.428767e-06, 1000: 2.428767e-09}


@pytest.mark.parametrize("name, pinned, ref", [
    ("linear", LINEAR_ALPHA_BAR, ref_linear_betas),
    ("cosine", COSINE_ALPHA_BAR, ref_cosine_betas),
])
def test_alpha_bar_pinned_and_matches_reference(name, pinned, ref):
    sched = make_schedule(name, 1000)
    ab = sched.alphas_cumprod.numpy()
    reference = ref_alpha_bar(ref(1000))
    np.testing.assert_allclose(ab, reference, rtol=1e-10, atol=1e-14)
    for t, value in pinned.items():  # index t - 1 is the paper's t
        assert ab[t - 1] == pytest.approx(value, rel=2e-6), f"alpha_bar at t={t}"
        assert reference[t - 1] == pytest.approx(value, rel=2e-6)


def test_cosine_last_beta_is_clipped_at_0_999():
    betas = make_schedule("cosine", 1000).betas
    assert betas[-1].item() == pytest.approx(0.999)
    assert betas.max().item() <= 0.999
    assert betas[0].item() == pytest.approx(4.128422e-05, rel=1e-6)


def test_first_entry_is_paper_t_equals_1():
    sched = make_schedule("linear", 1000)
    assert sched.betas[0].item() == pytest.approx(1e-4)  # beta_1
    assert sched.betas[-1].item() == pytest.approx(0.02)  # beta_T
    assert sched.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4)  # alpha_bar_1 = alpha_1
    assert sched.alphas_cumprod_prev[0].item() == 1.0  # alpha_bar_0 = 1 (clean image)
    np.testing.assert_allclose(sched.alphas_cumprod_prev[1:].numpy(), sched.alphas_cumprod[:-1].numpy())


@pytest.mark.parametrize("name", ["linear", "cosine", "quadratic", "sigmoid"])
def test_alpha_bar_is_cumprod_of_one_minus_beta_in_float64(name):
    sched = make_schedule(name, 300)
    assert sched.betas.dtype == torch.float64 and sched.alphas_cumprod.dtype == torch.float64
    assert sched.betas.shape == sched.alphas_cumprod.shape == (300,)
    betas = sched.betas.numpy()
    assert np.all((betas > 0) & (betas < 1))
    np.testing.assert_allclose(sched.alphas_cumprod.numpy(), ref_alpha_bar(betas), rtol=1e-12)
    ab = sched.alphas_cumprod.numpy()
    assert np.all(np.diff(ab) < 0), "alpha_bar must fall strictly as t grows"


def test_quadratic_matches_docstring_definition():
    T, b0, b1 = 40, 2e-4, 0.03
    t = np.arange(1, T + 1)
    expected = (math.sqrt(b0) + (math.sqrt(b1) - math.sqrt(b0)) * (t - 1) / (T - 1)) ** 2
    betas = make_schedule("quadratic", T, beta_start=b0, beta_end=b1).betas.numpy()
    np.testing.assert_allclose(betas, expected, rtol=1e-12)


def test_sigmoid_matches_docstring_definition():
    T, b0, b1 = 40, 2e-4, 0.03
    u = -6 + 12 * (np.arange(1, T + 1) - 1) / (T - 1)  # evenly spaced on [-6, 6]
    expected = b0 + (b1 - b0) / (1 + np.exp(-u))
    betas = make_schedule("sigmoid", T, beta_start=b0, beta_end=b1).betas.numpy()
    np.testing.assert_allclose(betas, expected, rtol=1e-12)


def test_custom_beta_start_end_and_other_T():
    sched = make_schedule("linear", 10, beta_start=1e-3, beta_end=0.05)
    np.testing.assert_allclose(sched.betas.numpy(), ref_linear_betas(10, 1e-3, 0.05), rtol=1e-12)
    cos = make_schedule("cosine", 50, s=0.02)
    np.testing.assert_allclose(cos.betas.numpy(), ref_cosine_betas(50, s=0.02), rtol=1e-10)


@pytest.mark.parametrize("name", ["linear", "cosine", "quadratic", "sigmoid"])
def test_single_step_schedule_works(name):
    sched = make_schedule(name, 1)
    assert sched.num_steps == 1 and sched.betas.shape == (1,)
    assert 0 < sched.betas.item() < 1
    assert sched.alphas_cumprod.item() == pytest.approx(1 - sched.betas.item())
    assert sched.posterior_variance.item() == 0.0  # x_0 given x_1 and x_0 is x_0


# --- derived quantities against direct Gaussian algebra ---

def gaussian_posterior(ab_prev, alpha, beta):
    """q(x_{t-1} | x_t, x_0) by completing the square in x_{t-1}.

    N(x_{t-1}; sqrt(ab_prev) x0, 1 - ab_prev) * N(x_t; sqrt(alpha) x_{t-1}, beta):
    precision = 1/(1 - ab_prev) + alpha/beta,
    mean = var * (sqrt(ab_prev)/(1 - ab_prev) x0 + sqrt(alpha)/beta x_t).
    Returns (variance, coefficient of x0, coefficient of x_t).
    """
    v1 = 1.0 - ab_prev
    var = 1.0 / (1.0 / v1 + alpha / beta)
    return var, var * math.sqrt(ab_prev) / v1, var * math.sqrt(alpha) / beta


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_posterior_matches_gaussian_algebra(name):
    sched = make_schedule(name, 1000)
    betas = ref_linear_betas(1000) if name == "linear" else ref_cosine_betas(1000)
    ab = ref_alpha_bar(betas)
    for t in (2, 3, 50, 500, 999):  # paper's t; t = 1 has a degenerate prior, checked below
        var, c1, c2 = gaussian_posterior(ab[t - 2], 1.0 - betas[t - 1], betas[t - 1])
        assert sched.posterior_variance[t - 1].item() == pytest.approx(var, rel=1e-9)
        assert sched.posterior_mean_coef1[t - 1].item() == pytest.approx(c1, rel=1e-9)
        assert sched.posterior_mean_coef2[t - 1].item() == pytest.approx(c2, rel=1e-9)
    # t = 1: x_0 is known, so the posterior is a point mass at x_0
    assert sched.posterior_variance[0].item() == 0.0
    assert sched.posterior_mean_coef1[0].item() == pytest.approx(1.0)
    assert sched.posterior_mean_coef2[0].item() == pytest.approx(0.0, abs=1e-12)


def test_posterior_matches_joint_gaussian_conditioning():
    # A second derivation: condition the joint Gaussian of (x_{t-1}, x_t) given x_0 (Schur complement).
    sched = make_schedule("linear", 200)
    betas = ref_linear_betas(200)
    ab = ref_alpha_bar(betas)
    for t in (2, 77, 200):
        a, b, abp = 1 - betas[t - 1], betas[t - 1], ab[t - 2]
        cov = np.array([[1 - abp, math.sqrt(a) * (1 - abp)], [math.sqrt(a) * (1 - abp), a * (1 - abp) + b]])
        mean = np.array([math.sqrt(abp), math.sqrt(a * abp)])  # times x_0
        gain = cov[0, 1] / cov[1, 1]
        var = cov[0, 0] - gain * cov[0, 1]
        coef_xt, coef_x0 = gain, mean[0] - gain * mean[1]
        assert sched.posterior_variance[t - 1].item() == pytest.approx(var, rel=1e-9)
        assert sched.posterior_mean_coef1[t - 1].item() == pytest.approx(coef_x0, rel=1e-9)
        assert sched.posterior_mean_coef2[t - 1].item() == pytest.approx(coef_xt, rel=1e-9)
        assert cov[1, 1] == pytest.approx(1 - ab[t - 1])  # marginal of x_t agrees with eq. 4


def test_snr_and_square_roots():
    sched = make_schedule("cosine", 1000)
    ab = ref_alpha_bar(ref_cosine_betas(1000))
    np.testing.assert_allclose(sched.snr.numpy(), ab / (1 - ab), rtol=1e-9)
    np.testing.assert_allclose(sched.sqrt_alphas_cumprod.numpy(), np.sqrt(ab), rtol=1e-10)
    np.testing.assert_allclose(sched.sqrt_one_minus_alphas_cumprod.numpy(), np.sqrt(1 - ab), rtol=1e-10)
    assert np.all(np.diff(sched.log_snr.numpy()) < 0), "log SNR must fall with t"


# --- respacing ---

def test_spaced_timesteps_cover_both_ends():
    ts = spaced_timesteps(1000, 50)
    assert ts.tolist() == np.round(np.linspace(0, 999, 50)).astype(int).tolist()
    assert ts[0].item() == 0 and ts[-1].item() == 999 and len(set(ts.tolist())) == 50
    assert spaced_timesteps(10, 10).tolist() == list(range(10))
    assert spaced_timesteps(1000, 1).tolist() == [999]


def test_respace_keeps_alpha_bar_at_kept_steps():
    sched = make_schedule("linear", 1000)
    ts = spaced_timesteps(1000, 50)
    spaced = respace(sched, ts)
    assert spaced.num_steps == 50
    np.testing.assert_allclose(spaced.alphas_cumprod.numpy(), sched.alphas_cumprod[ts].numpy(), rtol=1e-12)
    # the respaced betas are the one-step betas of the shorter chain
    ab = sched.alphas_cumprod[ts].numpy()
    np.testing.assert_allclose(spaced.betas.numpy(), 1 - ab / np.concatenate([[1.0], ab[:-1]]), rtol=1e-12)
    # keeping every step changes nothing
    full = respace(sched, torch.arange(1000))
    np.testing.assert_allclose(full.betas.numpy(), sched.betas.numpy(), rtol=1e-9)


# --- bad input: ValueError naming the parameter, the value and what is allowed ---

@pytest.mark.parametrize("kwargs, match", [
    (dict(name="exponential"), r"schedule name.*linear.*'exponential'"),
    (dict(name="Linear"), r"schedule name.*'Linear'"),
    (dict(num_steps=0), r"num_steps.*>= 1.*got 0"),
    (dict(num_steps=-5), r"num_steps.*got -5"),
    (dict(num_steps=10.5), r"num_steps.*integer.*10\.5"),
    (dict(num_steps="100"), r"num_steps.*integer.*'100'"),
    (dict(name="cosine", num_steps=0), r"num_steps.*got 0"),
    (dict(beta_start=0.0), r"beta_start.*\(0, 1\).*got 0\.0"),
    (dict(beta_start=-1e-4), r"beta_start.*\(0, 1\)"),
    (dict(beta_end=1.0), r"beta_end.*\(0, 1\).*got 1\.0"),
    (dict(beta_end=1.5), r"beta_end.*\(0, 1\)"),
    (dict(beta_end=float("nan")), r"beta_end.*\(0, 1\).*nan"),
    (dict(name="quadratic", beta_start=float("inf")), r"beta_start"),
    (dict(name="sigmoid", beta_end=2.0), r"beta_end"),
    (dict(beta_start=0.02, beta_end=1e-4), r"beta_start must be <= beta_end.*0\.02"),
    (dict(name="cosine", beta_start=1e-4), r"cosine.*\bs\b.*unknown beta_start"),
    (dict(name="linear", s=0.008), r"linear.*beta_start, beta_end.*unknown s"),
    (dict(name="cosine", s=-0.1), r"\bs must.*>= 0.*-0\.1"),
])
def test_make_schedule_rejects_bad_input(kwargs, match):
    kwargs = {"name": "linear", "num_steps": 1000, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_schedule(kwargs.pop("name"), kwargs.pop("num_steps"), **kwargs)


@pytest.mark.parametrize("betas, match", [
    (torch.tensor([0.1, 1.0], dtype=torch.float64), r"beta.*\(0, 1\)"),
    (torch.tensor([0.0, 0.1], dtype=torch.float64), r"beta.*\(0, 1\)"),
    (torch.zeros(0, dtype=torch.float64), r"betas.*non-empty"),
    (torch.full((2, 2), 0.1, dtype=torch.float64), r"betas.*1-D"),
])
def test_noise_schedule_rejects_bad_betas(betas, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(betas)


@pytest.mark.parametrize("t, match", [
    (torch.tensor([1000]), r"t must lie in \[0, 999\].*1000"),
    (torch.tensor([-1]), r"t must lie in \[0, 999\].*-1"),
    (torch.tensor([1.0]), r"t must hold integer.*float"),
    (torch.tensor([True]), r"t must hold integer"),
])
def test_check_t_rejects_out_of_range_and_float(t, match):
    with pytest.raises(ValueError, match=match):
        make_schedule("linear", 1000).check_t(t)


@pytest.mark.parametrize("timesteps, match", [
    (torch.tensor([0, 5, 5]), r"timesteps.*strictly increasing"),
    (torch.tensor([5, 3]), r"timesteps.*strictly increasing"),
    (torch.tensor([0, 1000]), r"t must lie in \[0, 999\]"),
])
def test_respace_rejects_bad_timesteps(timesteps, match):
    with pytest.raises(ValueError, match=match):
        respace(make_schedule("linear", 1000), timesteps)


@pytest.mark.parametrize("count", [0, 1001, 2.5])
def test_spaced_timesteps_rejects_bad_count(count):
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000\]"):
        spaced_timesteps(1000, count)
