"""Figures for slides: every builder saves as PNG, SVG and PDF; the forward strip shows exactly the
core's x_t; captions name the settings; bad values are refused; the command line writes the files."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import open_page
from diffusion_core import data, slides, slides_toy
from diffusion_core.__main__ import main
from diffusion_core.forward import fixed_noise, q_sample_at
from diffusion_core.schedules import SCHEDULE_NAMES, ScheduleSpec

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
X0 = data.load_examples()[0][0]  # uint8 (28, 28)
RNG = np.random.default_rng(0)
DIGITS = RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8)


def _builders():
    spec = ScheduleSpec("cosine", 200)
    clouds = [RNG.standard_normal((50, 2)) for _ in range(2)]
    return {
        "forward": lambda: slides.forward_strip(X0, spec, [0, 20, 200], seed=3),
        "schedules": lambda: slides.schedule_curves({n: ScheduleSpec(n, 200) for n in SCHEDULE_NAMES}, "beta"),
        "alpha_bar": lambda: slides.alpha_bar_curves(spec, 50),
        "reverse": lambda: slides.trajectory_strip(DIGITS, [1000, 500, 100, 0], "ddim, 50 steps, seed 4"),
        "samples": lambda: slides.sample_grid(DIGITS, "ddim, 50 steps, seed 4"),
        "restore": lambda: slides.restore_rows(X0, [(100, DIGITS[:1], DIGITS[1:3])], "DDIM, 50 steps, seed 4"),
        "latent": lambda: slides.latent_row(DIGITS[:3], 250, "seed 4"),
        "distributions": lambda: slides_toy.cloud_strip(RNG.standard_normal((3, 50, 2)), RNG.random(50), [0, 5, 10],
                                                        "moons, seed 4"),
        "two_ways": lambda: slides_toy.two_clouds({"SDE": clouds[0], "ODE": clouds[1]}, "ring, seed 4", clouds[0]),
        "flow_matching": lambda: slides_toy.distance_curves([1, 2, 4], {"DDPM": [0.3, 0.2, 0.1]}, 0.01, "seed 4"),
        "guidance": lambda: slides_toy.guidance_vectors((0.1, -0.2), np.array([0.5, 0.1]), np.array([-0.2, 0.4]),
                                                        3.0, clouds, "class y = 1, t = 30"),
    }


@pytest.mark.parametrize("name", list(_builders()))
def test_every_view_saves_as_png_svg_and_pdf_with_its_settings(name):
    figure = _builders()[name]()
    for fmt, magic in MAGIC.items():
        assert slides.save(figure, fmt).startswith(magic), (name, fmt)
    caption = slides.caption_of(figure)
    assert ("seed" in caption or "T = 200" in caption or "t = 30" in caption), caption
    if name == "guidance":
        assert "w = 3" in caption


def test_the_forward_strip_shows_the_cores_x_t():
    spec, t = ScheduleSpec("linear", 1000), [0, 50, 250, 1000]
    figure = slides.forward_strip(X0, spec, t, seed=7)
    x = data.to_model_space(X0[None])[0]
    expected = data.to_pixels(q_sample_at(x, t, spec.build(), fixed_noise(7, x.shape))[:, 0])
    shown = slides.panel_images(figure)
    assert len(shown) == len(t)
    np.testing.assert_array_equal(np.stack(shown), expected)
    np.testing.assert_array_equal(shown[0], X0)  # t = 0 is x_0 itself
    assert [ax.get_title() for ax in figure.axes] == [f"t = {v}" for v in t]
    caption = slides.caption_of(figure)
    assert spec.label() in caption and "seed 7" in caption


def test_the_schedule_curves_plot_the_schedules_values():
    figure = slides.schedule_curves({"cosine": ScheduleSpec("cosine", 100)}, "alpha_bar")
    line = figure.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), ScheduleSpec("cosine", 100).build().alphas_cumprod.numpy())
    assert line.get_xdata()[0] == 1 and line.get_xdata()[-1] == 100  # the paper's t
    assert "cosine, s = 0.008, T = 100" in slides.caption_of(figure)


def test_states_near_picks_the_recorded_state_of_each_t():
    state_t = np.array([1000, 800, 600, 400, 200, 0])
    assert slides.states_near(state_t, [1000, 590, 0]) == [0, 2, 5]
    assert slides.states_near(state_t, count=3) == [0, 2, 5]  # t = 1000, 500 (nearest: 600), 0


@pytest.mark.parametrize("call, named", [
    (lambda: slides.save(slides.sample_grid(DIGITS, "x"), "jpg"), "'jpg'"),
    (lambda: slides.schedule_curves({"linear": ScheduleSpec()}, "sigma"), "'sigma'"),
    (lambda: slides.schedule_curves({}, "beta"), "specs"),
    (lambda: slides.forward_strip(X0, ScheduleSpec("linear", 100), [0, 101], seed=0), "[0, 101]"),
    (lambda: slides.alpha_bar_curves(ScheduleSpec("linear", 100), 500), "500"),
    (lambda: slides.trajectory_strip(DIGITS, [3, 2], "x"), "one t per frame"),
    (lambda: slides.image_rows([DIGITS.astype(float)], [["a"] * 4], "x"), "uint8"),
    (lambda: slides_toy.two_clouds({"SDE": np.zeros((5, 3))}, "x"), "(N, 2)"),
    (lambda: slides_toy.distance_curves([1, 2], {"DDPM": [0.1]}, None, "x"), "DDPM"),
])
def test_bad_values_are_refused_by_name(call, named):
    with pytest.raises(ValueError) as error:
        call()
    assert named in str(error.value)


@pytest.mark.parametrize("what, extra", [("forward", ["--t", "0,10,100", "--T", "100", "--seed", "2"]),
                                         ("schedules", ["--curve", "log_snr"]),
                                         ("reverse", ["--steps", "4", "--t", "1000,500,0"]),
                                         ("samples", ["--steps", "2", "--n", "4", "--label", "3"])])
def test_the_command_line_writes_each_figure(what, extra, tmp_path, stand_in_model, capsys):
    for fmt in ("png", "pdf") if what == "forward" else ("svg",):
        out = tmp_path / f"{what}.{fmt}"
        assert main(["figure", what, "--out", str(out), *extra]) == 0
        assert out.read_bytes().startswith(MAGIC[fmt])
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("page", ["home", "alpha_bar", "forward"])
def test_the_page_offers_png_svg_and_pdf_of_its_view(page):
    at = open_page(page)
    buttons = [b for b in at.get("download_button") if "_slide_" in b.proto.id]
    assert [b.proto.label for b in buttons] == ["PNG", "SVG", "PDF"]


def test_the_page_download_draws_the_figure_once_per_setting():
    from ui import slides as ui_slides

    calls = []

    def build():
        calls.append(1)
        return slides.sample_grid(DIGITS, "seed 9")

    first = ui_slides.rendered("test", "seed 9", "png", None, build)
    second = ui_slides.rendered("test", "seed 9", "png", None, build)
    assert first == second and first.startswith(MAGIC["png"]) and len(calls) == 1
