"""Guidance as geometry: on a two-class 2-D toy with exact scores, the vectors eps_0, eps_y and
eps_hat = eps_0 + w (eps_y - eps_0) at a point, and where guided samples land as w grows."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from diffusion_core import slides_toy, toy, toy_score
from diffusion_core.forward import alphas_cumprod_from_zero
from diffusion_core.schedules import index_of
from ui import flow_figures as ff
from ui import lecture
from ui.components import chart
from ui.slides import download_view

SCHEDULE, NUM_STEPS = "cosine", 100
W_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # the frames: guidance strengths
ARROW_SCALE = 1.0  # each eps at its own length: between the classes |eps| is a few tenths, the plane 4 wide
SAMPLES, CLOUD = 400, 300
CLASS_COLOURS = (ff.BLUE, ff.GREEN)
DEFAULTS = {"guide_label": 1, "guide_t": 30, "guide_x": -0.3, "guide_y": 0.1, "guide_seed": 0}
LIMIT = 2.0  # the point must lie in [-2, 2]^2, the plotted square
SLIDE_W = 3.0  # the guidance strength of the figure for slides: past the class, where the lesson is


def _alpha_bar(t: int) -> float:
    return float(alphas_cumprod_from_zero(toy.toy_schedule(SCHEDULE, NUM_STEPS))[t])


def vectors(label: int, t: int, point: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """eps_0 (unconditional) and eps_y at the point, exact. Two (2,) arrays."""
    model = toy_score.ExactEps(toy.toy_schedule(SCHEDULE, NUM_STEPS), toy_score.CLASSES, toy_score.CLASS_WEIGHTS)
    x = torch.tensor([point, point], dtype=torch.float64)
    eps = model(x, torch.full((2,), index_of(t)), torch.tensor([model.null_label, label])).numpy()
    return eps[0], eps[1]


def noised_classes(ab: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Draws of q(x_t | y) for each class, (CLOUD, 2) each: where each class is at this t."""
    clouds = []
    for part in toy_score.CLASSES:
        x0 = part.sample(CLOUD, rng)[0]
        clouds.append(np.sqrt(ab) * x0 + np.sqrt(1 - ab) * rng.standard_normal(x0.shape))
    return clouds


def vectors_slide(label: int, t: int, point: tuple[float, float], eps_none: np.ndarray, eps_label: np.ndarray):
    """The three ε at x_t for slides, at w = SLIDE_W (the page's slider lives in the browser)."""
    ab = _alpha_bar(t)
    clouds = noised_classes(ab, np.random.default_rng(3))
    settings = (f"class y = {label}, t = {t} (ᾱ_t = {ab:.3f}), x_t = ({point[0]:+.2f}, {point[1]:+.2f}), "
                f"cosine, T = {NUM_STEPS}")
    return slides_toy.guidance_vectors(point, eps_none, eps_label, SLIDE_W, clouds, settings, scale=ARROW_SCALE)


@st.cache_data(max_entries=16, show_spinner=False)
def guidance_figure(label: int, t: int, point: tuple[float, float], seed: int):
    ab = _alpha_bar(t)
    schedule = toy.toy_schedule(SCHEDULE, NUM_STEPS)
    eps_none, eps_label = vectors(label, t, point)
    x = np.asarray(point)
    rng = np.random.default_rng(3)
    clouds = [ff.points(noisy, CLASS_COLOURS[y], f"q(x<sub>t</sub> | y = {y})", size=4, opacity=0.35)
              for y, noisy in enumerate(noised_classes(ab, rng))]
    here = ff.points(x[None], "black", "x<sub>t</sub>", size=11)
    data = [ff.points(part.sample(CLOUD, rng)[0], CLASS_COLOURS[y], f"data, y = {y}", size=4, opacity=0.3)
            for y, part in enumerate(toy_score.CLASSES)]
    modes = np.asarray(toy_score.CLASSES[label].means)
    fixed = [*ff.arrows(x[None], ARROW_SCALE * eps_none[None], ff.GREY, "ε<sub>∅</sub> (no label)", width=3),
             *ff.arrows(x[None], ARROW_SCALE * eps_label[None], CLASS_COLOURS[label], f"ε<sub>y</sub> (y = {label})",
                        width=3)]
    geometry, samples, captions = [], [], []
    for w in W_VALUES:
        guided = eps_none + w * (eps_label - eps_none)
        tips = x + ARROW_SCALE * np.stack([eps_none, guided])  # (2, 2): the line from ε_∅'s tip to ε̂'s
        line = ff.line(tips[:, 0], tips[:, 1], ff.RED, "ε<sub>∅</sub> + w (ε<sub>y</sub> − ε<sub>∅</sub>)", dash="dot")
        x0_hat = (x - np.sqrt(1 - ab) * guided) / np.sqrt(ab)  # where this eps says x_0 is
        geometry.append([line, *ff.arrows(x[None], ARROW_SCALE * guided[None], ff.RED, "ε̂ (guided)", width=3),
                         {**ff.points(x0_hat[None], ff.RED, "x̂<sub>0</sub> from ε̂", size=12),
                          "marker": {"symbol": "x", "size": 12, "color": ff.RED}}])
        drawn = toy_score.guided_samples(schedule, label, w, SAMPLES, seed)
        nearest = np.argmin(((drawn[:, None] - modes[None]) ** 2).sum(-1), axis=1)
        shares = " / ".join(f"{np.mean(nearest == k):.0%}" for k in range(len(modes)))
        spread = np.linalg.norm(drawn - modes[nearest], axis=1).mean()
        samples.append([ff.points(drawn, ff.RED, "guided samples", size=4)])
        captions.append(f"w = {w:g} · samples nearest each mode of class {label}: {shares} · "
                        f"mean distance to that mode {spread:.2f}")
    panels = [ff.Panel(f"at x<sub>t</sub>, t = {t}: the three ε (× {ARROW_SCALE:g})", [*clouds, here, *fixed],
                       geometry, limit=LIMIT),
              ff.Panel(f"guided samples for y = {label} (DDIM η = 0)", data, samples, limit=LIMIT)]
    return ff.panels_scrubber(panels, [f"{w:g}" for w in W_VALUES], captions, active=W_VALUES.index(1.0),
                              prefix="w = ", height=560), eps_none, eps_label


def _init_state() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def run() -> None:
    st.title("Guidance as geometry")
    _init_state()
    st.markdown("Classifier-free guidance (Ho & Salimans 2022) mixes two predictions of the noise: one without a "
                "label, ε_∅, and one with it, ε_y. With w = 1 it is the conditional model; w > 1 goes **past** it "
                "along the line from ε_∅ through ε_y. Here both are exact: the two classes are mixtures of "
                "Gaussians, so q(xₜ | y) and q(xₜ) = ½ q(xₜ | 0) + ½ q(xₜ | 1) have closed-form scores (see *Two ways "
                "back*).")
    st.latex(r"\hat\varepsilon = \varepsilon_\varnothing + w\,(\varepsilon_y - \varepsilon_\varnothing),\qquad "
             r"\varepsilon_y = -\sqrt{1-\bar\alpha_t}\,\nabla\log q(x_t \mid y),\quad "
             r"\varepsilon_\varnothing = -\sqrt{1-\bar\alpha_t}\,\nabla\log q(x_t)")
    st.latex(r"\hat\varepsilon = -\sqrt{1-\bar\alpha_t}\,\nabla \log\big(q(x_t)\,q(y \mid x_t)^{w}\big)"
             r"\quad\text{(Bayes: } q(x_t \mid y) \propto q(y \mid x_t)\,q(x_t)\text{)}")
    with lecture.tucked():
        cols = st.columns(5)
        cols[0].selectbox("Class y", (0, 1), key="guide_label")
        cols[1].slider("t", 1, NUM_STEPS, key="guide_t")
        cols[2].number_input("Point x₁", min_value=-LIMIT, max_value=LIMIT, step=0.05, key="guide_x")
        cols[3].number_input("Point x₂", min_value=-LIMIT, max_value=LIMIT, step=0.05, key="guide_y")
        cols[4].number_input("Seed of the samples", min_value=0, max_value=2**31 - 1, step=1, key="guide_seed")
    label, t = int(st.session_state["guide_label"]), int(st.session_state["guide_t"])
    point = (float(st.session_state["guide_x"]), float(st.session_state["guide_y"]))
    if not all(-LIMIT <= v <= LIMIT for v in point):
        st.error(f"The point must lie in [−{LIMIT:g}, {LIMIT:g}]², got {point}.")
        return
    figure, eps_none, eps_label = guidance_figure(label, t, point, int(st.session_state["guide_seed"]))
    chart.show(figure, "guide_figure")
    download_view("guidance", lambda: vectors_slide(label, t, point, eps_none, eps_label), f"y {label}, t {t}, {point}")
    st.caption(f"Drag the slider under the plot to change w, in your browser. Left: at the black point xₜ (t = {t}, "
               f"ᾱₜ = {_alpha_bar(t):.3f}), the exact ε_∅ = ({eps_none[0]:+.2f}, {eps_none[1]:+.2f}) in grey and "
               f"ε_y = ({eps_label[0]:+.2f}, {eps_label[1]:+.2f}) in the class colour, drawn "
               f"{ARROW_SCALE:g} × their length; red: the guided ε̂ for w, at the end of the dotted line through ε_∅ "
               "and ε_y, and the "
               "x̂₀ it implies (×). The faint clouds are draws of q(xₜ | y) for each class at this t. Right: "
               f"{SAMPLES} samples of class {label} from the same start points for every w. Class {label}'s first "
               f"mode lies near class {1 - label}: as w grows the samples leave it, go past their class, and crowd "
               "into fewer modes.")
    st.caption("The schedule is this page's own: cosine, T = 100; sampling is DDIM with η = 0 over all 100 steps.")


if __name__ == "__main__":
    run()
