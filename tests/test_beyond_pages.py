"""The pages beyond DDPM (two ways back, flow matching, guidance geometry) run, answer their controls,
open from a shared link, and refuse bad input with a message."""
import json
import re

import plotly.graph_objects as go
import pytest
import torch

from conftest import errors, open_link
from diffusion_core import toy, toy_score
from ui import links


@pytest.fixture(autouse=True)
def one_thread(fresh_caches):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    yield
    torch.set_num_threads(before)


def figure(at, key: str) -> dict:
    for element in at.get("bidi_component"):
        if element.proto.id.split("-", 2)[-1] == key:
            return json.loads(element.proto.json)
    raise KeyError(f"no chart {key!r} on the page")


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def scrubbed_in_the_browser(spec: dict, count: int) -> None:
    """Every frame is reached by the figure's own slider (Plotly animate, no rerun), and Plotly accepts it."""
    steps = spec["layout"]["sliders"][0]["steps"]
    assert len(steps) == len(spec["frames"]) == count
    assert all(s["method"] == "animate" and s["args"][1]["frame"]["duration"] == 0 for s in steps)
    go.Figure({key: value for key, value in spec.items() if key in ("data", "layout", "frames")})


def test_links_know_the_core_names():
    assert links.MIXTURE_NAMES == toy_score.MIXTURE_NAMES and links.TOY_DATA_NAMES == toy.DATA_NAMES


def test_two_ways_page_draws_the_field_the_two_ways_and_trains_on_demand():
    at = open_link("two_ways")
    assert [s.value for s in at.header] == ["1 · The exact score of q(xₜ)", "2 · Two ways back from the same "
                                               "start points", "3 · The tiny denoiser's score beside the exact one"]
    field, paths = figure(at, "ways_field"), figure(at, "ways_paths")
    scrubbed_in_the_browser(field, 21)
    scrubbed_in_the_browser(paths, 26)
    assert paths["layout"]["sliders"][0]["steps"][-1]["label"] == "0"
    distances = re.findall(r"SDE ([\d.]+), ODE ([\d.]+)", paths["frames"][-1]["layout"]["title"]["text"])[0]
    assert all(float(d) < 0.1 for d in distances)  # both land on q(x_0)
    assert len(json.dumps(paths)) < 600_000 and len(json.dumps(field)) < 600_000
    assert at.button(key="ways_train").label == "Train on the ring (1000 steps)"

    at.selectbox(key="ways_data").select("uneven").run()
    assert figure(at, "ways_field")["data"][0]["z"] != field["data"][0]["z"]  # the frame shown, t = 10
    at.select_slider(key="ways_train_steps").set_value(250).run()
    at.button(key="ways_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    learned = figure(at, "ways_learned")
    scrubbed_in_the_browser(learned, 21)
    dense, empty = map(float, re.findall(r"([\d.]+) on the densest quarter of the grid, ([\d.]+) on the emptiest",
                                         learned["layout"]["title"]["text"])[0])
    assert 3 * dense < empty  # at t = 20 the network is wrong where there is no data
    assert "Trained in" in captions(at)


def test_two_ways_link_sets_the_data_and_the_seed():
    at = open_link("two_ways", data="uneven", seed="4", lecture="1")
    assert at.session_state["ways_data"] == "uneven" and at.session_state["ways_seed"] == 4
    assert figure(at, "ways_paths")["layout"]["height"] > 520  # lecture mode enlarges the charts
    bad = open_link("two_ways", data="moons")
    assert "`data` must be one of ring, uneven, got 'moons'" in errors(bad)


def test_flow_matching_page_trains_both_and_compares_steps():
    at = open_link("flow_matching", data="ring", train="500")
    assert at.button(key="flow_train").label == "Train both on the eight Gaussians on a ring (500 steps each)"
    assert not at.get("bidi_component")  # nothing is drawn before training
    at.button(key="flow_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    scrubbed_in_the_browser(figure(at, "flow_paths"), 33)
    samples = figure(at, "flow_samples")
    scrubbed_in_the_browser(samples, 6)
    assert [s["label"] for s in samples["layout"]["sliders"][0]["steps"]] == ["1", "2", "4", "8", "16", "64"]
    distance = figure(at, "flow_distance")
    ddpm, flow = distance["data"][0]["y"], distance["data"][1]["y"]
    assert flow[0] < ddpm[0] and flow[-1] < 0.1 and ddpm[-1] < 0.1  # one step favours the straight paths
    assert "Straightness" in captions(at) and "Energy distance" in " ".join(m.value for m in at.markdown)
    assert str(at.query_params["train"]).strip("[]'") == "500"


def test_guidance_page_scrubs_w_and_follows_its_controls():
    at = open_link("guidance", label="0", t="20", x="0.5", y="-0.25")
    assert not at.error
    spec = figure(at, "guide_figure")
    scrubbed_in_the_browser(spec, 9)
    assert spec["layout"]["sliders"][0]["steps"][spec["layout"]["sliders"][0]["active"]]["label"] == "1"
    point = [trace for trace in spec["data"] if trace["name"] == "x<sub>t</sub>"][0]
    assert (point["x"], point["y"]) == ([0.5], [-0.25])
    assert "at the black point xₜ (t = 20" in captions(at)
    at.selectbox(key="guide_label").select(1).run()
    assert figure(at, "guide_figure")["frames"] != spec["frames"]
    assert str(at.query_params["label"]).strip("[]'") == "1"


def test_guidance_link_out_of_range_is_named():
    at = open_link("guidance", t="500", x="9")
    assert "`t` must lie in [1, 100], got 500" in errors(at) and "`x` must lie in [-2, 2], got 9" in errors(at)
    assert figure(at, "guide_figure")  # the page carries on with its defaults
