"""The toy world of the distributions page: the closed-form q(x_t) of a Gaussian mixture, the
stationary prior, the 2-D toy sets, and a tiny denoiser that learns to carry noise back to data."""
import numpy as np
import pytest
import torch
from scipy import integrate, stats

from diffusion_core import ReverseProcess, SamplerConfig, q_sample, toy
from diffusion_core.forward import alphas_cumprod_from_zero

MIXTURE = toy.MIXTURES["two bumps"]


@pytest.fixture(scope="module")
def schedule():
    return toy.toy_schedule("cosine", 100)


def mixture_cdf(mixture, alpha_bar, x):
    """Reference CDF of q(x_t), from scipy: each component N(sqrt(ab) mu, ab s^2 + 1 - ab)."""
    return sum(w * stats.norm.cdf(x, np.sqrt(alpha_bar) * m, np.sqrt(alpha_bar * s ** 2 + 1 - alpha_bar))
               for w, m, s in zip(mixture.weights, mixture.means, mixture.stds))


def test_pinned_value_of_one_component():
    single = toy.GaussianMixture((1.0,), (0.6,), (0.3,))
    # alpha_bar = 0.5: N(0.6 sqrt(0.5), 0.5 * 0.09 + 0.5) = N(0.42426, 0.545)
    assert toy.mixture_density(single, np.array([0.5]), np.array([0.0]))[0, 0] == pytest.approx(
        stats.norm.pdf(0.0, 0.6 * np.sqrt(0.5), np.sqrt(0.545)), rel=1e-12)
    assert single.pdf(np.array([0.6]))[0] == pytest.approx(stats.norm.pdf(0.6, 0.6, 0.3), rel=1e-12)


@pytest.mark.parametrize("name", list(toy.MIXTURES))
def test_mixture_density_integrates_to_one_and_ends_at_the_prior(name, schedule):
    mixture = toy.MIXTURES[name]
    alpha_bar = alphas_cumprod_from_zero(schedule)
    x = np.linspace(-12, 12, 24001)
    density = toy.mixture_density(mixture, alpha_bar[[0, 1, 30, 70, 100]], x)
    np.testing.assert_allclose(integrate.trapezoid(density, x, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(density[0], mixture.pdf(x), rtol=1e-12)  # t = 0: the data itself
    np.testing.assert_allclose(density[-1], stats.norm.pdf(x), atol=1e-4)  # t = T: N(0, 1)


@pytest.mark.parametrize("t", [5, 25, 60])
def test_closed_form_matches_q_sample_draws(t, schedule):
    rng = np.random.default_rng(t)
    x0 = torch.as_tensor(MIXTURE.sample(40_000, rng))[:, None]  # (N, 1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(t), dtype=x0.dtype)
    xt = q_sample(x0, torch.full((len(x0),), t - 1), schedule, noise)[:, 0].numpy()
    alpha_bar = float(schedule.alphas_cumprod[t - 1])
    assert stats.kstest(xt, lambda v: mixture_cdf(MIXTURE, alpha_bar, v)).pvalue > 1e-3
    # and against the page's density itself: a histogram of the draws follows the curve
    edges = np.linspace(-4, 4, 41)
    hist, _ = np.histogram(xt, bins=edges, density=True)
    centers = (edges[1:] + edges[:-1]) / 2
    np.testing.assert_allclose(hist, toy.mixture_density(MIXTURE, np.array([alpha_bar]), centers)[0], atol=0.03)


def test_forward_cloud_keeps_one_noise_per_point_and_starts_at_the_data(schedule):
    points, _ = toy.toy_points("moons", 300, seed=0)
    frames = toy.forward_cloud(points, schedule, np.array([0, 1, 50, 100]), seed=1)
    assert frames.shape == (4, 300, 2)
    np.testing.assert_array_equal(frames[0], points)
    ab = schedule.alphas_cumprod.numpy()
    eps_50 = (frames[2] - np.sqrt(ab[49]) * points) / np.sqrt(1 - ab[49])
    eps_1 = (frames[1] - np.sqrt(ab[0]) * points) / np.sqrt(1 - ab[0])
    np.testing.assert_allclose(eps_50, eps_1, atol=1e-3)  # the same eps at every t


@pytest.mark.parametrize("schedule_name", toy.TOY_SCHEDULES)
def test_prior_is_stationary_under_the_kernel(schedule_name):
    sched = toy.toy_schedule(schedule_name, 100)
    start = np.random.default_rng(0).standard_normal(20_000)
    chain = toy.kernel_chain(start, sched, seed=1)  # (T + 1, N)
    assert chain.shape == (101, 20_000)
    for k in (1, 10, 50, 100):
        assert stats.kstest(chain[k], "norm").pvalue > 1e-3
        assert abs(chain[k].mean()) < 0.03 and abs(chain[k].std() - 1) < 0.03
    assert np.abs(chain[100] - start).mean() > 1.0  # the samples did move: only their distribution stayed


def test_mixture_under_the_kernel_follows_the_closed_form(schedule):
    chain = toy.kernel_chain(MIXTURE.sample(20_000, np.random.default_rng(3)), schedule, seed=4)
    alpha_bar = alphas_cumprod_from_zero(schedule)
    for k in (10, 40):
        assert stats.kstest(chain[k], lambda v: mixture_cdf(MIXTURE, alpha_bar[k], v)).pvalue > 1e-3
    assert stats.kstest(chain[0], "norm").pvalue < 1e-6  # the data is far from N(0, 1)


@pytest.mark.parametrize("name", toy.TOY_SCHEDULES)
@pytest.mark.parametrize("num_steps", [50, 100, 200])
def test_toy_schedules_end_in_noise(name, num_steps):
    assert float(toy.toy_schedule(name, num_steps).alphas_cumprod[-1]) < 1e-3


@pytest.mark.parametrize("name", toy.TOY_NAMES)
def test_toy_points_are_reproducible_and_inside_the_pixel_range(name):
    points, colour = toy.toy_points(name, 2000, seed=5)
    assert points.shape == (2000, 2) and points.dtype == np.float32 and colour.shape == (2000,)
    assert np.abs(points).max() <= 1.1 and np.quantile(np.abs(points), 0.99) <= 1.0  # the noise may step over
    assert 0 <= colour.min() and colour.max() <= 1
    np.testing.assert_array_equal(points, toy.toy_points(name, 2000, seed=5)[0])


def test_bad_names_and_settings_are_refused():
    with pytest.raises(ValueError, match="toy data name must be one of moons, spiral, ring, uneven, got 'circles'"):
        toy.toy_points("circles", 10, 0)
    with pytest.raises(ValueError, match="toy schedule must be one of linear, cosine, got 'sigmoid'"):
        toy.toy_schedule("sigmoid", 100)
    with pytest.raises(ValueError, match="train_steps must be an integer >= 1, got 0"):
        toy.ToyConfig(train_steps=0)
    with pytest.raises(ValueError, match="weights must be positive and sum to 1"):
        toy.GaussianMixture((0.5, 0.6), (0.0, 1.0), (1.0, 1.0))


def test_denoiser_runs_in_the_app_sampler_on_2d_points(schedule):
    model = toy.ToyDenoiser(schedule.num_steps)
    x = torch.randn(7, 2)
    assert model(x, torch.arange(7), None).shape == (7, 2)
    process = ReverseProcess(schedule, SamplerConfig(sampler="ddim", steps=10))
    assert process.sample(model, x, torch.Generator().manual_seed(0)).shape == (7, 2)


@pytest.fixture
def one_thread():
    """A tiny network: more threads only add overhead (and the CI machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_trained_denoiser_carries_the_prior_back_to_the_data(one_thread):
    trained = toy.train_toy(toy.ToyConfig(data="moons", train_steps=200, batch_size=256))  # ~1 s
    assert trained.losses.shape == (200,) and trained.smoothed_losses()[-1] < trained.smoothed_losses()[49]
    data, _ = toy.toy_points("moons", 2000, seed=9)
    trajectory = toy.reverse_cloud(trained, 400, seed=0)
    assert trajectory.xs.shape == (101, 400, 2)
    prior = toy.mean_nearest_distance(trajectory.xs[0], data)  # x_T ~ N(0, I)
    samples = toy.mean_nearest_distance(trajectory.final, data)
    assert prior > 0.4 and samples < 0.25 * prior  # about 0.62 and 0.05
