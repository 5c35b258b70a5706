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
