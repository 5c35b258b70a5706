"""Home: what diffusion is, a digit forming before the reader's eyes, and what each page teaches."""
from __future__ import annotations

import sys
import time

import numpy as np
import streamlit as st

CARDS = (
    ("ui/pages/forward.py", "Forward noising", ":material/blur_on:",
     r"Watch a digit dissolve into noise. Scrub $t$ and see $x_t$ split into $\sqrt{\bar\alpha_t}\,x_0$ and "
     r"$\sqrt{1-\bar\alpha_t}\,\varepsilon$, its histogram turn into $\mathcal N(0, 1)$, and the closed form "
     "agree with the step-by-step chain."),
    ("ui/pages/schedules.py", "Beta schedules", ":material/stacked_line_chart:",
     r"Linear, cosine, quadratic, sigmoid and your own: $\beta_t$, $\bar\alpha_t$ and log SNR side by side, the "
     "same digit under each, and when each one has destroyed half, 90 % and 99 % of the signal."),
    ("ui/pages/alpha_bar.py", "ᾱₜ", ":material/trending_down:",
     r"The one number behind $q(x_t \mid x_0)$: signal and noise coefficients at any $t$, the check that "
     r"$\bar\alpha_t$ is the product of the $(1 - \beta_s)$, and the signal-to-noise ratio on a log axis."),
    ("ui/pages/reverse.py", "Reverse denoising", ":material/auto_awesome:",
     r"Run the trained network, DDPM or DDIM, with or without a label and guidance, and step through every "
     r"reverse step: $x_t$, the predicted noise $\hat\varepsilon$ and the predicted clean image $\hat x_0$."),
    ("ui/pages/restore.py", "Noise and restore", ":material/healing:",
     r"Noise your digit (or one you draw) to $t$ and let the network bring it back: at small $t$ it is "
     "cleaned up and keeps its identity, at large $t$ the network invents a new digit."),
    ("ui/pages/distributions.py", "Distributions", ":material/bubble_chart:",
     r"How a whole data distribution melts into $\mathcal N(0, 1)$: a 1-D mixture's exact $q(x_t)$, a 2-D point "
     "cloud scrubbed from data to noise, why the prior stays put, and a tiny denoiser trained live that carries "
     "the noise back."),
    ("ui/pages/latent.py", "Latent diffusion", ":material/compress:",
     r"How Stable Diffusion scales up: an autoencoder squeezes a digit into a $4\times7\times7$ latent, the same "
     "diffusion runs there, and the decoder draws the result. Both pipelines side by side, cost and quality."),
    ("ui/pages/two_ways.py", "Two ways back", ":material/call_split:",
     r"A 2-D mixture whose score $\nabla \log q(x_t)$ is exact: the same noise carried back by the reverse SDE "
     "(DDPM) and the probability-flow ODE (DDIM), landing on the same distribution, and where a trained network's "
     "score goes wrong."),
    ("ui/pages/flow_matching.py", "Flow matching", ":material/straighten:",
     r"Train a velocity on straight paths $x_t = (1 - t)\,x_0 + t\,\varepsilon$ beside the DDPM denoiser: their "
     "paths side by side, and the samples of each after 1 to 64 Euler steps, scored by the energy distance."),
    ("ui/pages/guidance.py", "Guidance geometry", ":material/call_made:",
     r"Classifier-free guidance as vectors: $\varepsilon_\varnothing$, $\varepsilon_y$ and "
     r"$\hat\varepsilon = \varepsilon_\varnothing + w\,(\varepsilon_y - \varepsilon_\varnothing)$ at a point, and "
     "where guided samples land as w grows."),
)
CARDS_PER_ROW = 4  # wide enough for a card's text at the app's width


@st.cache_data(max_entries=8, show_spinner=False)
def forming_gif(frames: np.ndarray) -> bytes:
    """uint8 (F, 28, 28) states of one reverse run -> a GIF that plays once (the browser enlarges it, see app.py)."""
    from ui import figures  # imports plotly: not before the text is shown

    # Played once (3.5 s, then the digit stays): moving content that starts by itself stops within 5 s
    # (WCAG 2.2.2); "Generate another digit" plays a new one.
    return figures.animated_gif(frames, frame_ms=min(200, 3500 // max(1, len(frames) - 1)), hold_ms=2500,
                                repeat=False)


def _forming_digit() -> None:
    if "torch" not in sys.modules:
        # Importing torch holds the interpreter lock for about a second at a time (loading its
        # libraries), so the server could not send the text above until it is done. Pausing here
        # lets the server's event loop send it first: on a cold start the page is readable sooner.
        time.sleep(0.1)
    from diffusion_core.samplers import DEFAULT_GUIDANCE
    from ui import runs  # torch and the U-Net: imported after the text is on screen

    if "home_seed" not in st.session_state:
        st.session_state["home_seed"] = 0
    seed = int(st.session_state["home_seed"])
    spec = runs.RunSpec(seed=seed, label=seed % 10, guidance=DEFAULT_GUIDANCE)  # the default sampler and steps
    run = runs.record(spec)
    if run is None:
        return
    st.image(forming_gif(run.xs[:, 0]), width=224,
             alt=f"Animation, {len(run.xs) - 1} reverse steps: a {spec.label} forms out of pure Gaussian noise, from "
                 "grey static to a clean white digit on black, and stays.",
             caption=f"A {spec.label} forming from pure noise, computed by the pretrained network on this server "
                     f"({spec.describe()}).")
    from diffusion_core import slides  # matplotlib: like torch, not before the text is shown
    from ui.slides import download_view

    state_t = np.append(run.t, 0)  # xs[k] is the state at run.t[k]; the last one is x_0
    picked = slides.states_near(state_t)
    download_view("home", lambda: slides.trajectory_strip(run.xs[picked, 0], state_t[picked], spec.describe()),
                  repr(spec))

    def another() -> None:
        st.session_state["home_seed"] += 1

    st.button("Generate another digit", key="home_another", on_click=another)


def run() -> None:
    st.title("Diffusion models, step by step")
    text, digit = st.columns([3, 2], gap="large")
    with text:
        st.markdown(
            "A **diffusion model** learns to make images by learning to undo noise.\n\n"
            r"* The **forward process** takes a real image $x_0$ and adds a little Gaussian noise at each of $T$ "
            r"steps, until nothing but noise $x_T$ is left. It has no parameters: a schedule "
            r"$\beta_1, \dots, \beta_T$ says how much noise each step adds." "\n"
            "* The **reverse process** starts from pure noise and removes it step by step. A neural network "
            r"(here a small U-Net trained on MNIST) predicts, at each step, the noise $\hat\varepsilon$ in its "
            "input; taking it away gives a slightly cleaner image, and after the last step, a digit nobody drew.\n\n"
            "Each page below shows one part of this, with every formula on screen computed by the code that "
            "draws the pictures.")
    st.divider()
    for first in range(0, len(CARDS), CARDS_PER_ROW):
        for column, (path, title, icon, blurb) in zip(st.columns(CARDS_PER_ROW), CARDS[first:first + CARDS_PER_ROW]):
            with column.container(border=True, height="stretch"):
                st.page_link(path, label=title, icon=icon)
                st.caption(blurb)
    with digit:  # last: on a cold start this waits for torch, while the rest is already readable
        _forming_digit()


if __name__ == "__main__":
    run()
