"""diffusion_core/scrubber_specs.py: the specs the browser scrubber draws (and ui/components/scrubber.py's
nearest frame)."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from diffusion_core.data import to_pixels
from ui import figures
from ui.components import scrubber_specs


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def scrubber(controls: bool = True, frames: int = 6) -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (frames, 2, 28, 28), dtype=np.uint8)
    edges = np.linspace(-4, 4, 9)
    bars = scrubber_specs.Bars(edges, rng.random((frames, 8)), edges, figures.normal_pdf(edges), "hist", "N(0, 1)", 1.0)
    return scrubber_specs.image_scrubber(["a", "b"], images, [str(k) for k in range(frames)],
                                         [f"frame {k}" for k in range(frames)], bars=bars, joiners=["="],
                                         controls=controls)


@pytest.mark.parametrize("shape", [(28, 28), (3, 5), (122, 122)])
def test_png_data_uri_holds_the_exact_pixels(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode(scrubber_specs.png_data_uri(image)), image)


def test_png_data_uri_refuses_colour_images():
    with pytest.raises(ValueError, match="2-D uint8"):
        scrubber_specs.png_data_uri(np.zeros((4, 4, 3), dtype=np.uint8))


def test_scrubber_frames_labels_captions_and_bars_line_up():
    spec = scrubber(frames=6)
    json.dumps(spec)  # the component receives it as JSON
    assert len(spec["frames"]) == len(spec["labels"]) == len(spec["captions"]) == len(spec["bars"]["heights"]) == 6
    assert spec["labels"] == [str(k) for k in range(6)] and spec["captions"][4] == "frame 4"
    assert all(len(h) == 8 for h in spec["bars"]["heights"]) and len(spec["bars"]["edges"]) == 9
    assert spec["controls"] and not scrubber(controls=False)["controls"]
    assert spec["panels_share"] == pytest.approx(2 / scrubber_specs.BARS_WIDTH, abs=1e-4)


def test_scrubber_digest_names_what_is_drawn():
    assert scrubber()["digest"] == scrubber()["digest"]  # the browser keeps what it has
    assert scrubber(frames=5)["digest"] != scrubber()["digest"]
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)
    one = scrubber_specs.image_scrubber(["a"], images, ["0", "1"], ["c", "d"])
    assert scrubber_specs.image_scrubber(["a"], images, ["0", "1"], ["c", "e"])["digest"] != one["digest"]
    assert scrubber_specs.image_scrubber(["b"], images, ["0", "1"], ["c", "d"])["digest"] != one["digest"]  # a title
    images[1, 0, 3, 3] = 1
    assert scrubber_specs.image_scrubber(["a"], images, ["0", "1"], ["c", "d"])["digest"] != one["digest"]


def test_scrubber_alt_text_is_its_titles_without_markup():
    images = np.zeros((1, 2, 28, 28), dtype=np.uint8)
    assert scrubber_specs.image_scrubber(["x<sub>t</sub>", "ε̂"], images, ["0"], [""])["alt"] == "x_t, ε̂"


def test_each_scrubber_frame_is_its_panels_side_by_side_with_the_joiner_between():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 2, 28, 28), dtype=np.uint8)  # the images scrubber() draws
    spec = scrubber()
    gap = scrubber_specs.JOINER_GAP
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
    blend = scrubber_specs.Blend(bases, weights)
    frames = blend.frames()  # what the browser draws: display_pixels of each weighted sum
    assert frames.shape == (5, 2, 28, 28)
    b32 = bases.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(frames[3, 0], to_pixels(0.25 * b32[0] + 0.75 * b32[1]))
    np.testing.assert_array_equal(frames[0, 1], to_pixels(b32[0]))
    spec = scrubber_specs.image_scrubber(["x", "y"], blend, [str(k) for k in range(5)], [""] * 5, joiners=["="])
    json.dumps(spec)
    assert spec["frames"] == [] and spec["row"] == [28, 2 * 28 + scrubber_specs.JOINER_GAP]
    assert spec["blend"]["lefts"] == [0, 28 + scrubber_specs.JOINER_GAP]
    assert np.array(spec["blend"]["weights"]).shape == (5, 2, 2)
    sent = np.frombuffer(base64.b64decode(spec["blend"]["bases"]), dtype="<f4").reshape(2, 28, 28)
    np.testing.assert_array_equal(sent, bases.astype(np.float32))
    other = scrubber_specs.Blend(bases, weights * 0.5)
    other_spec = scrubber_specs.image_scrubber(["x", "y"], other, [str(k) for k in range(5)], [""] * 5)
    assert other_spec["digest"] != spec["digest"]
    with pytest.raises(ValueError, match="weights"):
        scrubber_specs.Blend(bases, weights[..., :1])


def test_scrubber_checks_its_arguments():
    images = np.zeros((3, 1, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels"):
        scrubber_specs.image_scrubber(["a"], images, ["0", "1"], ["c"] * 3)
    with pytest.raises(ValueError, match="active"):
        scrubber_specs.image_scrubber(["a"], images, ["0", "1", "2"], ["c"] * 3, active=3)


def test_curve_scrubber_marks_each_curve_at_each_t_and_checks_its_arguments():
    t = np.arange(1, 601)
    curves = {"a": np.linspace(1, 0, 600), "b<sub>t</sub>": np.linspace(0, 1, 600) ** 2}
    snr = {"s": np.logspace(3.2, -4.5, 600)}
    charts = [scrubber_specs.CurveChart(curves), scrubber_specs.CurveChart(snr, log_y=True, y_title="log", height=200)]
    fields = [[str(v), f"{v / 2:g}"] for v in t]
    spec = scrubber_specs.curve_scrubber(charts, t, "t", "{0}: {1}", fields, active=5)
    json.dumps(spec)
    assert spec["labels"][5] == "6" and spec["frames"] == [] and spec["alt"] == "a, b_t, s"
    linear, log = spec["lines"]["charts"]
    assert linear["marks"][300] == pytest.approx([curves["a"][300], curves["b<sub>t</sub>"][300]], abs=1e-5)
    assert len(linear["series"][0]["points"]) == figures.LINE_POINTS  # thinned, both ends kept
    assert linear["series"][1]["points"][-1] == [600, 1.0] and spec["lines"]["x"] == [1, 600]
    assert linear["y"] == [0.0, 1.0] and not linear["log_y"] and linear["h"] == 300
    # the log chart carries log10 of its curve, on whole decades around it, in a colour of its own
    assert log["log_y"] and log["y"] == [-5, 4] and log["h"] == 200 and log["y_title"] == "log"
    assert log["marks"][0] == [3.2] and log["marks"][599] == [-4.5] and log["series"][0]["points"][-1] == [600, -4.5]
    assert log["series"][0]["color"] not in {s["color"] for s in linear["series"]}
    assert scrubber_specs.curve_scrubber(charts, t, "t", "{0}: {1}", fields)["digest"] == spec["digest"]  # not `active`
    assert scrubber_specs.curve_scrubber(charts, t, "t", "{0} = {1}", fields)["digest"] != spec["digest"]
    with pytest.raises(ValueError, match="fields"):
        scrubber_specs.curve_scrubber(charts, t, "t", "{0}", fields[:-1])
    with pytest.raises(ValueError, match="active"):
        scrubber_specs.curve_scrubber(charts, t, "t", "{0}", fields, active=600)
    with pytest.raises(ValueError, match="chart"):
        scrubber_specs.curve_scrubber([], t, "t", "{0}", fields)
    assert linear["alt"] == "a, b_t" and log["alt"] == "s"  # each chart's own, for screen readers
    # On a log axis a value that is not positive (an SNR whose ᾱ_t underflowed to 0) has no point and no dot
    fading_chart = scrubber_specs.CurveChart({"z": np.linspace(1, 0, 600)}, log_y=True)
    (fading,) = scrubber_specs.curve_scrubber([fading_chart], t, "t", "{0}", fields)["lines"]["charts"]
    assert fading["marks"][599] == [None] and fading["marks"][0] == [0.0] and fading["y"] == [-3, 0]
    assert fading["series"][0]["points"][-1][0] < 600
    flat_chart = scrubber_specs.CurveChart({"f": np.full(600, 100.0)}, log_y=True)
    flat = scrubber_specs.curve_scrubber([flat_chart], t, "t", "{0}", fields)
    assert flat["lines"]["charts"][0]["y"] == [2, 3]  # never an empty axis
    with pytest.raises(ValueError, match="positive value"):
        zeros = scrubber_specs.CurveChart({"z": np.zeros(600)}, log_y=True)
        scrubber_specs.curve_scrubber([zeros], t, "t", "{0}", fields)


def test_image_row_is_one_image_with_the_panels_side_by_side_and_a_title_over_each():
    images = np.stack([np.full((28, 28), v, dtype=np.uint8) for v in (0, 100, 200)])
    spec = scrubber_specs.image_row(images, ["a", "b", "c"])
    (frame,) = spec["frames"]  # a scrubber of one frame: drawn without a slider
    row = decode(frame)
    gap = scrubber_specs.ROW_GAP
    assert row.shape == (28, 3 * 28 + 2 * gap)
    assert [int(row[0, p * (28 + gap)]) for p in range(3)] == [0, 100, 200]
    assert (row[:, 28:28 + gap] == 255).all()  # white between panels
    assert [t["text"] for t in spec["titles"]] == ["a", "b", "c"] and not spec["joiners"]
    assert [t["x"] for t in spec["titles"]] == [round((14 + p * (28 + gap)) / row.shape[1], 5) for p in range(3)]
    with pytest.raises(ValueError, match="need 3 titles"):
        scrubber_specs.image_row(images, ["a"])


def test_a_scrubber_opens_at_the_frame_asked_for_or_the_nearest_step():
    from ui.components.scrubber import nearest_frame

    assert nearest_frame(["0", "10", "20"], "10") == 1
    assert nearest_frame(["0", "10", "20"], "4") == 0 and nearest_frame(["0", "10", "20"], "16") == 2
    assert nearest_frame(["0", "10", "20"], "15") == 1  # a tie: the earlier step
    assert nearest_frame(["1", "2", "end"], "end") == 2 and nearest_frame(["1", "2", "end"], "99") == 1
    assert nearest_frame(["1", "2", "end"], "abc") == 2  # not a step: the last frame
    assert nearest_frame(["0", "end"], "7") == 0  # step 0 counts
