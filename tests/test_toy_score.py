"""Exact mixture scores, the two ways back, guidance, flow matching and the energy distance, each against
an independent computation (autograd, scipy, closed forms)."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import cdist

from diffusion_core import flow_matching, toy, toy_score
from diffusion_core.forward import alphas_cumprod_from_zero

SCHEDULE = toy.toy_schedule("cosine", 100)  # the pages' schedule


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", toy_score.MIXTURE_NAMES)
@pytest.mark.parametrize("alpha_bar", [1.0, 0.9, 0.3, 1e-4])
def test_the_closed_form_score_is_the_gradient_of_the_log_density(name, alpha_bar):
    data = toy_score.mixture(name)
    x = (1.5 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).requires_grad_()
    (autograd,) = torch.autograd.grad(data.log_density(x, alpha_bar).sum(), x)
    torch.testing.assert_close(data.score(x.detach(), alpha_bar), autograd, rtol=1e-9, atol=1e-9)


def test_the_log_density_is_the_mixture_of_noised_gaussians():
    """q(x_t) against scipy's multivariate normal, component by component (DDPM eq. 4 applied to each)."""
    data, ab = toy_score.mixture("uneven"), 0.6
    x = np.random.default_rng(1).normal(size=(20, 2))
    expected = sum(w * stats.multivariate_normal(math.sqrt(ab) * np.asarray(m), (ab * s ** 2 + 1 - ab) * np.eye(2))
                   .pdf(x) for w, m, s in zip(data.weights, data.means, data.stds))
    np.testing.assert_allclose(data.density(x, ab), expected, rtol=1e-10)


def _marginal_cdf(data: toy_score.Mixture2D, ab: float, direction: np.ndarray):
    """The CDF of u . x_t under q(x_t): a 1-D mixture sum pi_k N(sqrt(ab) u . mu_k, v_k)."""
    mu, var = np.asarray(data.means) @ direction, ab * np.asarray(data.stds) ** 2 + 1 - ab
    return lambda z: sum(w * stats.norm.cdf(z, math.sqrt(ab) * m, math.sqrt(v))
                         for w, m, v in zip(data.weights, mu, var))


@pytest.mark.parametrize("way", [0, 1], ids=["reverse SDE (DDPM)", "probability-flow ODE (DDIM eta=0)"])
def test_both_ways_back_land_on_the_closed_form_marginals(way):
    """A KS test of two projections at several t. The ODE is a deterministic map, so a start sample that
    happens to be off along one direction stays off at every t: seed 1's 4000 start points are not."""
    data = toy_score.mixture("ring")
    *ways, row_t = toy_score.two_ways_back(SCHEDULE, data, 4000, seed=1)
    paths = ways[way]  # (T + 1, N, 2)
    assert row_t[0] == 100 and row_t[-1] == 0 and len(row_t) == len(paths)  # the paper's t of each row
    alpha_bar = alphas_cumprod_from_zero(SCHEDULE)
    for t in (50, 20, 5, 0):
        row = int(np.flatnonzero(row_t == t)[0])
        for angle in (0.3, 1.9):
            u = np.array([math.cos(angle), math.sin(angle)])
            assert stats.kstest(paths[row] @ u, _marginal_cdf(data, alpha_bar[t], u)).pvalue > 0.01, (t, angle)


def test_the_ode_is_deterministic_and_the_sde_is_not():
    sde, ode, _ = toy_score.two_ways_back(SCHEDULE, toy_score.mixture("uneven"), 50, seed=3)
    np.testing.assert_array_equal(sde[0], ode[0])  # the same start points
    again = toy_score.two_ways_back(SCHEDULE, toy_score.mixture("uneven"), 50, seed=3)[1]
    np.testing.assert_array_equal(again, ode)
    assert np.abs(sde[-1] - ode[-1]).max() > 0.1


def test_exact_eps_follows_the_label_and_guidance_extrapolates():
    model = toy_score.ExactEps(SCHEDULE, toy_score.CLASSES, toy_score.CLASS_WEIGHTS)
    x, t = torch.tensor([[0.1, -0.2]], dtype=torch.float64), torch.tensor([29])
    ab = float(SCHEDULE.alphas_cumprod[29])
    for label, part in enumerate([*toy_score.CLASSES, toy_score.combine(toy_score.CLASSES, (0.5, 0.5))]):
        expected = -math.sqrt(1 - ab) * part.score(x, ab)
        torch.testing.assert_close(model(x, t, torch.tensor([label])), expected)
    from diffusion_core.samplers import guided_eps

    eps_none, eps_one = model(x, t, torch.tensor([2])), model(x, t, torch.tensor([1]))
    guided = guided_eps(model, x, t, torch.tensor([1]), 3.0, model.null_label)
    torch.testing.assert_close(guided, eps_none + 3.0 * (eps_one - eps_none))
    with pytest.raises(ValueError, match="labels must lie in"):
        model(x, t, torch.tensor([5]))


def test_stronger_guidance_leaves_the_mode_near_the_other_class():
    modes = np.asarray(toy_score.CLASSES[1].means)
    shares = []
    for w in (1.0, 4.0, 8.0):
        drawn = toy_score.guided_samples(SCHEDULE, 1, w, 400, seed=0)
        shares.append(np.mean(np.argmin(((drawn[:, None] - modes[None]) ** 2).sum(-1), axis=1) == 0))
    assert 0.4 < shares[0] < 0.6 and shares[0] > shares[1] > shares[2] and shares[2] < 0.05


def test_energy_distance_against_scipy_and_a_direct_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.4, 1.3, size=200)
    assert toy.energy_distance(a[:, None], b[:, None]) == pytest.approx(stats.energy_distance(a, b), rel=1e-9)
    x, y = rng.normal(size=(150, 2)), rng.normal(size=(100, 2)) + [0.5, 0.0]
    direct = math.sqrt(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())
    assert toy.energy_distance(x, y) == pytest.approx(direct, rel=1e-9)
    assert toy.energy_distance(x, x) == 0.0


def test_flow_matching_interpolates_and_its_target_is_the_velocity():
    x0, eps = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(flow_matching.interpolate(x0, eps, torch.zeros(5)), x0)
    torch.testing.assert_close(flow_matching.interpolate(x0, eps, torch.ones(5)), eps)
    t, h = torch.full((5,), 0.3, dtype=torch.float64), 1e-6
    x0, eps = x0.double(), eps.double()
    derivative = (flow_matching.interpolate(x0, eps, t + h) - flow_matching.interpolate(x0, eps, t - h)) / (2 * h)
    torch.testing.assert_close(derivative, flow_matching.velocity_target(x0, eps))


class ExactVelocity:
    """v*(x, t) = E[eps - x_0 | x_t = x] for a mixture under x_t = (1 - t) x_0 + t eps, from its VP score:
    x_t / c is the VP state with ab = (1 - t)^2 / c^2, c^2 = (1 - t)^2 + t^2; E[eps | x] = -t score(x),
    E[x_0 | x] = (x - t E[eps | x]) / (1 - t), so v* = (E[eps | x] - x) / (1 - t)."""

    def __init__(self, data):
        self.data = data

    def __call__(self, x, t):
        s = float(t[0])
        c = math.sqrt((1 - s) ** 2 + s ** 2)
        score = self.data.score(x.double() / c, (1 - s) ** 2 / c ** 2) / c
        return (((-s * score) - x.double()) / max(1 - s, 1e-6)).to(x.dtype)


def test_euler_on_the_exact_flow_matching_velocity_lands_on_the_data():
    data = toy_score.mixture("uneven")
    x1 = torch.randn(3000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    final = flow_matching.euler_flow(ExactVelocity(data), x1, 400)[-1].numpy()
    for angle in (0.0, 1.2):
        u = np.array([math.cos(angle), math.sin(angle)])
        assert stats.kstest(final @ u, _marginal_cdf(data, 1.0, u)).pvalue > 0.01


def test_straightness_is_one_on_a_line_and_less_on_a_bend():
    line = torch.linspace(0, 1, 11)[:, None, None] * torch.tensor([[1.0, 2.0]])  # (11, 1, 2)
    assert flow_matching.straightness(line) == pytest.approx(1.0)
    bend = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]])
    assert flow_matching.straightness(bend) == pytest.approx(math.sqrt(2) / 2)


def test_a_trained_velocity_beats_the_ddpm_denoiser_at_one_and_two_euler_steps():
    """The page's claim, on a short training run: few steps favour the straight paths."""
    eps = toy.train_toy(toy.ToyConfig(data="ring", train_steps=400))
    flow = toy.train_toy(toy.ToyConfig(data="ring", train_steps=400, objective="flow"))
    assert flow.smoothed_losses()[-1] < flow.smoothed_losses()[49]
    reference = toy.toy_points("ring", 1000, seed=5)[0]
    x1 = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    for steps in (1, 2):
        ddpm = toy.energy_distance(flow_matching.ddim_flow(eps.model, SCHEDULE, x1, steps)[-1], reference)
        fm = toy.energy_distance(flow_matching.euler_flow(flow.model, x1, steps)[-1], reference)
        assert fm < ddpm, steps


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="mixture name must be one of ring, uneven, got 'moons'"):
        toy_score.mixture("moons")
    with pytest.raises(ValueError, match="weights must be positive and sum to 1"):
        toy_score.Mixture2D((0.5, 0.6), ((0, 0), (1, 1)), (0.1, 0.1))
    with pytest.raises(ValueError, match="objective must be one of eps, flow, got 'score'"):
        toy.ToyConfig(objective="score")
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        flow_matching.euler_flow(lambda x, t: x, torch.zeros(1, 2), 0)
