"""diffusion_core.figures: valid Plotly specs, exact PNG pixels, and the client-side scrubber's wiring."""
from __future__ import annotations

import base64
import io
import pickle

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from diffusion_core import figures


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def scrubber(controls: bool = True, frames: int = 6) -> figures.FrozenFigure:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (frames, 2, 28, 28), dtype=np.uint8)
    edges = np.linspace(-4, 4, 9)
    bars = figures.Bars(edges, rng.random((frames, 8)), edges, figures.normal_pdf(edges), "hist", "N(0, 1)", 1.0)
    return figures.image_scrubber(["a", "b"], images, [str(k) for k in range(frames)],
                                  [f"frame {k}" for k in range(frames)], bars=bars, joiners=["="], controls=controls)


@pytest.mark.parametrize("shape", [(28, 28), (3, 5), (122, 122)])
def test_png_data_uri_holds_the_exact_pixels(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode(figures.png_data_uri(image)), image)


def test_png_data_uri_refuses_colour_images():
    with pytest.raises(ValueError, match="2-D uint8"):
        figures.png_data_uri(np.zeros((4, 4, 3), dtype=np.uint8))


@pytest.mark.parametrize("build", [
    lambda: scrubber(),
    lambda: scrubber(controls=False),
    lambda: figures.image_row(np.zeros((3, 28, 28), dtype=np.uint8), ["t = 0", "t = 1", "t = 2"]),
    lambda: figures.line_chart({"ᾱ": (np.arange(1, 11), np.linspace(1, 0.1, 10))}, "t", "v", marker_x=4),
    lambda: figures.line_chart({"SNR": (np.arange(1, 11), np.logspace(3, -3, 10))}, "t", "v", log_y=True),
])
def test_every_builder_makes_a_spec_plotly_accepts(build):
    spec = build().to_dict()
    go.Figure(spec)  # full validation: raises on any property Plotly does not know


def test_scrubber_frames_slider_steps_and_step_buttons_line_up():
    spec = scrubber(frames=6).to_dict()
    steps = spec["layout"]["sliders"][0]["steps"]
    assert [f["name"] for f in spec["frames"]] == [s["args"][0][0] for s in steps] == [str(k) for k in range(6)]
    assert all(s["method"] == "animate" and s["args"][1]["frame"]["duration"] == 0 for s in steps)
    for k, frame in enumerate(spec["frames"]):
        back, play, pause, forward = frame["layout"]["updatemenus"][0]["buttons"]
        assert (back["args"][0], forward["args"][0]) == ([str(max(k - 1, 0))], [str(min(k + 1, 5))])
        assert frame["layout"]["title"]["text"] == f"frame {k}"
        assert frame["traces"] == [0, 1]  # the panels' row and the bars; the reference curve stays
    assert scrubber(controls=False).to_dict()["frames"][0]["layout"].keys() == {"title"}


def test_each_scrubber_frame_is_its_panels_side_by_side_with_the_joiner_between():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 2, 28, 28), dtype=np.uint8)  # the images scrubber() draws
    spec = scrubber().to_dict()
    gap = figures.JOINER_GAP
    for k, frame in enumerate(spec["frames"]):
        row = decode(frame["data"][0]["source"])
        np.testing.assert_array_equal(row, np.hstack([images[k, 0], np.full((28, gap), 255, np.uint8), images[k, 1]]))
    texts = {a["text"]: a["x"] for a in spec["layout"]["annotations"] if a.get("xref") == "x"}
    assert texts == {"a": 13.5, "b": 13.5 + 28 + gap, "<b>=</b>": 13.5 + (28 + gap) / 2}


def test_scrubber_checks_its_arguments():
    images = np.zeros((3, 1, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels"):
        figures.image_scrubber(["a"], images, ["0", "1"], ["c"] * 3)
    with pytest.raises(ValueError, match="active"):
        figures.image_scrubber(["a"], images, ["0", "1", "2"], ["c"] * 3, active=3)


def test_frozen_figure_pickles_to_the_same_spec():
    fig = scrubber()
    again = pickle.loads(pickle.dumps(fig))
    assert isinstance(again, go.Figure) and again.to_dict() == fig.to_dict()


def test_display_pixels_maps_the_data_range_to_black_and_white():
    np.testing.assert_array_equal(figures.display_pixels(np.array([-3.0, -1.0, 0.0, 1.0, 3.0])),
                                  [0, 0, 128, 255, 255])
    np.testing.assert_array_equal(figures.display_pixels(np.array([-2.0, 2.0]), limit=2.0), [0, 255])


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
    from diffusion_core import figures

    x = np.arange(1, 1001)
    y = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    spec = figures.line_chart({"ᾱ": (x, y)}, "t", "ᾱ", marker_x=437).to_dict()
    line, marker = spec["data"]
    assert len(line["x"]) == figures.LINE_POINTS and line["x"][0] == 1 and line["x"][-1] == 1000
    assert marker["x"] == [437.0] and marker["y"] == [pytest.approx(y[436])]


def test_image_row_is_one_image_with_the_panels_side_by_side_and_a_title_over_each():
    images = np.stack([np.full((28, 28), v, dtype=np.uint8) for v in (0, 100, 200)])
    spec = figures.image_row(images, ["a", "b", "c"]).to_dict()
    (trace,) = spec["data"]
    row = np.asarray(Image.open(io.BytesIO(base64.b64decode(trace["source"].split(",", 1)[1]))))
    gap = figures.ROW_GAP
    assert row.shape == (28, 3 * 28 + 2 * gap)
    assert [int(row[0, p * (28 + gap)]) for p in range(3)] == [0, 100, 200]
    assert (row[:, 28:28 + gap] == 255).all()  # white between panels
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["a", "b", "c"]
    assert [a["x"] for a in spec["layout"]["annotations"]] == [13.5, 13.5 + 28 + gap, 13.5 + 2 * (28 + gap)]
    with pytest.raises(ValueError, match="need 3 titles"):
        figures.image_row(images, ["a"])


def test_enlarged_grows_the_figure_and_every_text_but_shares_the_frames():
    spec = scrubber().to_dict()
    big = figures.enlarged(scrubber(), 1.5).to_dict()
    assert big["layout"]["height"] == round(spec["layout"]["height"] * 1.5)
    assert big["layout"]["font"]["size"] == 18
    assert big["layout"]["title"]["font"]["size"] == round(15 * 1.5)
    assert [a["font"]["size"] for a in big["layout"]["annotations"]] == \
        [round(a.get("font", {}).get("size", 12) * 1.5) for a in spec["layout"]["annotations"]]
    assert big["frames"] == spec["frames"]
