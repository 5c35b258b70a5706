"""diffusion_core.figures: valid Plotly specs, how images are shown, thinned curves."""
from __future__ import annotations

import io
import pickle

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from ui import figures


def cloud() -> figures.FrozenFigure:
    points = np.random.default_rng(0).normal(size=(4, 50, 2))
    return figures.point_cloud_scrubber(points, np.linspace(0, 1, 50), list("0123"), [f"frame {k}" for k in range(4)])


@pytest.mark.parametrize("build", [
    cloud,
    lambda: figures.line_chart({"ᾱ": (np.arange(1, 11), np.linspace(1, 0.1, 10))}, "t", "v", marker_x=4),
    lambda: figures.line_chart({"SNR": (np.arange(1, 11), np.logspace(3, -3, 10))}, "t", "v", log_y=True),
])
def test_every_plotly_builder_makes_a_spec_plotly_accepts(build):
    spec = build().to_dict()
    go.Figure(spec)  # full validation: raises on any property Plotly does not know


def test_frozen_figure_pickles_to_the_same_spec():
    fig = cloud()
    again = pickle.loads(pickle.dumps(fig))
    assert isinstance(again, go.Figure) and again.to_dict() == fig.to_dict()


def test_histogram_densities_integrate_to_one():
    values = np.random.default_rng(2).normal(size=(3, 5000)).clip(-3.9, 3.9)
    edges = np.linspace(-4, 4, 41)
    densities = figures.histogram_densities(values, edges)
    np.testing.assert_allclose((densities * np.diff(edges)).sum(axis=1), 1.0)
    assert abs(densities[0].max() - figures.normal_pdf(np.array([0.0]))[0]) < 0.05


def test_animated_gif_loops_through_every_frame():
    frames = np.stack([np.full((28, 28), v, dtype=np.uint8) for v in (0, 100, 200)])
    with Image.open(io.BytesIO(figures.animated_gif(frames))) as gif:
        assert gif.n_frames == 3 and gif.info.get("loop") == 0
        gif.seek(2)
        assert np.asarray(gif.convert("L")).mean() == pytest.approx(200, abs=1)
    with Image.open(io.BytesIO(figures.animated_gif(frames, repeat=False))) as gif:  # the home page's: plays once
        assert gif.n_frames == 3 and "loop" not in gif.info


def _relative_luminance(color: str) -> float:  # WCAG 2.1's definition
    channels = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def _seen_with(color: str, deficiency: str) -> np.ndarray:
    """CIELAB of ``color`` as seen with full protanopia, deuteranopia or tritanopia (Machado et al. 2009)."""
    simulate = {"protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                           [-0.003882, -0.048116, 1.051998]],
                "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                           [-0.011820, 0.042940, 0.968881]],
                "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                           [0.004733, 0.691367, 0.303900]]}[deficiency]
    channels = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.clip(np.array(simulate) @ np.where(channels <= 0.04045, channels / 12.92,
                                                    ((channels + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = np.cbrt(np.maximum(xyz / [0.9505, 1.0, 1.089], 0.008856))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("deficiency", ["protan", "deutan", "tritan"])
def test_chart_colours_stay_apart_for_colour_blind_readers_and_show_on_white(deficiency):
    """WCAG 1.4.11: a curve keeps 3:1 against the white page; and any two curves of a chart stay
    apart (a CIELAB distance over 10) as a reader with a colour-vision deficiency sees them."""
    for color in figures.LINE_COLORS:
        assert 1.05 / (_relative_luminance(color) + 0.05) >= 3.0, color
    for i, a in enumerate(figures.LINE_COLORS):
        for b in figures.LINE_COLORS[i + 1:]:
            assert np.linalg.norm(_seen_with(a, deficiency) - _seen_with(b, deficiency)) > 10, (a, b)
    assert len(set(zip(figures.DIGIT_COLORS, figures.DIGIT_DASHES))) == 10  # every digit class its own line


def test_long_curves_are_thinned_but_ends_and_marker_stay_exact():
    from ui import figures

    x = np.arange(1, 1001)
    y = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    spec = figures.line_chart({"ᾱ": (x, y)}, "t", "ᾱ", marker_x=437).to_dict()
    (line,) = spec["data"]
    assert len(line["x"]) == figures.LINE_POINTS and line["x"][0] == 1 and line["x"][-1] == 1000
    dashed, dot = spec["layout"]["shapes"]  # the marker is shapes: moving it leaves the data as it was
    assert dashed["x0"] == dashed["x1"] == 437
    assert dot["xanchor"] == 437.0 and dot["yanchor"] == pytest.approx(y[436]) and dot["xsizemode"] == "pixel"


def test_a_marker_on_a_log_axis_is_refused():
    with pytest.raises(ValueError, match="linear y axis"):
        figures.line_chart({"SNR": (np.arange(1, 11), np.logspace(3, -3, 10))}, "t", "v", log_y=True, marker_x=4)


def test_a_line_charts_data_revision_follows_its_curves_not_its_marker():
    x = np.arange(1, 11)
    def chart(y, t):
        return figures.line_chart({"ᾱ": (x, y)}, "t", "ᾱ", marker_x=t).to_dict()["layout"]["datarevision"]
    assert chart(np.linspace(1, 0, 10), 3) == chart(np.linspace(1, 0, 10), 7)  # Plotly.react redraws the shapes only
    assert chart(np.linspace(1, 0, 10), 3) != chart(np.linspace(1, 0.1, 10), 3)  # new curves are drawn again


def test_enlarged_grows_the_figure_and_its_text_but_shares_the_frames():
    spec = cloud().to_dict()
    big = figures.enlarged(cloud(), 1.5).to_dict()
    assert big["layout"]["height"] == round(spec["layout"]["height"] * 1.5)
    assert big["layout"]["font"]["size"] == 18
    assert big["layout"]["title"]["font"]["size"] == round(15 * 1.5)
    assert big["frames"] == spec["frames"]
