"""Forward noising: x_0 -> x_t in closed form or step by step, scrubbed in the browser."""
from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion_core import data, slides
from diffusion_core.forward import alphas_cumprod_from_zero, coefficients, fixed_noise, forward_states, t_grid
from diffusion_core.schedules import ScheduleSpec
from ui import figures, lecture, links, sidebar
from ui.components import scrubber, scrubber_specs
from ui.digits import choose_x0
from ui.slides import download_view

EDGES = np.linspace(-4.0, 4.0, 41)  # histogram bins of the pixel values of x_t
DENSITY_X = np.linspace(-4.0, 4.0, 161)
STRIP_FRACTIONS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # of T, for the strip of x_t


@st.cache_data(max_entries=16, show_spinner=False)
def forward_figures(x0: np.ndarray, choice: ScheduleSpec, seed: int, chain: bool):
    """(scrubber, strip) for x_0 (uint8 28x28) under ``choice`` with the noise of ``seed``.

    Not split into a cached noising step: hashing its arguments and pickling its arrays would add
    about a third to each new seed's cost."""
    schedule = choice.build()
    alpha_bar = alphas_cumprod_from_zero(schedule)  # indexed by the paper's t
    grid = t_grid(choice.num_steps)
    strip_t = tuple(sorted({round(f * choice.num_steps) for f in STRIP_FRACTIONS}))
    every_t = tuple(sorted(set(grid) | set(strip_t)))  # one draw (one run of the chain) serves both
    x = data.to_model_space(x0[None])[0]  # (1, 28, 28)
    xt_all, signal_all, noise_all = (a[:, 0].numpy() for a in forward_states(x, schedule, every_t, seed, chain))
    at_grid = [every_t.index(t) for t in grid]
    xt, signal, noise = xt_all[at_grid], signal_all[at_grid], noise_all[at_grid]
    if chain:  # every state has noise of its own: a PNG per frame
        frames = np.stack([data.to_pixels(a) for a in (xt, signal, noise)], axis=1)  # (F, 3, 28, 28)
    else:  # x_t, √ᾱ_t x_0 and √(1 − ᾱ_t) ε: the browser draws them from x_0 and ε
        a, b = coefficients(schedule, grid)
        zero = np.zeros_like(a)
        weights = np.stack([np.stack(pair, axis=1) for pair in ((a, b), (a, zero), (zero, b))], axis=1)  # (F, 3, 2)
        bases = np.stack([x[0].numpy(), fixed_noise(seed, x.shape)[0].numpy()])  # x_0 and ε, (2, 28, 28)
        frames = scrubber_specs.Blend(bases, weights)
    eps_name = "ε" if not chain else "ε̄<sub>t</sub>"
    captions = [f"t = {t} · ᾱ<sub>t</sub> = {alpha_bar[t]:.4f} · x<sub>t</sub> = {np.sqrt(alpha_bar[t]):.3f} "
                f"x<sub>0</sub> + {np.sqrt(1 - alpha_bar[t]):.3f} {eps_name}" for t in grid]
    bars = scrubber_specs.Bars(EDGES, figures.histogram_densities(xt.reshape(len(grid), -1), EDGES), DENSITY_X,
                               figures.normal_pdf(DENSITY_X), "pixel values of x<sub>t</sub>", "N(0, 1) density",
                               y_max=1.2)
    scrubber = scrubber_specs.image_scrubber(
        ["x<sub>t</sub>", "√ᾱ<sub>t</sub> · x<sub>0</sub>", f"√(1 − ᾱ<sub>t</sub>) · {eps_name}"], frames,
        [str(t) for t in grid], captions, bars=bars, joiners=["=", "+"], height=200)
    strip_xt = xt_all[[every_t.index(t) for t in strip_t]]
    strip = scrubber_specs.image_row(data.to_pixels(strip_xt), [f"t = {t}" for t in strip_t])
    return scrubber, strip


def formulas() -> None:
    """Both processes, whichever the switch shows: the same text in both modes, so the switch does not
    make the browser typeset new formulas."""
    closed, chain = st.columns(2)
    closed.markdown("**Closed form** q(x<sub>t</sub> | x<sub>0</sub>), switch off", unsafe_allow_html=True)
    closed.latex(r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,"
                 r"\qquad \varepsilon \sim \mathcal N(0, I)")
    chain.markdown("**Markov chain** q(x<sub>t</sub> | x<sub>t−1</sub>), switch on", unsafe_allow_html=True)
    chain.latex(r"x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon_t,"
                r"\qquad \varepsilon_t \sim \mathcal N(0, I)")
    st.caption(r"With $\bar\alpha_t = \prod_{s=1}^{t} (1-\beta_s)$. The closed form uses one draw of $\varepsilon$ "
               r"(fixed by the seed) for every $t$, so dragging the slider only changes the weights "
               r"$\sqrt{\bar\alpha_t}$ and $\sqrt{1-\bar\alpha_t}$: the image changes continuously. The chain "
               r"draws fresh noise $\varepsilon_t$ at every step (its first step draws the same $\varepsilon$); "
               r"its panels split each state the same way, $x_t = \sqrt{\bar\alpha_t}\,x_0 + "
               r"\sqrt{1-\bar\alpha_t}\,\bar\varepsilon_t$, with $\bar\varepsilon_t \sim \mathcal N(0, I)$ "
               r"the noise accumulated so far. At every $t$ its states have the closed form's distribution.")


def run() -> None:
    st.title("Forward noising")
    st.markdown("The forward process destroys a digit by mixing in Gaussian noise, a little at each of $T$ steps. "
                "**Drag the slider under the images**: they follow in your browser, with no waiting.")
    choice, _ = sidebar.schedule_in_force()
    ss = st.session_state
    for key, value in (("forward_seed", 0), ("forward_chain", False), ("forward_t", choice.num_steps // 4)):
        if key not in ss:
            ss[key] = value
    ss["forward_t"] = min(int(ss["forward_t"]), choice.num_steps)  # the scrubber's t, in the link
    formulas()
    noising(choice)


@st.fragment
def noising(choice: ScheduleSpec) -> None:
    """x_0, the seed, the chain switch and what they draw: changing them, or leaving the scrubber at
    another t, reruns only this, not the page around it."""
    ss = st.session_state
    with lecture.tucked("x₀, seed and chain"):
        left, right = st.columns([3, 2])
        with left:
            x0, origin = choose_x0("forward")
        with right:
            st.number_input("Noise seed (fixes ε)", min_value=0, max_value=2**31 - 1, step=1, key="forward_seed")
            st.toggle("Explicit Markov chain, one step at a time", key="forward_chain",
                      help="Off: the closed form q(x_t | x_0). On: x_1, x_2, … each from the one before, same seed.")
    chain = bool(ss["forward_chain"])
    images, strip = forward_figures(x0, choice, int(ss["forward_seed"]), chain)
    opening = scrubber.nearest_frame(images["labels"], str(ss["forward_t"]))  # a link's t, or where the reader left it
    # What the frames show, in words; the browser adds t, ᾱ_t and the weights of the frame on screen.
    alt = (f"x_t, the digit x_0 ({origin}) under noise, split into √ᾱ_t x_0, the fading digit, plus √(1 − ᾱ_t) "
           f"{'ε̄_t' if chain else 'ε'}, the growing noise; beside them a histogram of x_t's pixel values against the "
           "N(0, 1) density")
    left_at = scrubber.show({**images, "active": opening, "alt": alt}, "forward_scrubber", report=True)
    if left_at is not None and str(left_at).isdigit():  # a label of ours; anything else is ignored
        ss["forward_t"] = min(int(left_at), choice.num_steps)  # the address follows the scrubber
    st.caption(f"$x_0$: {origin}. Schedule: {choice.label()}. Images show −1 as black and 1 as white, clipped. "
               r"The histogram turns from the two spikes of a clean digit (background −1, ink near 1) into "
               r"$\mathcal N(0, 1)$.")
    st.header("$x_t$ at a few timesteps")
    times = ", ".join(title["text"].removeprefix("t = ") for title in strip["titles"])
    scrubber.show({**strip, "alt": f"x_t of the same digit at t = {times}, left to right: the digit fades into "
                                   "noise"}, "forward_strip")
    seed, strip_t = int(ss["forward_seed"]), [int(t) for t in times.split(", ")]
    download_view("forward", lambda: slides.forward_strip(x0, choice, strip_t, seed, chain),
                  f"{choice.label()}, seed {seed}, chain {chain}, t = {times}", x0)
    links.write_link("forward")


if __name__ == "__main__":
    run()
