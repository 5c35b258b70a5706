"""The distributions page runs, and moving its controls changes what it shows."""
import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "ui" / "pages" / "distributions.py")
HEATMAP, MIXTURE_CHART, FORWARD_CLOUD, STATIONARITY, REVERSE_CLOUD, LOSS = range(6)  # order on the page


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.json) for chart in at.get("bidi_component")]  # ui/components/chart.py's, in order


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


@pytest.fixture
def app():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    torch.set_num_threads(before)


def test_page_shows_four_sections_and_a_browser_scrubber_of_modest_size(app):
    assert [s.value for s in app.header][:4] == [
        "1 · A mixture of Gaussians melts into N(0, 1)", "2 · A 2-D point cloud melts into N(0, I)",
        "3 · The prior does not move", "4 · A tiny denoiser carries the Gaussian back"]
    assert "cosine, T = 100" in captions(app)
    specs = charts(app)
    assert len(specs) == 4  # no reverse run before the denoiser is trained
    cloud = specs[FORWARD_CLOUD]
    steps = cloud["layout"]["sliders"][0]["steps"]
    assert len(steps) == len(cloud["frames"]) == 41
    assert all(s["method"] == "animate" and s["args"][1]["frame"]["duration"] == 0 for s in steps)
    assert len(app.get("bidi_component")[FORWARD_CLOUD].proto.json) < 400_000
    assert app.button(key="dist_train").label.startswith("Train on the moons")


def test_t_slider_moves_the_curve_and_the_marker(app):
    before = charts(app)[MIXTURE_CHART]["data"]
    app.slider(key="dist_t").set_value(60).run()
    after = charts(app)
    assert after[HEATMAP]["layout"]["shapes"][0]["x0"] == 60
    assert after[MIXTURE_CHART]["data"][1]["y"] != before[1]["y"]  # the closed-form q(x_t)
    assert "t = 60, ᾱₜ = " in captions(app)


def test_data_schedule_and_kernel_controls_change_the_figures(app):
    moons = charts(app)[FORWARD_CLOUD]["data"][0]["x"]
    app.selectbox(key="dist_data").select("spiral").run()
    assert charts(app)[FORWARD_CLOUD]["data"][0]["x"] != moons
    assert app.button(key="dist_train").label.startswith("Train on the spiral")

    text = captions(app)
    app.slider(key="dist_kernel_steps").set_value(3).run()
    assert "After k = 3 steps" in captions(app) and captions(app) != text
    std = float(re.search(r"standard deviation (\d\.\d+)", captions(app)).group(1))
    assert abs(std - 1.0) < 0.03  # the prior stays N(0, 1) at every k

    app.slider(key="dist_t").set_value(90).run()
    app.selectbox(key="dist_schedule").select("linear").run()
    app.select_slider(key="dist_T").set_value(50).run()
    assert not app.exception
    assert "linear, T = 50" in captions(app) and app.slider(key="dist_t").value == 50  # clamped to the new T
    assert charts(app)[HEATMAP]["data"][0]["x"][-1] == 50


def test_training_then_the_reverse_run_lands_on_the_data(app):
    app.select_slider(key="dist_train_steps").set_value(250).run()
    app.button(key="dist_train").click().run()
    assert not app.exception, [e.value for e in app.exception]
    specs = charts(app)
    assert len(specs) == 6
    for spec in specs:
        go.Figure(spec)  # full validation: raises on any property Plotly does not know
    reverse = specs[REVERSE_CLOUD]
    assert len(reverse["frames"]) == 41 and reverse["layout"]["sliders"][0]["steps"][-1]["label"] == "0"
    match = re.search(r"([\d.]+) for the Gaussian x_T, ([\d.]+) for the samples", captions(app))
    prior, samples = float(match.group(1)), float(match.group(2))
    assert samples < 0.3 * prior

    app.number_input(key="dist_seed").set_value(1).run()  # a new draw, the same trained model
    assert not [b for b in app.button if b.key == "dist_train"]
    assert charts(app)[REVERSE_CLOUD]["data"][1]["x"] != reverse["data"][1]["x"]
