"""Every page under streamlit.testing.v1.AppTest: it runs without an exception, and moving each
main control changes what is shown. Bad input shows an st.error and the page keeps working.

The reverse page is driven by an untrained U-Net of the real architecture standing in for the
pretrained weights (patched in, never shipped), so these tests do not depend on training.
The fixtures and helpers the AppTest files share live in conftest.py.
"""
from __future__ import annotations

import base64
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAKE_CARD, changes, chart, chart_keys, filled, noised, open_page, png_bytes, sidebar, sketch
from diffusion_core.data import to_pixels
from diffusion_core.schedules import ScheduleSpec
from ui import runs
from ui.pages.home import CARDS

pytestmark = pytest.mark.usefixtures("fresh_caches")


# --- Home ----------------------------------------------------------------------------------------
def test_home_shows_a_digit_forming_and_a_card_per_page(stand_in_model):
    at = open_page("home")
    assert len(at.get("page_link")) == len(CARDS)  # one card per page
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Computing on" in captions and "In force: **linear" in captions and "Diffusion U-Net" in captions
    first = at.image[0].value
    at.button(key="home_another").click().run()
    assert not at.exception
    assert at.image[0].value != first


def test_home_without_weights_says_so_and_keeps_working(no_model):
    at = open_page("home")
    assert any("not available" in e.value for e in at.error)
    assert len(at.get("page_link")) == len(CARDS)  # one card per page


# --- Forward noising -----------------------------------------------------------------------------
def test_forward_controls_change_the_scrubber():
    at = open_page("forward")
    spec = chart(at, "forward_scrubber")
    assert len(spec["blend"]["weights"]) == len(spec["labels"]) == len(spec["captions"]) == 101
    assert not spec["frames"] and len(json.dumps(spec)) < 80_000  # x_0 and ε; the browser draws each frame
    changes(at, "forward_scrubber", lambda at: at.number_input(key="forward_seed").set_value(7))
    changes(at, "forward_scrubber", lambda at: at.toggle(key="forward_chain").set_value(True))
    chain = chart(at, "forward_scrubber")  # every state of the chain has noise of its own: a PNG each
    assert len(chain["frames"]) == 101 and not chain["blend"] and len(json.dumps(chain)) < 450_000
    changes(at, "forward_scrubber", lambda at: at.selectbox(key="forward_example").set_value(3))
    changes(at, "forward_strip", lambda at: sidebar(at, "sched_name", "cosine"))
    assert any("cosine" in c.value for c in at.caption)


def test_forward_formulas_show_both_processes_in_either_mode():
    """The closed form and the chain's step stand side by side; the switch changes the images, not the
    formulas (new formulas cost the browser ~70 ms of typesetting a switch)."""
    at = open_page("forward")
    shown = [formula.value for formula in at.latex]
    assert any(r"\sqrt{1-\bar\alpha_t}\,\varepsilon" in f for f in shown)
    assert any(r"\sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon_t" in f for f in shown)
    at.toggle(key="forward_chain").set_value(True).run()
    assert [formula.value for formula in at.latex] == shown


def _blend_of(spec: dict):
    from ui.components import scrubber_specs
    bases = np.frombuffer(base64.b64decode(spec["blend"]["bases"]), dtype="<f4").reshape(-1, 28, 28)
    return scrubber_specs.Blend(bases, np.array(spec["blend"]["weights"]))


def test_the_frames_the_browser_draws_are_q_sample_s():
    """The forward scrubber and the schedule comparison send x_0, ε and weights; the frames those make
    (as the browser computes them: tests/test_browser.py checks that it does) are to_pixels of
    diffusion_core's q_sample, through forward.forward_states, exactly."""
    from diffusion_core.data import load_examples
    from ui.pages import forward, schedules

    x0, choice = load_examples()[0][3], ScheduleSpec(name="cosine", num_steps=700)
    spec, _ = forward.forward_figures(x0, choice, 3, False)
    grid = tuple(int(t) for t in spec["labels"])
    expected = np.stack([to_pixels(v) for v in noised(x0, choice, 3, grid)], axis=1)
    np.testing.assert_array_equal(_blend_of(spec).frames(), expected)
    choices = {"linear": ScheduleSpec(), "cosine": choice}
    spec = schedules.comparison_figure(x0, choices, 5)
    for panel, c in enumerate(choices.values()):
        xt = noised(x0, c, 5, schedules.comparison_t(c.num_steps))[0]
        np.testing.assert_array_equal(_blend_of(spec).frames()[:, panel], to_pixels(xt))


def test_forward_upload_is_made_mnist_like_and_bad_uploads_are_refused():
    at = open_page("forward")
    at.radio(key="forward_source").set_value("upload").run()
    assert any("Upload an image" in i.value for i in at.info)
    example = chart(at, "forward_scrubber")
    at.file_uploader(key="forward_upload").set_value(("seven.jpg", sketch(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert chart(at, "forward_scrubber") != example
    for name, content in (("notes.png", b"these are not pixels"), ("empty.png", b""),
                          ("huge.png", png_bytes(Image.new("1", (5000, 5000))))):
        at.file_uploader(key="forward_upload").set_value((name, content, "image/png")).run()
        assert not at.exception
        assert any(name in e.value for e in at.error), name
        assert chart(at, "forward_scrubber") == example  # the example digit stands in


def test_forward_with_a_generated_digit(stand_in_model):
    at = open_page("forward")
    at.radio(key="forward_source").set_value("generated").run()
    assert not at.exception and not at.error
    changes(at, "forward_scrubber", lambda at: at.number_input(key="forward_gen_seed").set_value(1))


def test_a_schedule_that_makes_no_sense_is_an_error_not_a_crash():
    at = open_page("forward")
    sidebar(at, "sched_beta_start", 0.05).run()  # above β_end = 0.02
    assert not at.exception
    assert any("beta_start" in e.value for e in at.error)
    assert chart(at, "forward_scrubber")["blend"]


# --- Beta schedules ------------------------------------------------------------------------------
def test_schedules_page_compares_every_schedule():
    at = open_page("schedules")
    names = [trace["name"] for trace in chart(at, "sched_beta")["data"]]
    assert names == ["linear", "cosine", "quadratic", "sigmoid", "custom linear"]
    table = at.table[0].value
    assert list(table["schedule"]) == names
    # linear DDPM, by numpy: np.argmax(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)) < x) + 1
    assert [table[f"t where ᾱₜ < {x}"].tolist()[0] for x in (0.5, 0.1, 0.01)] == ["260", "476", "674"]
    changes(at, "sched_beta", lambda at: at.number_input(key="custom_T").set_value(200))
    for curve in ("alpha_bar", "log_snr"):  # one chart at a time
        at.segmented_control(key="sched_curve").set_value(curve).run()
        assert chart_keys(at) == [f"sched_{curve}", "sched_compare"]
        assert [trace["name"] for trace in chart(at, f"sched_{curve}")["data"]] == names
    changes(at, "sched_compare", lambda at: at.number_input(key="schedules_seed").set_value(5))


def test_schedules_page_refuses_a_nonsense_custom_schedule():
    at = open_page("schedules")
    at.number_input(key="custom_beta_end").set_value(0.0).run()
    assert not at.exception
    assert any("custom schedule makes no sense" in e.value for e in at.error)
    assert [trace["name"] for trace in chart(at, "sched_beta")["data"]] == ["linear", "cosine", "quadratic", "sigmoid"]


# --- ᾱ_t -----------------------------------------------------------------------------------------
def test_alpha_bar_page_reads_out_every_t_and_its_product_check_holds():
    at = open_page("alpha_bar")
    spec = chart(at, "alpha_coefficients")
    assert spec["labels"][spec["active"]] == "250" and spec["report"]  # T // 4; the browser reports where it is left
    assert spec["labels"] == [str(t) for t in range(1, 1001)]
    from diffusion_core.schedules import make_schedule
    schedule = make_schedule("linear")
    ab = float(schedule.alphas_cumprod[599])
    text = filled(spec, 600)
    product = float(re.search(r"ᾱ<sub>600</sub> = ∏<sub>s=1</sub><sup>600</sup> \(1 − β<sub>s</sub>\) = ([0-9.]+)",
                              text)[1])
    assert abs(product - ab) < 1e-12
    assert f"q(x<sub>600</sub> | x<sub>0</sub>) = 𝒩({math.sqrt(ab):.4f} x<sub>0</sub>, {1 - ab:.4f} I)" in text
    assert f"<td>{float(schedule.betas[599]):.5f}</td>" in text and f"<td>{ab / (1 - ab):.4g}</td>" in text  # SNR
    coefficients, snr = spec["lines"]["charts"]
    assert coefficients["marks"][599] == pytest.approx([ab, math.sqrt(ab), math.sqrt(1 - ab)], abs=1e-5)
    assert snr["log_y"] and snr["marks"][599] == pytest.approx([math.log10(ab / (1 - ab))], abs=1e-5)
    changes(at, "alpha_coefficients", lambda at: sidebar(at, "sched_name", "cosine"))
    assert abs(float(re.search(r"∏.*? = ([0-9.]+)", filled(chart(at, "alpha_coefficients"), 600))[1])
               - float(make_schedule("cosine").alphas_cumprod[599])) < 1e-12
    changes(at, "alpha_coefficients", lambda at: sidebar(at, "sched_T", 500))
    assert chart_keys(at) == ["alpha_coefficients"]  # both charts are the scrubber's: the page loads no Plotly


def test_alpha_bar_page_survives_an_snr_that_underflows_to_zero():
    """β_end = 0.9999 (the sidebar's maximum) drives ᾱ_t to exactly 0 in float64 for the last steps:
    their SNR is 0, which a log axis cannot show. The page leaves those points out instead of failing."""
    from ui.figures import LINE_POINTS

    at = open_page("alpha_bar")
    sidebar(at, "sched_beta_end", 0.9999).run()
    assert not at.exception and not at.error
    snr = chart(at, "alpha_coefficients")["lines"]["charts"][1]
    assert snr["marks"][-1] == [None] and snr["marks"][0][0] is not None
    assert len(snr["series"][0]["points"]) < LINE_POINTS  # the curve stops where ᾱ_t reaches 0


# --- Reverse denoising ---------------------------------------------------------------------------
def test_reverse_without_weights_is_an_error(no_model):
    at = open_page("reverse")
    assert any("not available" in e.value for e in at.error)
    assert not at.get("bidi_component")


def test_reverse_runs_and_every_control_matters(stand_in_model):
    at = open_page("reverse")
    spec = chart(at, "reverse_scrubber")  # the first visit samples the default run at once
    assert len(spec["frames"]) == 51  # DDIM 50 steps and the finished sample
    assert len(json.dumps(spec)) < 400_000
    assert spec["controls"] and spec["active"] == 50  # play, pause and step; it opens on the sample
    at.number_input(key="rev_steps").set_value(10).run()
    assert any("Press **Run**" in i.value for i in at.info)
    at.button(key="rev_run").click().run()
    assert len(chart(at, "reverse_scrubber")["frames"]) == 11
    for act in (lambda at: at.number_input(key="rev_seed").set_value(3),
                lambda at: at.selectbox(key="rev_label").set_value(4),
                lambda at: at.slider(key="rev_guidance").set_value(5.0),
                lambda at: at.slider(key="rev_eta").set_value(1.0)):
        before = chart(at, "reverse_scrubber")
        act(at).run()
        at.button(key="rev_run").click().run()
        assert not at.exception
        assert chart(at, "reverse_scrubber") != before
    assert any("w = 5" in formula.value for formula in at.latex)


def test_reverse_exact_step_and_the_live_step_agree(stand_in_model):
    at = open_page("reverse")
    at.number_input(key="rev_steps").set_value(5).run()
    at.button(key="rev_run").click().run()
    at.number_input(key="rev_step").set_value(1).run()
    recorded = chart(at, "reverse_exact")
    at.segmented_control(key="rev_mode").set_value("live").run()
    at.button(key="rev_live_step").click().run()
    assert not at.exception
    live = chart(at, "reverse_live")
    # same seed, same step: x_t, ε̂, x̂_0 and the next state are the same pixels
    assert live["frames"] == recorded["frames"]
    for _ in range(4):
        at.button(key="rev_live_step").click().run()
    assert at.success  # five steps of five: done
    assert at.button(key="rev_live_step").disabled


def test_reverse_ddpm_and_grid(stand_in_model):
    at = open_page("reverse")
    at.toggle(key="rev_grid").set_value(True).run()
    at.number_input(key="rev_steps").set_value(4).run()
    at.button(key="rev_run").click().run()
    grid = chart(at, "reverse_scrubber")
    assert any("4×4 grid" in c.value for c in at.caption)
    assert len(grid["frames"]) == 5
    at.radio(key="rev_sampler").set_value("ddpm").run()
    assert any("DDPM, all 1000 steps" in i.value for i in at.info)
    assert any(r"\tilde\beta_t" in formula.value for formula in at.latex)


STEPS_TABLE = {"n_uncond": 8, "n_conditional": 10, "guidance": 2.0, "frechet_floor_same_n": 3.5,
               "command": "python -m diffusion_core bench quality --steps-table", "date": "2026-01-01",
               "rows": [{"sampler": s, "steps": n, "network_calls": 2 * n - 1 if s == "heun" else n,
                         "mean_confidence": 0.9 + n / 1000, "class_entropy": 2.2, "frechet_distance": 40.0 - n / 2,
                         "accuracy_w2": 1.0} for s in ("ddim", "dpmpp2m", "heun") for n in (10, 20, 50)]}


def test_reverse_offers_the_ode_solvers_with_their_rules_and_the_steps_chart(stand_in_model, monkeypatch):
    at = open_page("reverse")
    assert "reverse_steps_quality" not in chart_keys(at)  # a card without a steps table: no chart
    monkeypatch.setitem(FAKE_CARD, "quality", {"steps_table": STEPS_TABLE})
    at = open_page("reverse")
    assert at.radio(key="rev_sampler").options == ["DDPM, all 1000 steps", "DDIM", "DPM-Solver++(2M)",
                                                   "Heun (probability-flow ODE)"]
    quality = chart(at, "reverse_steps_quality")
    assert [trace["name"] for trace in quality["data"]] == ["DDIM", "DPM-Solver++(2M)", "Heun (probability-flow ODE)"]
    assert quality["data"][2]["customdata"] == [19, 39, 99] and quality["data"][0]["y"] == [35.0, 30.0, 15.0]
    assert any("Fréchet distance" in c.value and "19 calls" in c.value for c in at.caption)
    at.radio(key="rev_measure").set_value("accuracy_w2").run()
    assert chart(at, "reverse_steps_quality")["data"][0]["y"] == [1.0, 1.0, 1.0]
    at.number_input(key="rev_steps").set_value(3).run()
    for sampler, rule in (("dpmpp2m", r"\lambda_{t^+}"), ("heun", r"\hat\varepsilon'")):
        at.radio(key="rev_sampler").set_value(sampler).run()
        assert at.slider(key="rev_eta").disabled and not at.number_input(key="rev_steps").disabled
        assert any(rule in formula.value for formula in at.latex)
        at.button(key="rev_run").click().run()
        assert not at.exception and len(chart(at, "reverse_scrubber")["frames"]) == 4
        at.number_input(key="rev_step").set_value(2).run()
        assert any(r"\hat x_0^{\,\text{prev}}" in f.value if sampler == "dpmpp2m" else r"\tfrac{1}{2}" in f.value
                   for f in at.latex)  # step 2 of 3: the second-order update, with its numbers


def test_the_live_mode_keeps_dpm_solvers_previous_prediction(stand_in_model):
    """DPM-Solver++(2M) extrapolates from the last step's x̂_0: the live mode keeps it in its state, and each
    live step shows the recorded run's panels (to one grey level: the recorded run may use other CPU threads)."""
    at = open_page("reverse")
    at.radio(key="rev_sampler").set_value("dpmpp2m").run()
    at.number_input(key="rev_steps").set_value(3).run()
    at.button(key="rev_run").click().run()
    run = runs.lookup(runs.RunSpec(sampler="dpmpp2m", steps=3, label=3, guidance=2.0))
    at.segmented_control(key="rev_mode").set_value("live").run()
    for k in range(3):
        at.button(key="rev_live_step").click().run()
        state = at.session_state["rev_live"]
        assert not at.exception and state["prev_x0"] is not None
        for shown, recorded in zip(state["last"], (run.xs[k], run.eps[k], run.x0[k], run.xs[k + 1])):
            assert np.abs(shown.astype(int) - recorded.astype(int)).max() <= 1
    # the last step is first order again (D = x̂_0), and the run is done
    assert any(f.value.strip("$\n").endswith(r"D = \hat x_0") for f in at.latex) and at.success


def test_the_sidebar_offers_a_gpu_override_only_where_a_gpu_exists(no_model, monkeypatch):
    assert not open_page("home").sidebar.radio  # this machine: CPU only, nothing to choose
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    at = open_page("home")
    assert at.sidebar.radio(key="device").options == ["auto", "CPU", "GPU"]


# --- Server settings -------------------------------------------------------------------------------
def test_the_server_runs_without_a_file_watcher_or_a_collection_after_each_run():
    """Both cost every session time: the watcher walks every imported module on the event loop when
    a new tab's first run ends, the collection holds the interpreter lock after every rerun
    (bench/loadtest.py measures both; docs/benchmarks.md has the figures)."""
    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none" and config["runner"]["postScriptGC"] is False
