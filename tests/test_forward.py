"""The forward process: closed form q(x_t | x_0) and the explicit Markov chain agree."""
import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_core import make_schedule, q_chain, q_posterior_mean_variance, q_sample, q_step

T, B0, B1 = 100, 1e-3, 0.05  # a short linear chain that still ends close to noise (alpha_bar_T ~ 0.07)


def ref_alpha_bar(T, b0, b1):
    betas = b0 + (b1 - b0) * np.arange(T) / (T - 1)  # DDPM linear schedule, float64
    return np.cumprod(1.0 - betas)


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", T, beta_start=B0, beta_end=B1)


@pytest.fixture(scope="module")
def chains(schedule):
    """20000 independent chains of one tiny 1x2x2 image: (T + 1, N, 1, 2, 2) float64."""
    x0 = torch.tensor([[-1.0, 0.5], [0.0, 1.0]], dtype=torch.float64).expand(20000, 1, 2, 2).contiguous()
    return x0, q_chain(x0, schedule, torch.Generator().manual_seed(1234))


def test_q_sample_matches_formula(schedule):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand((4, 1, 28, 28), generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn((4, 1, 28, 28), generator=g, dtype=torch.float64)
    t = torch.tensor([0, 9, 50, 99])
    ab = ref_alpha_bar(T, B0, B1)[t.numpy()][:, None, None, None]
    expected = np.sqrt(ab) * x0.numpy() + np.sqrt(1 - ab) * noise.numpy()
    np.testing.assert_allclose(q_sample(x0, t, schedule, noise).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_q_sample_keeps_float32_and_default_schedule_end_is_almost_pure_noise():
    sched = make_schedule("linear", 1000)
    x0 = torch.ones((2, 1, 28, 28))
    noise = torch.zeros((2, 1, 28, 28))
    out = q_sample(x0, torch.tensor([0, 999]), sched, noise)
    assert out.dtype == torch.float32 and out.shape == x0.shape
    assert out[0].mean().item() == pytest.approx(np.sqrt(0.9999), rel=1e-6)  # t = 1: barely noised
    assert out[1].mean().item() == pytest.approx(np.sqrt(4.035830e-05), rel=1e-4)  # t = T: signal almost gone


def test_chain_shape_and_start(chains):
    x0, states = chains
    assert states.shape == (T + 1, 20000, 1, 2, 2)
    assert torch.equal(states[0], x0)


@pytest.mark.parametrize("t", [1, 10, 50, 100])  # the paper's t: states[t] is x_t
def test_chain_moments_match_closed_form(chains, t):
    x0, states = chains
    ab = ref_alpha_bar(T, B0, B1)[t - 1]
    xt = states[t].numpy()  # (N, 1, 2, 2)
    n = xt.shape[0]
    mean, var = xt.mean(axis=0), xt.var(axis=0, ddof=1)
    expected_mean = np.sqrt(ab) * x0[0].numpy()
    # 5 standard errors, per pixel position
    np.testing.assert_allclose(mean, expected_mean, atol=5 * np.sqrt((1 - ab) / n))
    np.testing.assert_allclose(var, np.full_like(var, 1 - ab), rtol=5 * np.sqrt(2 / n))


@pytest.mark.parametrize("t", [1, 10, 50, 100])
def test_chain_is_gaussian_by_ks_test(chains, schedule, t):
    x0, states = chains
    ab = ref_alpha_bar(T, B0, B1)[t - 1]
    for pos in [(0, 0, 0), (0, 1, 1)]:  # x0 = -1 and x0 = 1
        chain = states[t][(slice(None), *pos)].numpy()
        z = (chain - np.sqrt(ab) * x0[(0, *pos)].item()) / np.sqrt(1 - ab)
        assert stats.kstest(z, "norm").pvalue > 1e-3
        # and against closed-form samples drawn with an unrelated seed
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
        closed = q_sample(x0, torch.full((x0.shape[0],), t - 1), schedule, noise)[(slice(None), *pos)].numpy()
        assert stats.ks_2samp(chain, closed).pvalue > 1e-3


def test_ks_test_detects_a_wrong_variance(chains):
    # guard that the tests above have power: the chain at t = 50 is not N(sqrt(ab) x0, 1 - ab/2)
    x0, states = chains
    ab = ref_alpha_bar(T, B0, B1)[49]
    z = (states[50][:, 0, 0, 0].numpy() - np.sqrt(ab) * -1.0) / np.sqrt(1 - ab / 2)
    assert stats.kstest(z, "norm").pvalue < 1e-6


def test_chain_is_deterministic_per_seed(schedule):
    x0 = torch.zeros((3, 1, 4, 4))
    a = q_chain(x0, schedule, torch.Generator().manual_seed(7), num_steps=20)
    b = q_chain(x0, schedule, torch.Generator().manual_seed(7), num_steps=20)
    c = q_chain(x0, schedule, torch.Generator().manual_seed(8), num_steps=20)
    assert a.shape == (21, 3, 1, 4, 4)
    assert torch.equal(a, b)
    assert not torch.allclose(a[1:], c[1:])


def test_q_step_matches_eq_2(schedule):
    x = torch.full((2, 1, 2, 2), 0.7, dtype=torch.float64)
    noise = torch.full((2, 1, 2, 2), -0.3, dtype=torch.float64)
    beta = B0 + (B1 - B0) * 10 / (T - 1)  # paper's t = 11
    out = q_step(x, torch.tensor([10, 10]), schedule, noise)
    np.testing.assert_allclose(out.numpy(), np.sqrt(1 - beta) * 0.7 + np.sqrt(beta) * -0.3, rtol=1e-12)


def test_q_posterior_mean_variance_matches_formula(schedule):
    ab = ref_alpha_bar(T, B0, B1)
    betas = 1 - ab / np.concatenate([[1.0], ab[:-1]])
    t = 40  # 0-based index; paper's t = 41
    x0 = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    xt = torch.full((1, 1, 2, 2), -0.2, dtype=torch.float64)
    mean, var = q_posterior_mean_variance(x0, xt, torch.tensor([t]), schedule)
    expected_var = betas[t] * (1 - ab[t - 1]) / (1 - ab[t])  # DDPM eq. 7
    expected_mean = (np.sqrt(ab[t - 1]) * betas[t] * 0.5 + np.sqrt(1 - betas[t]) * (1 - ab[t - 1]) * -0.2) / (1 - ab[t])
    assert var.shape == (1, 1, 1, 1) and var.item() == pytest.approx(expected_var, rel=1e-10)
    np.testing.assert_allclose(mean.numpy(), expected_mean, rtol=1e-10)


# --- bad input ---

X = torch.zeros((2, 1, 4, 4))


@pytest.mark.parametrize("x0, t, noise, match", [
    (X, torch.tensor([0, 100]), X, r"t must lie in \[0, 99\].*100"),
    (X, torch.tensor([-1, 0]), X, r"t must lie in \[0, 99\].*-1"),
    (X, torch.tensor([0.0, 1.0]), X, r"t must hold integer.*float"),
    (X, torch.tensor([0, 1, 2]), X, r"t must be a 1-D tensor with one index per batch item \(2\).*\(3,\)"),
    (X, torch.tensor([[0, 1]]), X, r"t must be a 1-D.*\(1, 2\)"),
    (X, torch.tensor(0), X, r"t must be a 1-D.*\(\)"),
    (X, torch.tensor([0, 1]), torch.zeros((2, 1, 4, 5)),
     r"noise must have the shape of x0 \(2, 1, 4, 4\).*\(2, 1, 4, 5\)"),
    (torch.zeros(4), torch.tensor([0, 1, 2, 3]), torch.zeros(4), r"x0 must have shape \(B, \.\.\.\).*\(4,\)"),
])
def test_q_sample_rejects_bad_input(schedule, x0, t, noise, match):
    with pytest.raises(ValueError, match=match):
        q_sample(x0, t, schedule, noise)


def test_q_step_and_q_chain_reject_bad_input(schedule):
    with pytest.raises(ValueError, match=r"noise must have the shape of x_prev"):
        q_step(X, torch.tensor([0, 1]), schedule, torch.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 99\]"):
        q_step(X, torch.tensor([0, 100]), schedule, X)
    with pytest.raises(ValueError, match=r"num_steps must lie in \[0, 100\].*101"):
        q_chain(X, schedule, torch.Generator().manual_seed(0), num_steps=101)
    with pytest.raises(ValueError, match=r"num_steps must lie in \[0, 100\].*-1"):
        q_chain(X, schedule, torch.Generator().manual_seed(0), num_steps=-1)


# --- the paper's t: t = 0 is x_0, t = 1 … T the noised states ------------------------------------
def test_paper_t_helpers_pin_t_0_1_and_T():
    """DDPM's schedule: ᾱ_0 = 1 (the data), ᾱ_1 = 1 − β_1 = 0.9999, ᾱ_1000 ≈ 4.04e-5."""
    from diffusion_core.forward import alphas_cumprod_from_zero, coefficients, paper_timesteps
    from diffusion_core.schedules import index_of, paper_t

    ddpm = make_schedule("linear", 1000)
    alpha_bar = alphas_cumprod_from_zero(ddpm)
    assert alpha_bar.shape == (1001,) and alpha_bar[0] == 1.0 and alpha_bar[1] == pytest.approx(0.9999, abs=1e-15)
    assert alpha_bar[1000] == pytest.approx(4.0358e-5, rel=1e-4)
    np.testing.assert_allclose(alpha_bar[1:], ref_alpha_bar(1000, 1e-4, 0.02), rtol=1e-12)  # independent cumprod
    signal, noise = coefficients(ddpm, [0, 1, 1000])
    np.testing.assert_allclose(signal, [1.0, 0.99995, 0.0063528], rtol=1e-5)
    np.testing.assert_allclose(noise, [0.0, 0.01, 0.99997982], rtol=1e-6)
    np.testing.assert_array_equal(paper_timesteps(ddpm)[[0, -1]], [1, 1000])
    assert index_of(1) == 0 and index_of(1000) == 999 and paper_t(0) == 1 and paper_t(999) == 1000
    with pytest.raises(ValueError, match=r"t must be whole numbers in \[0, 1000\]"):
        coefficients(ddpm, [1001])


def test_q_sample_at_uses_the_paper_t_and_keeps_x0_at_t_0(schedule):
    from diffusion_core.forward import q_sample_at

    x0, eps = torch.rand(1, 4, 4) * 2 - 1, torch.randn(1, 4, 4)
    xt = q_sample_at(x0, [0, 1, T], schedule, eps)
    ab = ref_alpha_bar(T, B0, B1)
    assert xt.shape == (3, 1, 4, 4)
    torch.testing.assert_close(xt[0], x0)
    for k, t in ((1, 1), (2, T)):  # paper t → ᾱ_t at index t − 1
        torch.testing.assert_close(xt[k], float(np.sqrt(ab[t - 1])) * x0 + float(np.sqrt(1 - ab[t - 1])) * eps)


def test_forward_states_are_one_fixed_draw_and_the_chain_starts_from_it(schedule):
    from diffusion_core.forward import alphas_cumprod_from_zero, forward_states

    x0 = torch.linspace(-1, 1, 16).reshape(1, 4, 4)
    t = (0, 1, 10, 50, T)
    ab = alphas_cumprod_from_zero(schedule)[list(t)]
    xt, signal, noise = (a.numpy() for a in forward_states(x0, schedule, t, seed=3))
    eps = noise[1:] / np.sqrt(1 - ab[1:])[:, None, None, None]
    np.testing.assert_allclose(eps, np.broadcast_to(eps[0], eps.shape), atol=1e-5)  # one ε for every t
    np.testing.assert_allclose(xt, signal + noise, atol=1e-6)
    np.testing.assert_allclose(signal, np.sqrt(ab)[:, None, None, None] * x0.numpy(), atol=1e-6)
    chain_xt = forward_states(x0, schedule, t, seed=3, chain=True)[0].numpy()
    np.testing.assert_allclose(chain_xt[:2], xt[:2], atol=1e-6)  # x_0, and x_1 from the same first draw
    assert np.abs(chain_xt[-1] - xt[-1]).mean() > 0.1  # later the chain's fresh draws take over
