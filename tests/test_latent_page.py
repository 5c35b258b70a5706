"""The Latent diffusion page under AppTest, with the shipped autoencoder and latent U-Net."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import chart, chart_keys, errors, open_link, open_page, sketch
from diffusion_core import data, pretrained
from diffusion_core.forward import fixed_noise, q_sample_at
from diffusion_core.latent import load_latent_diffusion
from diffusion_core.schedules import make_schedule

pytestmark = pytest.mark.usefixtures("fresh_caches")
SCRUBBERS = ["latent_encoded", "latent_noising", "latent_trajectory"]


def frames(spec: dict) -> np.ndarray:
    """The PNG frames of a scrubber spec, decoded: uint8 (F, H, W)."""
    return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(f.split(",", 1)[1])))) for f in spec["frames"]])


def test_the_page_shows_the_latent_the_noising_and_a_run():
    at = open_page("latent")
    assert not at.error, errors(at)
    assert all(key in chart_keys(at) for key in SCRUBBERS)
    assert len(at.table) == 2  # cost and quality, side by side
    captions = " ".join(c.value for c in at.caption)
    assert "784 numbers, its latent 196: 4× fewer" in captions
    assert "latent network call costs" in captions
    run = chart(at, "latent_trajectory")
    assert run["labels"][-1] == "end" and len(run["labels"]) == 51  # DDIM-50: 50 steps and the sample


def test_the_noised_pixels_are_q_sample_and_t_0_is_the_clean_digit():
    """The noising scrubber's first panel is q_sample of x_0 at each t; at t = 0 the decoded latent
    is the digit's reconstruction."""
    at = open_page("latent")
    spec = chart(at, "latent_noising")
    x0 = data.load_examples()[0][0]
    x = data.to_model_space(x0[None])[0]
    t = [int(label) for label in spec["labels"]]
    expected = data.to_pixels(q_sample_at(x, t, make_schedule("linear", 1000), fixed_noise(0, x.shape))[:, 0])
    rows = frames(spec)
    gap = (rows.shape[2] - 3 * 28) // 2
    np.testing.assert_array_equal(rows[:, :, :28], expected)
    ld, _, _ = load_latent_diffusion()
    reconstruction = data.to_pixels(ld.decode(ld.encode(x[None]))[0, 0])
    np.testing.assert_array_equal(rows[0, :, 2 * (28 + gap):], reconstruction)


def test_a_link_sets_the_run_and_a_bad_one_is_named():
    at = open_link("latent", seed="4", label="7", guidance="3", steps="20")
    assert not at.error, errors(at)
    assert at.number_input(key="latent_seed").value == 4 and at.selectbox(key="latent_label").value == 7
    assert len(chart(at, "latent_trajectory")["labels"]) == 21
    at = open_link("latent", steps="1", label="eleven")
    assert "`steps` must lie in [2, 1000]" in errors(at) and "`label` must be one of" in errors(at)
    assert "latent_trajectory" in chart_keys(at)  # the page still draws, with its own values


def test_a_bad_upload_is_refused_and_a_good_one_is_used():
    at = open_page("latent")
    at.radio(key="latent_source").set_value("upload").run()
    at.file_uploader(key="latent_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert "Cannot use" in errors(at) and "latent_noising" in chart_keys(at)  # the example digit instead
    at.file_uploader(key="latent_upload").set_value(("seven.jpg", sketch(), "image/jpeg")).run()
    assert not at.error and "made MNIST-like" in " ".join(c.value for c in at.caption)


def test_lecture_mode_tucks_the_controls_away():
    at = open_link("latent", lecture="1")
    assert any("Seed, label" in e.label for e in at.expander)
    assert chart(at, "latent_noising")["scale"] > 1.4


def test_missing_latent_weights_are_a_clear_error(monkeypatch):
    def missing(*args, **kwargs):
        raise pretrained.PretrainedError("model card pretrained/mnist_latent_unet.json not found")
    from diffusion_core import latent

    monkeypatch.setattr(latent, "load_latent_model", missing)
    at = open_page("latent")
    assert "latent diffusion model is not available" in errors(at) and "mnist_latent_unet.json" in errors(at)
    at.switch_page("ui/pages/forward.py").run()  # the other pages keep serving
    assert not at.exception and "forward_scrubber" in chart_keys(at)


def test_the_latent_step_is_cheaper_than_the_pixel_step():
    """The issue's cost target, on the shipped models: ≥ 4× fewer FLOPs a network call."""
    from diffusion_core.speed import forward_flops

    ld, _, _ = load_latent_diffusion()
    pixel, _ = pretrained.load_diffusion_model()
    t, y = torch.tensor([500]), torch.tensor([10])
    latent_flops = forward_flops(ld, torch.zeros(1, *ld.latent_shape), t, y)
    assert forward_flops(pixel, torch.zeros(1, 1, 28, 28), t, y) >= 4 * latent_flops
