"""diffusion_core.figures: valid Plotly specs, exact PNG pixels, and the image scrubber's spec."""
from __future__ import annotations

import base64
import io
import json
import pickle

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from diffusion_core import figures


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def scrubber(controls: bool = True, frames: int = 6) -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (frames, 2, 28, 28), dtype=np.uint8)
    edges = np.linspace(-4, 4, 9)
    bars = figures.Bars(edges, rng.random((frames, 8)), edges, figures.normal_pdf(edges), "hist", "N(0, 1)", 1.0)
    return figures.image_scrubber(["a", "b"], images, [str(k) for k in range(frames)],
                                  [f"frame {k}" for k in range(frames)], bars=bars, joiners=["="], controls=controls)


def cloud() -> figures.FrozenFigure:
    points = np.random.default_rng(0).normal(size=(4, 50, 2))
    return figures.point_cloud_scrubber(points, np.linspace(0, 1, 50), list("0123"), [f"frame {k}" for k in range(4)])


@pytest.mark.parametrize("shape", [(28, 28), (3, 5), (122, 122)])
def test_png_data_uri_holds_the_exact_pixels(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode(figures.png_data_uri(image)), image)


def test_png_data_uri_refuses_colour_images():
    with pytest.raises(ValueError, match="2-D uint8"):
        figures.png_data_uri(np.zeros((4, 4, 3), dtype=np.uint8))


@pytest.mark.parametrize("build", [
    cloud,
    lambda: figures.line_chart({"ᾱ": (np.arange(1, 11), np.linspace(1, 0.1, 10))}, "t", "v", marker_x=4),
    lambda: figures.line_chart({"SNR": (np.arange(1, 11), np.logspace(3, -3, 10))}, "t", "v", log_y=True),
])
def test_every_plotly_builder_makes_a_spec_plotly_accepts(build):
    spec = build().to_dict()
    go.Figure(spec)  # full validation: raises on any property Plotly does not know


def test_scrubber_frames_labels_captions_and_bars_line_up():
    spec = scrubber(frames=6)
    json.dumps(spec)  # the component receives it as JSON
    assert len(spec["frames"]) == len(spec["labels"]) == len(spec["captions"]) == len(spec["bars"]["heights"]) == 6
    assert spec["labels"] == [str(k) for k in range(6)] and spec["captions"][4] == "frame 4"
    assert all(len(h) == 8 for h in spec["bars"]["heights"]) and len(spec["bars"]["edges"]) == 9
    assert spec["controls"] and not scrubber(controls=False)["controls"]
    assert spec["panels_share"] == pytest.approx(2 / figures.BARS_WIDTH, abs=1e-4)


def test_scrubber_digest_names_what_is_drawn():
    assert scrubber()["digest"] == scrubber()["digest"]  # the browser keeps what it has
    assert scrubber(frames=5)["digest"] != scrubber()["digest"]
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)
    one = figures.image_scrubber(["a"], images, ["0", "1"], ["c", "d"])
    assert figures.image_scrubber(["a"], images, ["0", "1"], ["c", "e"])["digest"] != one["digest"]
    assert figures.image_scrubber(["b"], images, ["0", "1"], ["c", "d"])["digest"] != one["digest"]  # a title
    images[1, 0, 3, 3] = 1
    assert figures.image_scrubber(["a"], images, ["0", "1"], ["c", "d"])["digest"] != one["digest"]


def test_scrubber_alt_text_is_its_titles_without_markup():
    images = np.zeros((1, 2, 28, 28), dtype=np.uint8)
    assert figures.image_scrubber(["x<sub>t</sub>", "ε̂"], images, ["0"], [""])["alt"] == "xt, ε̂"


def test_each_scrubber_frame_is_its_panels_side_by_side_with_the_joiner_between():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 2, 28, 28), dtype=np.uint8)  # the images scrubber() draws
    spec = scrubber()
    gap = figures.JOINER_GAP
    width = 2 * 28 + gap
    for k, frame in enumerate(spec["frames"]):
        row = decode(frame)
        np.testing.assert_array_equal(row, np.hstack([images[k, 0], np.full((28, gap), 255, np.uint8), images[k, 1]]))
    assert spec["row"] == [28, width]
    # titles over the panels' centres, the joiner in the middle of the gap, as fractions of the row
    assert [(t["text"], t["x"]) for t in spec["titles"]] == [("a", round(14 / width, 5)),
                                                            ("b", round((28 + gap + 14) / width, 5))]
    assert [(j["text"], j["x"]) for j in spec["joiners"]] == [("=", round((28 + gap / 2) / width, 5))]


def test_a_blend_scrubber_sends_its_bases_and_weights_not_frames():
    rng = np.random.default_rng(0)
    bases = rng.normal(size=(2, 28, 28))
    weights = np.stack([np.stack([[a, 1 - a], [a, 0.0]]) for a in np.linspace(1, 0, 5)])  # (5 frames, 2 panels, 2)
    blend = figures.Blend(bases, weights)
    frames = blend.frames()  # what the browser draws: display_pixels of each weighted sum
    assert frames.shape == (5, 2, 28, 28)
    b32 = bases.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(frames[3, 0], figures.display_pixels(0.25 * b32[0] + 0.75 * b32[1]))
    np.testing.assert_array_equal(frames[0, 1], figures.display_pixels(b32[0]))
    spec = figures.image_scrubber(["x", "y"], blend, [str(k) for k in range(5)], [""] * 5, joiners=["="])
    json.dumps(spec)
    assert spec["frames"] == [] and spec["row"] == [28, 2 * 28 + figures.JOINER_GAP]
    assert spec["blend"]["gap"] == figures.JOINER_GAP and np.array(spec["blend"]["weights"]).shape == (5, 2, 2)
    sent = np.frombuffer(base64.b64decode(spec["blend"]["bases"]), dtype="<f4").reshape(2, 28, 28)
    np.testing.assert_array_equal(sent, bases.astype(np.float32))
    other = figures.Blend(bases, weights * 0.5)
    assert figures.image_scrubber(["x", "y"], other, [str(k) for k in range(5)], [""] * 5)["digest"] != spec["digest"]
    with pytest.raises(ValueError, match="weights"):
        figures.Blend(bases, weights[..., :1])


def test_scrubber_checks_its_arguments():
    images = np.zeros((3, 1, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels"):
        figures.image_scrubber(["a"], images, ["0", "1"], ["c"] * 3)
    with pytest.raises(ValueError, match="active"):
        figures.image_scrubber(["a"], images, ["0", "1", "2"], ["c"] * 3, active=3)


def test_curve_scrubber_marks_each_curve_at_each_t_and_checks_its_arguments():
    t = np.arange(1, 601)
    curves = {"a": np.linspace(1, 0, 600), "b<sub>t</sub>": np.linspace(0, 1, 600) ** 2}
    snr = {"s": np.logspace(3.2, -4.5, 600)}
    charts = [figures.CurveChart(curves), figures.CurveChart(snr, log_y=True, y_title="log", height=200)]
    fields = [[str(v), f"{v / 2:g}"] for v in t]
    spec = figures.curve_scrubber(charts, t, "t", "{0}: {1}", fields, active=5)
    json.dumps(spec)
    assert spec["labels"][5] == "6" and spec["frames"] == [] and spec["alt"] == "a, bt, s"
    linear, log = spec["lines"]["charts"]
    assert linear["marks"][300] == pytest.approx([curves["a"][300], curves["b<sub>t</sub>"][300]], abs=1e-5)
    assert len(linear["series"][0]["points"]) == figures.LINE_POINTS  # thinned, both ends kept
    assert linear["series"][1]["points"][-1] == [600, 1.0] and spec["lines"]["x"] == [1, 600]
    assert linear["y"] == [0.0, 1.0] and not linear["log_y"] and linear["h"] == 300
    # the log chart carries log10 of its curve, on whole decades around it, in a colour of its own
    assert log["log_y"] and log["y"] == [-5, 4] and log["h"] == 200 and log["y_title"] == "log"
    assert log["marks"][0] == [3.2] and log["marks"][599] == [-4.5] and log["series"][0]["points"][-1] == [600, -4.5]
    assert log["series"][0]["color"] not in {s["color"] for s in linear["series"]}
    assert figures.curve_scrubber(charts, t, "t", "{0}: {1}", fields)["digest"] == spec["digest"]  # not `active`
    assert figures.curve_scrubber(charts, t, "t", "{0} = {1}", fields)["digest"] != spec["digest"]
    with pytest.raises(ValueError, match="fields"):
        figures.curve_scrubber(charts, t, "t", "{0}", fields[:-1])
    with pytest.raises(ValueError, match="active"):
        figures.curve_scrubber(charts, t, "t", "{0}", fields, active=600)
    with pytest.raises(ValueError, match="chart"):
        figures.curve_scrubber([], t, "t", "{0}", fields)
    assert linear["alt"] == "a, bt" and log["alt"] == "s"  # each chart's own, for screen readers
    # On a log axis a value that is not positive (an SNR whose ᾱ_t underflowed to 0) has no point and no dot
    (fading,) = figures.curve_scrubber([figures.CurveChart({"z": np.linspace(1, 0, 600)}, log_y=True)], t, "t",
                                       "{0}", fields)["lines"]["charts"]
    assert fading["marks"][599] == [None] and fading["marks"][0] == [0.0] and fading["y"] == [-3, 0]
    assert fading["series"][0]["points"][-1][0] < 600
    flat = figures.curve_scrubber([figures.CurveChart({"f": np.full(600, 100.0)}, log_y=True)], t, "t", "{0}", fields)
    assert flat["lines"]["charts"][0]["y"] == [2, 3]  # never an empty axis
    with pytest.raises(ValueError, match="positive value"):
        figures.curve_scrubber([figures.CurveChart({"z": np.zeros(600)}, log_y=True)], t, "t", "{0}", fields)


def test_frozen_figure_pickles_to_the_same_spec():
    fig = cloud()
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
    chart = lambda y, t: figures.line_chart({"ᾱ": (x, y)}, "t", "ᾱ", marker_x=t).to_dict()["layout"]["datarevision"]
    assert chart(np.linspace(1, 0, 10), 3) == chart(np.linspace(1, 0, 10), 7)  # Plotly.react redraws the shapes only
    assert chart(np.linspace(1, 0, 10), 3) != chart(np.linspace(1, 0.1, 10), 3)  # new curves are drawn again


def test_image_row_is_one_image_with_the_panels_side_by_side_and_a_title_over_each():
    images = np.stack([np.full((28, 28), v, dtype=np.uint8) for v in (0, 100, 200)])
    spec = figures.image_row(images, ["a", "b", "c"])
    (frame,) = spec["frames"]  # a scrubber of one frame: drawn without a slider
    row = decode(frame)
    gap = figures.ROW_GAP
    assert row.shape == (28, 3 * 28 + 2 * gap)
    assert [int(row[0, p * (28 + gap)]) for p in range(3)] == [0, 100, 200]
    assert (row[:, 28:28 + gap] == 255).all()  # white between panels
    assert [t["text"] for t in spec["titles"]] == ["a", "b", "c"] and not spec["joiners"]
    assert [t["x"] for t in spec["titles"]] == [round((14 + p * (28 + gap)) / row.shape[1], 5) for p in range(3)]
    with pytest.raises(ValueError, match="need 3 titles"):
        figures.image_row(images, ["a"])


def test_enlarged_grows_the_figure_and_its_text_but_shares_the_frames():
    spec = cloud().to_dict()
    big = figures.enlarged(cloud(), 1.5).to_dict()
    assert big["layout"]["height"] == round(spec["layout"]["height"] * 1.5)
    assert big["layout"]["font"]["size"] == 18
    assert big["layout"]["title"]["font"]["size"] == round(15 * 1.5)
    assert big["frames"] == spec["frames"]


def test_a_scrubber_opens_at_the_frame_asked_for_or_the_nearest_step():
    from pages.scrubber import nearest_frame

    assert nearest_frame(["0", "10", "20"], "10") == 1
    assert nearest_frame(["0", "10", "20"], "4") == 0 and nearest_frame(["0", "10", "20"], "16") == 2
    assert nearest_frame(["0", "10", "20"], "15") == 1  # a tie: the earlier step
    assert nearest_frame(["1", "2", "end"], "end") == 2 and nearest_frame(["1", "2", "end"], "99") == 1
    assert nearest_frame(["1", "2", "end"], "abc") == 2  # not a step: the last frame
    assert nearest_frame(["0", "end"], "7") == 0  # step 0 counts
