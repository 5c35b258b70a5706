"""Flow matching beside DDPM on the 2-D toy: a velocity on straight paths, trained here, and how each
sampler's quality depends on the number of Euler steps."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from diffusion_core import flow_matching, slides_toy, toy
from ui import flow_figures as ff
from ui import lecture, server
from ui.components import chart
from ui.slides import download_view

STEPS = (1, 2, 4, 8, 16, 64)  # Euler steps compared
PATH_STEPS, PATH_FRAMES = 64, 33  # the paths figure: 64 steps, every second one a frame
MOVING, TRAILS, SAMPLES, REFERENCE = 300, 15, 1000, 2000
TRAIN_STEP_CHOICES = (500, 1000, 2000)
DATA_LABELS = {"moons": "two moons", "spiral": "spiral", "ring": "eight Gaussians on a ring",
               "uneven": "three uneven Gaussians"}
DEFAULTS = {"flow_data": "moons", "flow_train_steps": 1000, "flow_seed": 0}


def configs(data: str, train_steps: int) -> tuple[toy.ToyConfig, toy.ToyConfig]:
    """The DDPM denoiser (the distributions page's, cosine T = 100) and the flow-matching velocity net."""
    return (toy.ToyConfig(data=data, train_steps=train_steps),
            toy.ToyConfig(data=data, train_steps=train_steps, objective="flow"))


def _start(seed: int, count: int) -> torch.Tensor:
    return torch.randn((count, 2), generator=torch.Generator().manual_seed(seed))  # x_T = x_1 ~ N(0, I)


@st.cache_data(max_entries=8, show_spinner=False)
def paths_figure(eps_config: toy.ToyConfig, seed: int, _eps: toy.TrainedToy, _flow: toy.TrainedToy):
    """(figure, straightness of each): the same noise carried back by both ODEs in PATH_STEPS steps."""
    start = _start(seed, MOVING)
    ddpm = flow_matching.ddim_flow(_eps.model, eps_config.build_schedule(), start, PATH_STEPS).numpy()
    flow = flow_matching.euler_flow(_flow.model, start, PATH_STEPS).numpy()
    data, colour = toy.toy_points(eps_config.data, 1500, seed=1)
    keep = np.linspace(0, PATH_STEPS, PATH_FRAMES).round().astype(int)
    background = ff.points(data, "rgba(150,150,150,0.35)", "data", size=3, decimals=3)
    landing = [colour[toy.nearest(p[-1], data)[1]] for p in (ddpm, flow)]
    panels = [ff.Panel(title, [background, ff.polylines(p[:, :TRAILS], color, "whole paths", width=1.2)],
                       [[ff.points(p[k], c, "points", size=5)] for k in keep], limit=3.0)
              for title, p, color, c in (("DDPM: probability-flow ODE (DDIM η = 0)", ddpm, ff.BLUE, landing[0]),
                                         ("flow matching: Euler on dx/dt = v<sub>θ</sub>", flow, ff.ORANGE,
                                          landing[1]))]
    captions = [f"after {k} of {PATH_STEPS} steps · flow matching at t = {1 - k / PATH_STEPS:.2f}" for k in keep]
    figure = ff.panels_scrubber(panels, [str(k) for k in keep], captions, active=0, prefix="step ", height=540)
    return figure, flow_matching.straightness(torch.as_tensor(ddpm)), flow_matching.straightness(torch.as_tensor(flow))


@st.cache_data(max_entries=8, show_spinner=False)
def steps_results(eps_config: toy.ToyConfig, seed: int, _eps: toy.TrainedToy, _flow: toy.TrainedToy):
    """Samples, energy distances and the floor of flow_matching.steps_comparison, for this page's settings."""
    return flow_matching.steps_comparison(_eps.model, _flow.model, eps_config.build_schedule(), eps_config.data,
                                          seed, STEPS, SAMPLES, REFERENCE)


def steps_figure(data_name: str, samples: np.ndarray, distances: np.ndarray):
    data = toy.toy_points(data_name, 1500, seed=1)[0]
    background = ff.points(data, "rgba(150,150,150,0.35)", "data", size=3, decimals=3)
    panels = [ff.Panel(title, [background], [[ff.points(samples[i, k, :MOVING * 2], color, "samples", size=4)]
                                             for k in range(len(STEPS))], limit=2.0)
              for i, (title, color) in enumerate((("DDPM (DDIM η = 0)", ff.BLUE),
                                                  ("flow matching (Euler)", ff.ORANGE)))]
    captions = [f"{n} step{'s' * (n > 1)} · energy distance to the data: DDPM {distances[0, k]:.3f}, "
                f"flow matching {distances[1, k]:.3f}" for k, n in enumerate(STEPS)]
    return ff.panels_scrubber(panels, [str(n) for n in STEPS], captions, active=0, prefix="steps: ", height=480)


def _init_state() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def explain() -> None:
    st.markdown("**Flow matching** (Lipman et al. 2023; rectified flow, Liu et al. 2023) joins each data point x₀ to "
                "its noise ε by a straight line and teaches a network v_θ the line's velocity. **DDPM** joins them by "
                "the curve √ᾱₜ x₀ + √(1 − ᾱₜ) ε and teaches ε_θ the noise. Both regress on a quantity of one (x₀, ε) "
                "pair, so both learn its *conditional expectation* given xₜ, the average over every pair whose path "
                "passes through xₜ:")
    st.latex(r"\text{flow matching:}\quad x_t = (1-t)\,x_0 + t\,\varepsilon,\ \ t\in[0,1],\qquad "
             r"\mathcal L = \mathbb E\,\big\|v_\theta(x_t, t) - (\varepsilon - x_0)\big\|^2 \ \Rightarrow\ "
             r"v^*(x, t) = \mathbb E[\varepsilon - x_0 \mid x_t = x]")
    st.latex(r"\text{DDPM:}\quad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad "
             r"\mathcal L = \mathbb E\,\big\|\varepsilon_\theta(x_t, t) - \varepsilon\big\|^2 \ \Rightarrow\ "
             r"\varepsilon^*(x, t) = \mathbb E[\varepsilon \mid x_t = x]")
    st.markdown("Sampling solves an ODE backwards from noise. Flow matching's is dx/dt = v_θ(x, t), taken from t = 1 "
                "to 0 in n equal **Euler steps**, evaluated at t = 1, 1 − 1/n, …, 1/n. DDPM's is the probability-flow "
                "ODE; DDIM with η = 0 is Euler's method for it (Song et al. 2021, DDIM §4.3), written in x/√ᾱ and "
                "σ = √((1 − ᾱ)/ᾱ), so n DDIM steps are n Euler steps. Here x̂₀ is clipped to [−1, 1], so the step uses "
                "ε̃, the noise consistent with the clipped x̂₀ (ε̃ = ε_θ wherever the clip does not act). With "
                "√ᾱ_T ≈ 5·10⁻⁴, at 1–2 steps the clip decides where DDPM's samples land:")
    st.latex(r"\text{flow matching:}\ \ x \leftarrow x - \tfrac{1}{n}\,v_\theta(x, t),\qquad "
             r"\text{DDPM (DDIM):}\ \ \frac{x_{t'}}{\sqrt{\bar\alpha_{t'}}} = \frac{x_t}{\sqrt{\bar\alpha_t}} + "
             r"(\sigma_{t'} - \sigma_t)\,\tilde\varepsilon,\quad "
             r"\tilde\varepsilon = \frac{x_t/\sqrt{\bar\alpha_t} - \operatorname{clip}(\hat x_0)}{\sigma_t}")
    st.markdown("The path decides how curved that ODE is, and Euler's method is exact only on straight lines: where "
                "the velocity keeps its direction along the way, one step goes as far as many.")


def run() -> None:
    st.title("Flow matching: a straight line from data to noise")
    _init_state()
    with lecture.tucked():
        left, middle, right = st.columns(3)
        left.selectbox("Toy data", toy.DATA_NAMES, key="flow_data", format_func=DATA_LABELS.get)
        middle.select_slider("Training steps (each network)", TRAIN_STEP_CHOICES, key="flow_train_steps")
        right.number_input("Seed of the noise", min_value=0, max_value=2**31 - 1, step=1, key="flow_seed")
    data_name, seed = st.session_state["flow_data"], int(st.session_state["flow_seed"])
    eps_config, flow_config = configs(data_name, int(st.session_state["flow_train_steps"]))
    st.caption(f"DDPM here is the Distributions page's tiny denoiser: {eps_config.schedule}, T = "
               f"{eps_config.num_steps}, x̂₀ clipped to [−1, 1] as on the pixel pages (Two ways back and Guidance "
               f"geometry use exact scores and do not clip). The velocity network has the same "
               f"{eps_config.hidden}-wide MLP and the same training budget.")
    explain()
    if not server.ready_to_train([eps_config, flow_config],
                                 f"Train both on the {DATA_LABELS[data_name]} ({eps_config.train_steps} steps each)",
                                 "flow_train", "Press the button to train the DDPM denoiser and the flow-matching "
                                 "velocity; a few seconds each."):
        return
    eps = server.trained_once(eps_config, toy.train_toy, "the DDPM denoiser")
    flow = server.trained_once(flow_config, toy.train_toy, "the flow-matching velocity")
    st.header("1 · The paths, side by side")
    figure, straight_ddpm, straight_flow = paths_figure(eps_config, seed, eps, flow)
    chart.show(figure, "flow_paths")
    st.caption(f"The same {MOVING} noise points carried back in {PATH_STEPS} steps by each network; thin lines: the "
               f"whole paths of {TRAILS}; colour: the part of the data (grey) where a point lands. Straightness, "
               f"the mean of |end − start| / path length (1 for a straight line): DDPM {straight_ddpm:.2f}, flow "
               f"matching {straight_flow:.2f}. Trained in {eps.seconds:.1f} s and {flow.seconds:.1f} s.")
    st.header("2 · Samples against the number of Euler steps")
    samples, distances, floor = steps_results(eps_config, seed, eps, flow)
    left, right = st.columns([3, 2])
    with left:
        chart.show(steps_figure(data_name, samples, distances), "flow_samples")
    with right:
        chart.show(ff.steps_chart(STEPS, {"DDPM (DDIM η = 0)": (distances[0], ff.BLUE),
                                          "flow matching (Euler)": (distances[1], ff.ORANGE)}, floor,
                                  "energy distance to the data"), "flow_distance")
        st.dataframe({"steps": list(STEPS), "DDPM": np.round(distances[0], 3).tolist(),
                      "flow matching": np.round(distances[1], 3).tolist()}, hide_index=True, key="flow_table")
    st.markdown(f"**Energy distance** (Székely & Rizzo) between {SAMPLES:,} samples X and {REFERENCE:,} fresh data "
                "points Y, all pairs averaged: 0 when the two clouds come from one distribution. The dashed line is "
                f"its value for {SAMPLES:,} more data points: about where a perfect sampler would land (one draw, so a "
                "curve can dip just below it).")
    st.latex(r"D(X, Y) = \sqrt{\,2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|\,}")
    settings = f"{DATA_LABELS[data_name]}, {eps_config.train_steps} training steps each, noise seed {seed}"
    download_view("flow_matching", lambda: slides_toy.distance_curves(
        STEPS, {"DDPM (DDIM η = 0)": distances[0], "flow matching (Euler)": distances[1]}, floor,
        f"{SAMPLES:,} samples against {REFERENCE:,} data points · {settings}"), f"{settings}, {eps_config}")


if __name__ == "__main__":
    run()
