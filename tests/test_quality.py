"""The quality metrics against independent formulas."""
import math

import numpy as np
import pytest
from scipy import linalg

from diffusion_core.quality import ClassifierReading, frechet_distance


def scipy_frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * cross))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.5
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_two_gaussians_is_known():
    # N(0, I) vs N(m, 4 I) in d dims: |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200_000, 3))
    b = 2 * rng.normal(size=(200_000, 3)) + np.array([1.0, 0.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(1.0 + 3.0, rel=0.02)


def test_confidence_and_class_entropy():
    balanced = ClassifierReading(np.eye(10)[np.arange(100) % 10], np.zeros((100, 2)))
    assert balanced.mean_confidence == 1.0
    assert balanced.class_entropy == pytest.approx(math.log(10))
    one_class = ClassifierReading(np.tile([0.5] + [0.5 / 9] * 9, (20, 1)), np.zeros((20, 2)))
    assert one_class.class_entropy == 0.0 and one_class.mean_confidence == pytest.approx(0.5)


def test_settling_step_is_where_the_predicted_class_stops_changing():
    from diffusion_core.quality import settling_step

    def reading(classes):
        return np.eye(10)[classes] * 0.9 + 0.01

    assert settling_step(reading([3, 3, 3])) == 0
    assert settling_step(reading([8, 1, 7, 7, 7])) == 2
    assert settling_step(reading([7, 1, 7, 7])) == 2  # a flicker away and back counts
    assert settling_step(reading([1, 2, 3, 4])) == 3


def test_steps_table_has_a_row_per_sampler_and_step_count():
    """bench quality --steps-table with stand-ins: the rows, their network calls, and the measures in range."""
    import torch

    from diffusion_core.classifier import Classifier
    from diffusion_core.quality import network_calls, steps_table
    from diffusion_core.schedules import make_schedule
    from diffusion_core.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=8, channel_mults=(1,))).eval()
    classifier = Classifier().eval()
    real = torch.rand((12, 1, 28, 28)) * 2 - 1
    table = steps_table(model, classifier, make_schedule("linear", 1000), real, real, n_uncond=6, n_per_class=1,
                        steps=(2, 3), log=lambda line: None)
    assert [(r["sampler"], r["steps"]) for r in table["rows"]] == [
        (s, n) for s in ("ddim", "dpmpp2m", "heun") for n in (2, 3)]
    assert [r["network_calls"] for r in table["rows"]][-2:] == [3, 5] == [network_calls("heun", n) for n in (2, 3)]
    assert table["n_uncond"] == 6 and table["n_conditional"] == 10
    for row in table["rows"]:
        assert 0 <= row["accuracy_w2"] <= 1 and 0 < row["mean_confidence"] <= 1 and row["frechet_distance"] >= 0


def _row(sampler, steps, confidence, frechet, calls=None):
    return {"sampler": sampler, "steps": steps, "network_calls": calls or steps, "mean_confidence": confidence,
            "class_entropy": 2.29, "frechet_distance": frechet, "accuracy_w2": 1.0}


def test_the_default_is_the_cheapest_row_no_worse_than_ddim_50_by_more_than_the_seed_spread():
    from diffusion_core.quality import choose_default, matches_reference

    seed0 = {"rows": [_row("ddim", 50, 0.95, 27.0), _row("ddim", 10, 0.93, 41.0), _row("dpmpp2m", 10, 0.947, 30.0),
                      _row("dpmpp2m", 20, 0.95, 28.0), _row("heun", 10, 0.96, 26.0, calls=19)]}
    seed1 = {"rows": [_row("ddim", 50, 0.96, 29.0), _row("ddim", 10, 0.935, 42.0), _row("dpmpp2m", 10, 0.95, 31.0),
                      _row("dpmpp2m", 20, 0.955, 29.5), _row("heun", 10, 0.96, 26.0, calls=19)]}
    rows = {(r["sampler"], r["steps"]): r for r in matches_reference([seed0, seed1])}
    # DDIM-10: Frechet 41.5 against 28.0, spread 2: worse by 13.5
    assert not rows[("ddim", 10)]["matches"] and rows[("ddim", 10)]["measures"]["frechet_distance"]["worse_by"] == 13.5
    # DPM-Solver++ 10: Frechet 30.5 against 28.0 with a spread of 2.0: worse by 2.5 > 2.0
    assert not rows[("dpmpp2m", 10)]["matches"]
    assert rows[("dpmpp2m", 20)]["matches"] and rows[("heun", 10)]["matches"]
    assert choose_default([seed0, seed1]) == ("dpmpp2m", 20)  # Heun (two calls a step) is not a candidate
    assert choose_default([seed0, seed1], samplers=("ddim", "dpmpp2m", "heun")) == ("heun", 10)  # 19 calls < 20
    with pytest.raises(ValueError, match="two or more seeds"):
        choose_default([seed0])


def test_the_apps_default_run_is_the_one_the_shipped_steps_tables_choose():
    from diffusion_core.pretrained import read_card
    from diffusion_core.quality import choose_default
    from diffusion_core.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

    quality = read_card("mnist_unet")["quality"]
    tables = [quality[key] for key in sorted(quality) if key.startswith("steps_table")]
    assert len(tables) >= 2 and len({table["seed"] if "seed" in table else 0 for table in tables}) == len(tables)
    assert choose_default(tables) == (DEFAULT_SAMPLER, DEFAULT_STEPS)
