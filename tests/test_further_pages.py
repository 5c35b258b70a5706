"""The pages and tools that go further, under AppTest: noise and restore, the emerging digit, the
drawing canvas, links that hold a view, and lecture mode.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import changes, chart, chart_keys, errors, filled, open_link, open_page, sidebar
from diffusion_core import data

pytestmark = pytest.mark.usefixtures("fresh_caches")


# --- noise and restore -----------------------------------------------------------------------------
def test_restore_shows_x0_xt_and_restorations_for_each_t(stand_in_model):
    at = open_page("restore")
    rows = [key for key in chart_keys(at) if key.startswith("restore_row_")]
    assert len(rows) == 5  # t = 100, 300, 500, 700, 900 by default
    assert any("Identity kept" in m.value for m in at.markdown)
    spec = chart(at, rows[0])
    assert len(spec["titles"]) == 2 + 3  # x_0, x_t and three restorations, one title each
    changes(at, "restore_row_100", lambda at: at.number_input(key="restore_seed").set_value(4))
    at.multiselect(key="restore_t").set_value([50, 1000]).run()
    assert sorted(key for key in chart_keys(at) if key.startswith("restore_row_")) == \
        ["restore_row_1000", "restore_row_50"]
    at.multiselect(key="restore_t").set_value([]).run()
    assert any("at least one t" in i.value for i in at.info)


def test_restore_without_weights_is_an_error(no_model):
    at = open_page("restore")
    assert "not available" in errors(at)


# --- the emerging digit ----------------------------------------------------------------------------
def test_without_a_label_the_reading_changes_as_the_digit_emerges():
    """With the shipped weights, seed 0 unlabelled: x̂_0 of the noisiest step reads as an 8, the sample as a 4."""
    at = open_page("reverse")
    at.selectbox(key="rev_label").set_value("none").run()
    at.button(key="rev_run").click().run()
    readings = np.array([trace["y"] for trace in chart(at, "reverse_emerging")["data"]])  # (10, steps)
    assert readings[:, 0].argmax() == 8 and readings[:, -1].argmax() == 4
    assert any("reads a **4**" in m.value for m in at.markdown)


def test_reverse_shows_the_classifier_reading_of_every_step():
    """With the shipped weights: the default run asks for a 3, and the reading ends on a 3."""
    at = open_page("reverse")
    spec = chart(at, "reverse_emerging")
    assert len(spec["data"]) == 10  # one line per digit class
    assert all(len(trace["y"]) == 50 for trace in spec["data"])  # DDIM 50: a reading per step
    sums = np.sum([trace["y"] for trace in spec["data"]], axis=0)
    np.testing.assert_allclose(sums, 1.0, atol=6e-3)  # probabilities (rounded to 3 decimals)
    assert spec["data"][3]["line"]["width"] > spec["data"][2]["line"]["width"]  # the asked-for label stands out
    assert max(range(10), key=lambda c: spec["data"][c]["y"][-1]) == 3
    # it reads 3 at the first step, an 8 at steps 2-5, and settles on the 3 at step 6 (the dashed line)
    assert any("reads a **3** from step **6** of 50" in m.value for m in at.markdown)
    assert any("emerging" in s.value for s in at.header)
    at.toggle(key="rev_grid").set_value(True).run()
    at.button(key="rev_run").click().run()
    first = chart(at, "reverse_emerging")
    at.number_input(key="rev_read").set_value(5).run()
    assert chart(at, "reverse_emerging") != first  # another digit of the grid, another reading


# --- the drawing canvas ----------------------------------------------------------------------------
def drawing(stroke=((60, 40), (200, 40), (110, 240))) -> str:
    """A 7 drawn on the 280x280 canvas as the browser sends it: a PNG data URL, white on black."""
    image = Image.new("RGB", (280, 280), "black")
    ImageDraw.Draw(image).line(list(stroke), fill="white", width=20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_drawing_is_prepared_like_mnist():
    from ui.components import canvas

    digit = canvas.prepared(drawing())
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows, cols = np.nonzero(digit > 25)
    assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20  # fits 20x20
    mass = digit.astype(float) / digit.sum()
    centre = (mass.sum(1) @ np.arange(28), mass.sum(0) @ np.arange(28))
    assert np.allclose(centre, 13.5, atol=1.0)  # centred by mass
    assert canvas.decode(None) is None and canvas.decode("") is None


@pytest.mark.parametrize("url, message", [
    ("data:image/jpeg;base64,AAAA", "PNG"),
    ("data:image/png;base64,@@@", "bad base64"),
    ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "not an image"),
])
def test_a_damaged_drawing_is_refused_with_a_reason(url, message):
    from ui.components import canvas

    with pytest.raises(data.DataError, match=message):
        canvas.prepared(url)


def test_a_blank_canvas_is_refused():
    from ui.components import canvas

    buffer = io.BytesIO()
    Image.new("RGB", (280, 280), "black").save(buffer, format="PNG")
    with pytest.raises(data.DataError, match="blank"):
        canvas.prepared("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())


def test_the_forward_pages_offer_the_canvas():
    at = open_page("forward")
    at.radio(key="forward_source").set_value("draw").run()
    assert not at.exception
    assert any("Draw one digit" in i.value for i in at.info)  # until something is drawn
    assert "your drawing" in at.radio(key="forward_source").options


# --- links that hold a view ------------------------------------------------------------------------
def test_a_link_sets_t_and_the_schedule():
    at = open_link("alpha_bar", t="123", schedule="cosine")
    assert not at.error
    spec = chart(at, "alpha_coefficients")
    assert spec["labels"][spec["active"]] == "123"
    assert at.session_state["sched_name"] == "cosine"
    assert "ᾱ<sub>123</sub> = ∏" in filled(spec, 123)
    assert at.query_params["t"] == ["123"] or at.query_params["t"] == "123"


def test_a_forward_link_opens_the_scrubber_at_its_t():
    at = open_link("forward", t="303", T="500")  # the frames are every 5 steps: the nearest opens
    spec = chart(at, "forward_scrubber")
    assert spec["labels"][spec["active"]] == "305" and spec["report"]  # the browser reports where it is left
    assert str(at.query_params["t"]).strip("[]'") == "303"


def test_a_forward_link_can_open_the_markov_chain():
    at = open_link("forward", chain="1", seed="5")
    assert not at.error and at.session_state["forward_chain"]
    assert len(chart(at, "forward_scrubber")["frames"]) == 101  # the chain's states, one PNG each
    at.toggle(key="forward_chain").set_value(False).run()
    assert str(at.query_params["chain"]).strip("[]'") == "0" and chart(at, "forward_scrubber")["blend"]


def test_the_address_follows_the_widgets():
    at = open_link("forward", seed="10")
    at.number_input(key="forward_seed").set_value(400).run()
    assert str(at.query_params["seed"]).strip("[]'") == "400"
    sidebar(at, "sched_name", "cosine").run()
    assert str(at.query_params["schedule"]).strip("[]'") == "cosine"


@pytest.mark.parametrize("page, params, named", [
    ("alpha_bar", {"t": "-4"}, "`t` must lie in [1, 2000]"),
    ("alpha_bar", {"t": "5000"}, "`t` must lie in [1, 2000]"),
    ("alpha_bar", {"T": "100", "t": "500"}, "`t` must lie in [1, 100] (T = 100)"),
    ("alpha_bar", {"T": "0"}, "`T` must lie in [2, 2000]"),
    ("alpha_bar", {"schedule": "exponential"}, "`schedule` must be one of linear, cosine"),
    ("forward", {"seed": "abc"}, "`seed` must be a whole number"),
    ("reverse", {"guidance": "1e9"}, "`guidance` must lie in [0, 10]"),
    ("reverse", {"guidance": "nan"}, "`guidance` must lie in [0, 10]"),
    ("reverse", {"label": "11"}, "`label` must be one of none, 0, 1"),
    ("reverse", {"step": "first"}, "`step` must be a step from 1 to 1000 or end"),
    ("reverse", {"eta": "2"}, "`eta` must lie in [0, 1]"),
    ("reverse", {"sampler": "euler"}, "`sampler` must be one of ddpm, ddim, dpmpp2m, heun"),
    ("reverse", {"lecture": "yes"}, "`lecture` must be 0 or 1"),
    ("schedules", {"zoom": "3"}, "`zoom` is not a setting of this page"),
    ("schedules", {"curve": "snr"}, "`curve` must be one of beta, alpha_bar, log_snr"),
])
def test_a_bad_link_is_named_and_ignored(stand_in_model, page, params, named):
    at = open_link(page, **params)
    assert named in errors(at)
    assert chart_keys(at)  # the page is drawn with its own values


def test_a_reverse_link_sets_seed_label_and_guidance(stand_in_model):
    at = open_link("reverse", seed="7", label="4", guidance="3.5", sampler="ddim", steps="20")
    assert not at.error
    assert at.number_input(key="rev_seed").value == 7 and at.selectbox(key="rev_label").value == 4
    assert at.slider(key="rev_guidance").value == 3.5
    assert any("DDIM, 20 steps" in c.value and "seed 7" in c.value for c in at.caption)


def test_a_reverse_link_picks_an_ode_solver(stand_in_model):
    at = open_link("reverse", sampler="heun", steps="4")
    assert not at.error and at.radio(key="rev_sampler").value == "heun"
    assert any("Heun, 4 steps (7 network calls)" in c.value for c in at.caption)


def test_a_reverse_link_opens_the_scrubber_at_its_step(stand_in_model):
    at = open_link("reverse", steps="20", eta="0.5", grid="1", step="7")
    spec = chart(at, "reverse_scrubber")
    assert spec["labels"][spec["active"]] == "7" and spec["report"]  # the browser reports where it is left
    assert any("η = 0.5" in c.value and "4×4 grid" in c.value for c in at.caption)
    assert str(at.query_params["step"]).strip("[]'") == "7"
    at.number_input(key="rev_seed").set_value(8).run()  # another run opens on its sample
    at.button(key="rev_run").click().run()
    spec = chart(at, "reverse_scrubber")
    assert spec["labels"][spec["active"]] == "end" and str(at.query_params["step"]).strip("[]'") == "end"
    spec = chart(open_link("reverse", steps="5", step="7"), "reverse_scrubber")  # no step 7: the nearest opens
    assert spec["labels"][spec["active"]] == "5"


def test_a_pending_run_links_to_its_sample(stand_in_model):
    at = open_link("reverse", steps="5", step="3")
    at.number_input(key="rev_seed").set_value(9).run()  # waits for Run, which will open on the sample
    assert any("Press **Run**" in i.value for i in at.info)
    assert str(at.query_params["step"]).strip("[]'") == "end"


def test_a_scrubber_report_is_applied_once_and_only_to_its_frames(monkeypatch):
    """show(report=True) returns the label of a report ("token digest label") once, for these frames."""
    from types import SimpleNamespace

    from ui.components import scrubber

    def run(report):
        monkeypatch.setattr(scrubber, "_scrubber", lambda **_: SimpleNamespace(label=report))
        return scrubber.show({"digest": "abc"}, "k", report=True)

    assert run(None) is None
    assert run("t1 abc 12") == "12"
    assert run("t1 abc 12") is None  # the same report, in a later run: not applied again
    assert run("t2 abc 12") == "12"  # the reader left it at 12 again
    assert run("t3 other 40") is None  # about other frames (a control changed at the same moment)
    assert run("12") is None  # not a report of ours


def test_a_schedules_link_opens_its_curve(stand_in_model):
    at = open_link("schedules", curve="log_snr")
    assert not at.error and "sched_log_snr" in chart_keys(at)
    at.segmented_control(key="sched_curve").set_value("alpha_bar").run()
    assert str(at.query_params["curve"]).strip("[]'") == "alpha_bar"


# --- lecture mode -----------------------------------------------------------------------------------
def test_lecture_mode_enlarges_charts_and_tucks_controls_away(stand_in_model):
    plain = open_page("alpha_bar")
    lecture = open_link("alpha_bar", lecture="1")
    assert lecture.session_state["lecture"] is True
    assert chart(lecture, "alpha_coefficients")["scale"] > 1.4 * chart(plain, "alpha_coefficients")["scale"]
    plain, lecture = open_page("schedules"), open_link("schedules", lecture="1")
    assert chart(lecture, "sched_beta")["layout"]["height"] > 1.4 * chart(plain, "sched_beta")["layout"]["height"]
    forward = open_link("forward", lecture="1")
    assert any("seed" in e.label for e in forward.expander)  # the controls wait in a closed expander
    assert not any("seed" in e.label for e in open_page("forward").expander)


def test_links_copies_the_core_constants():
    """ui/links.py keeps copies (it runs before torch is imported): they must agree."""
    from diffusion_core import samplers, schedules
    from ui import links

    assert links.SCHEDULE_NAMES == schedules.SCHEDULE_NAMES
    assert links.DEFAULT_NUM_STEPS == schedules.DEFAULT_NUM_STEPS
    assert links.MAX_GUIDANCE == samplers.MAX_GUIDANCE
    assert links.SAMPLERS == samplers.SAMPLERS


def test_a_stored_run_still_makes_the_next_setting_wait_for_run(stand_in_model):
    """A second student whose first visit is served from the shared store of runs does not start
    a sampling run by merely changing the seed: it waits for the Run button like everyone else's."""
    open_page("reverse")  # the first student samples the default run
    at = open_page("reverse")  # the second gets it from the store
    at.number_input(key="rev_seed").set_value(9).run()
    assert any("Press **Run**" in i.value for i in at.info)
    assert "reverse_scrubber" not in chart_keys(at)
    at.button(key="rev_run").click().run()
    assert chart(at, "reverse_scrubber") and not [b for b in at.button if b.key == "rev_run"]
