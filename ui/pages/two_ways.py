"""Two ways back: the reverse SDE (DDPM) and the probability-flow ODE (DDIM, eta = 0) on a 2-D Gaussian
mixture whose score is known exactly, and the tiny denoiser's score beside the exact one."""
from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion_core import slides_toy, toy, toy_score
from diffusion_core.forward import alphas_cumprod_from_zero
from diffusion_core.schedules import index_of
from ui import figures, lecture, server
from ui.components import chart
from ui.flow_figures import (
    BLUE,
    MAGMA,
    ORANGE,
    RED,
    Panel,
    arrows,
    bars,
    heatmap,
    line,
    panels_scrubber,
    points,
    polylines,
)
from ui.slides import download_view

SCHEDULE, NUM_STEPS = "cosine", 100  # the toy schedule of this page: the distributions page's default
PATH_T = tuple(range(NUM_STEPS, -1, -4))  # frames of the two ways back: t = 100, 96, ..., 0
FIELD_T = (100, *range(95, 0, -5), 1)  # frames of the score fields (at t = 0 eps* is 0 everywhere)
MOVING, TRAILS, HIST_POINTS, DISTANCE_POINTS = 300, 12, 3000, 1000
ARROW_AXIS, HEAT_AXIS = np.linspace(-1.8, 1.8, 11), np.linspace(-2.0, 2.0, 31)
ARROW_SCALE = 0.12  # an arrow is 0.12 (-eps): long enough to read, short enough not to cross its neighbours
LOG_Q_RANGE = (-6.0, 2.0)  # colours of log q(x_t); below -6 is "empty"
EDGES = np.linspace(-3.0, 3.0, 41)
TRAIN_STEP_CHOICES = (250, 500, 1000, 2000)
DEFAULTS = {"ways_data": "ring", "ways_seed": 0, "ways_train_steps": 1000}


def _alpha_bar() -> np.ndarray:
    return alphas_cumprod_from_zero(toy.toy_schedule(SCHEDULE, NUM_STEPS))  # indexed by the paper's t


def _log_q(data: toy_score.Mixture2D, ab: float) -> np.ndarray:
    """log q(x_t) on the heat grid, (G, G)."""
    return np.log(np.maximum(data.density(toy_score.grid_points(HEAT_AXIS), ab), 1e-30)).reshape(len(HEAT_AXIS), -1)


@st.cache_data(max_entries=4, show_spinner=False)
def field_figure(data_name: str):
    data, alpha_bar = toy_score.mixture(data_name), _alpha_bar()
    base = toy_score.grid_points(ARROW_AXIS)
    frames = [[heatmap(HEAT_AXIS, np.clip(_log_q(data, alpha_bar[t]), *LOG_Q_RANGE), *LOG_Q_RANGE, "log q"),
               *arrows(base, -ARROW_SCALE * toy_score.exact_eps_field(data, alpha_bar[t], base), "white", "−ε*")]
              for t in FIELD_T]
    captions = [f"t = {t} · ᾱ<sub>t</sub> = {alpha_bar[t]:.3f} · colour: log q(x<sub>t</sub>) · "
                f"arrows: −ε* = √(1 − ᾱ<sub>t</sub>) ∇ log q(x<sub>t</sub>)" for t in FIELD_T]
    panel = Panel("the exact score field of q(x<sub>t</sub>)", frames=frames)
    return panels_scrubber([panel], [str(t) for t in FIELD_T], captions, active=FIELD_T.index(10), legend=False,
                           height=560)


def _landing(data: toy_score.Mixture2D, final: np.ndarray) -> np.ndarray:
    """The component whose mean is nearest each final point, spread over [0, 1] (a colour)."""
    means = np.asarray(data.means)
    nearest = np.argmin(((final[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    return nearest / max(len(means) - 1, 1)


def landing_slide(data_name: str, seed: int):
    """Where the two ways land from the same x_T, over the data, for slides."""
    data = toy_score.mixture(data_name)
    sde, ode, _ = toy_score.two_ways_back(toy.toy_schedule(SCHEDULE, NUM_STEPS), data, HIST_POINTS, seed)
    reference = data.sample(HIST_POINTS, np.random.default_rng(seed + 7))[0]
    return slides_toy.two_clouds({"reverse SDE (DDPM)": sde[-1], "probability-flow ODE (DDIM η = 0)": ode[-1]},
                                 f"where {HIST_POINTS:,} points land from the same x_T (grey: data) · {data_name}, "
                                 f"{SCHEDULE}, T = {NUM_STEPS}, seed {seed}", reference)


@st.cache_data(max_entries=8, show_spinner=False)
def two_ways_figure(data_name: str, seed: int):
    """(figure, final distances): the same x_T carried back by the SDE and the ODE, and the marginal of x₁."""
    data, alpha_bar = toy_score.mixture(data_name), _alpha_bar()
    sde, ode, row_t = toy_score.two_ways_back(toy.toy_schedule(SCHEDULE, NUM_STEPS), data, HIST_POINTS, seed)
    rng = np.random.default_rng(seed + 7)
    x0 = data.sample(DISTANCE_POINTS, rng)[0]
    noise = rng.standard_normal(x0.shape)
    centers, widths = (EDGES[:-1] + EDGES[1:]) / 2, np.diff(EDGES)
    x_line = np.linspace(EDGES[0], EDGES[-1], 121)
    mu, s2, pi = np.asarray(data.means)[:, 0], np.asarray(data.stds) ** 2, np.asarray(data.weights)
    frames_sde, frames_ode, frames_hist, captions, y_top = [], [], [], [], 0.0
    for t in PATH_T:
        row, ab = int(np.flatnonzero(row_t == t)[0]), alpha_bar[t]
        exact_draws = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise  # fresh draws of q(x_t)
        d_sde, d_ode = (toy.energy_distance(p[row, :DISTANCE_POINTS], exact_draws) for p in (sde, ode))
        var = ab * s2 + 1 - ab  # the marginal of x₁ is the 1-D mixture sum pi_k N(sqrt(ab) mu_k, var_k)
        exact = (pi * np.exp(-0.5 * (x_line[:, None] - np.sqrt(ab) * mu) ** 2 / var) / np.sqrt(2 * np.pi * var)).sum(1)
        hist = [np.histogram(p[row, :, 0], EDGES)[0] / (HIST_POINTS * widths) for p in (sde, ode)]
        y_top = max(y_top, exact.max(), *(h.max() for h in hist))
        frames_sde.append([points(sde[row, :MOVING], _landing(data, sde[-1, :MOVING]), "SDE points", size=5)])
        frames_ode.append([points(ode[row, :MOVING], _landing(data, ode[-1, :MOVING]), "ODE points", size=5)])
        frames_hist.append([bars(centers, hist[0], BLUE, "reverse SDE"), bars(centers, hist[1], ORANGE, "PF-ODE"),
                            line(x_line, exact, RED, "q(x₁ at t), closed form", "dash")])
        captions.append(f"t = {t} · energy distance to fresh draws of q(x<sub>t</sub>): SDE {d_sde:.3f}, "
                        f"ODE {d_ode:.3f}")
    sde_trails, ode_trails = polylines(sde[:, :TRAILS], BLUE, "whole paths"), polylines(ode[:, :TRAILS], ORANGE, "")
    panels = [Panel("reverse SDE (DDPM, stochastic)", [sde_trails], frames_sde, limit=3.0),
              Panel("probability-flow ODE (DDIM η = 0)", [ode_trails], frames_ode, limit=3.0),
              Panel("marginal of the first coordinate at t", [], frames_hist, plane=False, x_title="x₁",
                    y_title="density", x_range=(EDGES[0], EDGES[-1]), y_range=(0, 1.1 * y_top))]
    figure = panels_scrubber(panels, [str(t) for t in PATH_T], captions, active=len(PATH_T) - 1, height=520)
    return figure, float(np.mean(np.abs(sde[-1] - ode[-1]).sum(1) > 0.05))


@st.cache_data(max_entries=8, show_spinner=False)
def learned_figure(config: toy.ToyConfig, _trained: toy.TrainedToy):
    """(figure, error curves): the exact -eps* and the network's -eps_theta at each t, the error as colour."""
    data, alpha_bar = toy_score.mixture(config.data), _alpha_bar()
    base, heat = toy_score.grid_points(ARROW_AXIS), toy_score.grid_points(HEAT_AXIS)
    frames_exact, frames_learned, captions, high, low = [], [], [], [], []
    for t in FIELD_T:
        ab = alpha_bar[t]
        error = np.linalg.norm(toy_score.network_eps_field(_trained.model, index_of(t), heat)
                               - toy_score.exact_eps_field(data, ab, heat), axis=1)
        q = data.density(heat, ab)
        order = np.argsort(q)
        quarter = len(q) // 4
        high.append(error[order[-quarter:]].mean())
        low.append(error[order[:quarter]].mean())
        frames_exact.append([heatmap(HEAT_AXIS, np.clip(_log_q(data, ab), *LOG_Q_RANGE), *LOG_Q_RANGE, "log q"),
                             *arrows(base, -ARROW_SCALE * toy_score.exact_eps_field(data, ab, base), "white", "−ε*")])
        learned = toy_score.network_eps_field(_trained.model, index_of(t), base)
        frames_learned.append([heatmap(HEAT_AXIS, np.clip(error.reshape(len(HEAT_AXIS), -1), 0, 2), 0, 2, "error",
                                       colorscale=MAGMA), *arrows(base, -ARROW_SCALE * learned, "white", "−ε_θ")])
        captions.append(f"t = {t} · mean ‖ε<sub>θ</sub> − ε*‖: {high[-1]:.2f} on the densest quarter of the grid, "
                        f"{low[-1]:.2f} on the emptiest")
    panels = [Panel("exact −ε*, colour log q(x<sub>t</sub>)", frames=frames_exact),
              Panel("learned −ε<sub>θ</sub>, colour ‖ε<sub>θ</sub> − ε*‖ (0 … 2)", frames=frames_learned)]
    figure = panels_scrubber(panels, [str(t) for t in FIELD_T], captions, active=FIELD_T.index(20), legend=False,
                             height=520)
    curves = figures.line_chart({"densest quarter": (np.array(FIELD_T), np.array(high)),
                                 "emptiest quarter": (np.array(FIELD_T), np.array(low))}, "t",
                                "mean ‖ε<sub>θ</sub> − ε*‖", height=280)
    return figure, curves


def _init_state() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def section_score(data_name: str) -> None:
    st.header("1 · The exact score of q(xₜ)")
    st.markdown("For a mixture of Gaussians every component stays Gaussian under the forward process, so the noised "
                "density q(xₜ) is a mixture with the same weights, and its score ∇ log q(xₜ) is known exactly at "
                "every t. A perfect denoiser predicts ε* = −√(1 − ᾱₜ) ∇ log q(xₜ): the arrows point up the density.")
    st.latex(r"q(x_t) = \sum_k \pi_k\,\mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,\mu_k,\ v_k I\big),\quad "
             r"v_k = \bar\alpha_t\,s_k^2 + 1 - \bar\alpha_t")
    st.latex(r"\nabla \log q(x_t) = \sum_k r_k(x_t)\,\frac{\sqrt{\bar\alpha_t}\,\mu_k - x_t}{v_k},\qquad "
             r"\varepsilon^*(x_t, t) = \mathbb E[\varepsilon \mid x_t] = -\sqrt{1-\bar\alpha_t}\,\nabla \log q(x_t)")
    left, right = st.columns([3, 2])
    with left:
        chart.show(field_figure(data_name), "ways_field")
    right.markdown("**Drag the slider under the plot**: it runs in your browser. At large t the field points to the "
                   "origin, as N(0, I)'s would; as t falls it bends towards each component.")
    right.caption(f"Drag the slider under the plot (in your browser). Colour: log q(xₜ) from {LOG_Q_RANGE[0]:g} (dark, "
               f"almost no probability) to {LOG_Q_RANGE[1]:g}. Each arrow is {ARROW_SCALE:g} × (−ε*) at its base; "
               "rₖ(xₜ) is the probability that xₜ came from component k.")


def section_two_ways(data_name: str, seed: int) -> None:
    st.header("2 · Two ways back from the same start points")
    st.markdown("Start the same points x_T ~ N(0, I) and carry them back with ε* two ways. **DDPM's ancestral step** "
                "adds fresh noise every step: a discretised *reverse SDE*, each path wanders. **DDIM with η = 0** adds "
                "none: a discretised *probability-flow ODE*, each point follows the arrows deterministically. The "
                "paths differ, yet at every t the two clouds have the same distribution: q(xₜ).")
    st.latex(r"\text{SDE (DDPM):}\quad x_{t-1} = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,\hat x_0 + "
             r"\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t + \sigma_t z,\quad "
             r"\sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t\ "
             r"(z = 0 \text{ at } t = 1)")
    st.latex(r"\text{ODE (DDIM, }\eta = 0\text{):}\quad x_{t-1} = \sqrt{\bar\alpha_{t-1}}\,\hat x_0 + "
             r"\sqrt{1-\bar\alpha_{t-1}}\,\varepsilon^*(x_t, t),\qquad "
             r"\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon^*(x_t, t)}{\sqrt{\bar\alpha_t}}")
    figure, differ = two_ways_figure(data_name, seed)
    chart.show(figure, "ways_paths")
    download_view("two_ways", lambda: landing_slide(data_name, seed), f"{data_name}, seed {seed}")
    st.caption(f"{MOVING} of {HIST_POINTS:,} points drawn, coloured by the component each lands nearest; thin lines: "
               f"the whole paths of {TRAILS} of them. Right: histograms of the first coordinate of all "
               f"{HIST_POINTS:,} points of each cloud at t, and the closed-form marginal. The title compares each "
               f"cloud with fresh draws of q(xₜ) (energy distance, 0 for equal distributions). The same start point "
               f"ends in a different place on the two paths for {differ:.0%} of the points.")


def section_learned(data_name: str) -> None:
    st.header("3 · The tiny denoiser's score beside the exact one")
    config = toy.ToyConfig(data=data_name, schedule=SCHEDULE, num_steps=NUM_STEPS,
                           train_steps=int(st.session_state["ways_train_steps"]))
    st.markdown(f"Train the distributions page's {config.hidden}-wide MLP ε_θ(xₜ, t) on {config.num_points:,} draws of "
                "this mixture and compare its field with the exact one. It learns only where data lands: where "
                "q(xₜ) is tiny it has seen almost no xₜ, and there it is wrong.")
    st.latex(r"\mathcal L = \mathbb E_{x_0, t, \varepsilon}\,\big\|\varepsilon - \varepsilon_\theta"
             r"\big(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big)\big\|^2,\qquad "
             r"\text{minimised by } \varepsilon_\theta = \varepsilon^*")
    with lecture.tucked("Training"):
        st.select_slider("Training steps", TRAIN_STEP_CHOICES, key="ways_train_steps")
    if not server.ready_to_train([config], f"Train on the {data_name} ({config.train_steps} steps)", "ways_train",
                                 "Press the button to train the denoiser on this mixture; it takes a few seconds."):
        return
    trained = server.trained_once(config, toy.train_toy, "the toy denoiser")
    figure, curves = learned_figure(config, trained)
    chart.show(figure, "ways_learned")
    st.caption(f"Trained in {trained.seconds:.1f} s. Left: the exact field, as in section 1. Right: the network's "
               "arrows, over the size of its error (dark: right, bright: wrong by 2 or more). The grid's densest "
               "quarter is where q(xₜ) is highest, its emptiest quarter where it is lowest.")
    chart.show(curves, "ways_error")
    st.caption("The network's mean error on the densest and the emptiest quarter of the grid at each t: largest "
               "at small t, where q(xₜ) is concentrated and most of the plane is empty.")


def run() -> None:
    st.title("Two ways back: the reverse SDE and the probability-flow ODE")
    _init_state()
    with lecture.tucked():
        left, right = st.columns(2)
        left.selectbox("Data: a 2-D mixture of Gaussians", toy_score.MIXTURE_NAMES, key="ways_data",
                       format_func=toy_score.MIXTURE_LABELS.get)
        right.number_input("Seed of the start points", min_value=0, max_value=2**31 - 1, step=1, key="ways_seed")
    st.caption(f"This page uses its own schedule, **{SCHEDULE}, T = {NUM_STEPS}** (as the Distributions page), not "
               "the sidebar's. The mixture lives in [−1, 1]², like the digits' pixels.")
    data_name, seed = st.session_state["ways_data"], int(st.session_state["ways_seed"])
    section_score(data_name)
    section_two_ways(data_name, seed)
    section_learned(data_name)


if __name__ == "__main__":
    run()
