"""Beta schedules: linear, cosine, quadratic, sigmoid and a custom linear one, compared."""
from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion_core import data, slides
from diffusion_core.forward import alphas_cumprod_from_zero, coefficients, fixed_noise, paper_timesteps
from diffusion_core.schedules import (
    DEFAULT_BETA_END,
    DEFAULT_BETA_START,
    DEFAULT_NUM_STEPS,
    SCHEDULE_NAMES,
    ScheduleSpec,
)
from ui import figures, links
from ui.components import chart, scrubber, scrubber_specs
from ui.digits import choose_x0
from ui.slides import download_view

THRESHOLDS = (0.5, 0.1, 0.01)
FRACTIONS = tuple(float(f) for f in np.round(np.linspace(0.0, 1.0, 51), 2))  # t / T of the comparison frames
CUSTOM = "custom linear"
CURVES = dict(zip(links.CURVE_NAMES, ("βₜ (log axis)", "ᾱₜ", "log SNR")))
PLOTTED = {  # curve -> (its values for a schedule, the y axis title)
    "beta": (lambda s: s.betas, "β<sub>t</sub> (log axis)"),
    "alpha_bar": (lambda s: s.alphas_cumprod, "ᾱ<sub>t</sub>"),
    "log_snr": (lambda s: s.log_snr, "log SNR = log(ᾱ<sub>t</sub> / (1 − ᾱ<sub>t</sub>))"),
}


@st.cache_data(max_entries=16, show_spinner=False)
def curve_figure(choices: dict[str, ScheduleSpec], curve: str):
    """A line chart of one curve for each schedule, against t. Only the chart on screen is built:
    a new custom schedule costs one figure, not three."""
    values, title = PLOTTED[curve]
    schedules = {name: choice.build() for name, choice in choices.items()}
    series = {name: (paper_timesteps(schedule), values(schedule).numpy()) for name, schedule in schedules.items()}
    return figures.line_chart(series, "t", title, log_y=curve == "beta")


@st.cache_data(max_entries=16, show_spinner=False)
def comparison_figure(x0: np.ndarray, choices: dict[str, ScheduleSpec], seed: int) -> dict:
    """The same x_0 and ε under every schedule, at the same fraction t / T of its chain: x_t =
    √ᾱ_t x_0 + √(1 − ᾱ_t) ε, which the browser draws from x_0, ε and each schedule's coefficients."""
    weights, captions = [], [[] for _ in FRACTIONS]
    for name, choice in choices.items():
        schedule = choice.build()
        t_values = comparison_t(choice.num_steps)
        weights.append(np.stack(coefficients(schedule, t_values), axis=1))  # (F, 2)
        alpha_bar = alphas_cumprod_from_zero(schedule)  # indexed by the paper's t
        for k, t in enumerate(t_values):
            captions[k].append(f"{name} ᾱ = {alpha_bar[t]:.3f}")
    x = data.to_model_space(x0[None])[0]  # (1, 28, 28)
    bases = np.stack([x[0].numpy(), fixed_noise(seed, x.shape)[0].numpy()])  # x_0 and ε: (2, 28, 28)
    frames = scrubber_specs.Blend(bases, np.stack(weights, axis=1))  # weights (F, schedules, 2)
    return scrubber_specs.image_scrubber(list(choices), frames, [f"{f:.2f}" for f in FRACTIONS],
                                         [" · ".join(c) for c in captions], active=len(FRACTIONS) * 3 // 10,
                                         prefix="t / T = ", height=170,
                                         alt="The same digit under the same noise, at the same fraction t / T of "
                                             f"each schedule's chain, left to right: {', '.join(choices)}")


def comparison_t(num_steps: int) -> tuple[int, ...]:
    """The paper's t of each comparison frame: the same fraction t / T of every chain."""
    return tuple(round(f * num_steps) for f in FRACTIONS)


def threshold_table(choices: dict[str, ScheduleSpec]) -> dict[str, list]:
    rows: dict[str, list] = {"schedule": list(choices)}
    for threshold in THRESHOLDS:
        rows[f"t where ᾱₜ < {threshold:g}"] = [str(choice.build().first_index_below(threshold) or "never")
                                                 for choice in choices.values()]
    rows["T"] = [choice.num_steps for choice in choices.values()]
    return rows


def custom_schedule() -> ScheduleSpec | None:
    for key, value in (("custom_beta_start", DEFAULT_BETA_START), ("custom_beta_end", 0.05),
                       ("custom_T", 500)):
        if key not in st.session_state:
            st.session_state[key] = value
    st.markdown(f"**Your own linear schedule** (the DDPM default is β from {DEFAULT_BETA_START:g} to "
                f"{DEFAULT_BETA_END:g} over T = {DEFAULT_NUM_STEPS})")
    a, b, c = st.columns(3)
    a.number_input("β start", min_value=0.0, max_value=0.9999, step=1e-4, format="%.5f", key="custom_beta_start")
    b.number_input("β end", min_value=0.0, max_value=0.9999, step=1e-3, format="%.4f", key="custom_beta_end")
    c.number_input("T", min_value=2, max_value=links.MAX_T, step=50, key="custom_T")
    choice = ScheduleSpec("linear", int(st.session_state["custom_T"]), float(st.session_state["custom_beta_start"]),
                          float(st.session_state["custom_beta_end"]))
    try:
        choice.build()
    except ValueError as exc:
        st.error(f"This custom schedule makes no sense: {exc}. It is left out of the comparison.")
        return None
    return choice


def formulas() -> None:
    with st.expander("The formulas, as diffusion_core/schedules.py computes them"):
        st.latex(r"\text{linear (DDPM):}\quad \beta_t = \beta_1 + (\beta_T - \beta_1)\,\frac{t-1}{T-1}")
        st.latex(r"\text{quadratic:}\quad \beta_t = \Big(\sqrt{\beta_1} + (\sqrt{\beta_T} - \sqrt{\beta_1})\,"
                 r"\frac{t-1}{T-1}\Big)^2")
        st.latex(r"\text{sigmoid:}\quad \beta_t = \beta_1 + (\beta_T - \beta_1)\,\sigma\!\Big(-6 + 12\,"
                 r"\frac{t-1}{T-1}\Big)")
        st.latex(r"\text{cosine (improved DDPM):}\quad f(t) = \cos^2\!\Big(\frac{t/T + s}{1 + s}\cdot"
                 r"\frac{\pi}{2}\Big),\quad \beta_t = \min\Big(1 - \frac{f(t)}{f(t-1)},\ 0.999\Big)")
        st.latex(r"\bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s),\qquad "
                 r"\log \mathrm{SNR}(t) = \log \frac{\bar\alpha_t}{1 - \bar\alpha_t}")
        st.caption(f"Named schedules use their defaults: β₁ = {DEFAULT_BETA_START:g}, β_T = {DEFAULT_BETA_END:g}, "
                   "s = 0.008, T = 1000. For the cosine schedule ᾱₜ equals f(t)/f(0) until the clip at 0.999.")


def run() -> None:
    st.title("Beta schedules")
    st.markdown(
        r"The schedule $\beta_1, \dots, \beta_T$ decides how fast the forward process destroys the signal. Add "
        "noise **too fast** and the digit is gone after a few steps: most of the chain is spent on pure noise, "
        "where there is nothing left to learn, and the few steps that matter are crowded at the start. Add it "
        r"**too slowly** and $x_T$ still holds part of the digit, so sampling from pure noise starts from the "
        "wrong place. The cosine schedule (Nichol & Dhariwal 2021) spreads the destruction more evenly than the "
        "linear one of DDPM.")
    formulas()
    history()
    compared()


def history() -> None:
    st.markdown(
        r"**Fixed or learned?** DDPM (Ho et al. 2020) fixes $\beta_1, \dots, \beta_T$ by hand, and the reverse "
        r"variances too ($\sigma_t^2 = \beta_t$ or $\tilde\beta_t$); only $\varepsilon_\theta$ is learned. The "
        "first diffusion model, Sohl-Dickstein et al. (2015), learned the β schedule by gradient ascent on the "
        "variational bound, with β₁ held fixed. Nichol & Dhariwal (2021) keep β fixed (and propose the cosine "
        r"schedule) but learn the reverse variances $\Sigma_\theta(x_t, t)$, interpolating between $\beta_t$ and "
        r"$\tilde\beta_t$. Kingma et al. (2021, Variational Diffusion Models) learn the schedule itself, as a "
        "monotonic network for the log-SNR curve: in continuous time the bound depends on the schedule only "
        "through SNR at its two ends, and the shape in between is learned to lower the variance of the training "
        "loss.")


@st.fragment
def compared() -> None:
    """Everything that depends on the custom schedule: changing it reruns only this part of the page."""
    choices = {name: ScheduleSpec(name) for name in SCHEDULE_NAMES}
    custom = custom_schedule()
    if custom is not None:
        choices[CUSTOM] = custom
    curves(choices)
    st.header("When is the signal gone?")
    st.table(threshold_table(choices))
    st.header("The same digit, the same noise, each schedule")
    side_by_side(choices)


@st.fragment
def curves(choices: dict[str, ScheduleSpec]) -> None:
    """One chart at a time, chosen here (a rerun of this fragment only): tabs would keep all three
    in the page, and a heavier page makes every other control's rerun slower to draw."""
    if "sched_curve" not in st.session_state:
        st.session_state["sched_curve"] = "beta"
    shown = st.segmented_control("Curve", list(CURVES), format_func=CURVES.get, key="sched_curve", required=True,
                                 label_visibility="collapsed")
    chart.show(curve_figure(choices, shown), f"sched_{shown}")
    download_view(f"schedules_{shown}", lambda: slides.schedule_curves(choices, shown),
                  "; ".join(f"{name}: {choice.label()}" for name, choice in choices.items()))
    links.write_link("schedules")


@st.fragment
def side_by_side(choices: dict[str, ScheduleSpec]) -> None:
    """The digit, the seed and the comparison: changing them reruns only this part of the page."""
    left, right = st.columns([3, 1])
    with left:
        x0, origin = choose_x0("schedules")
    with right:
        if "schedules_seed" not in st.session_state:
            st.session_state["schedules_seed"] = 0
        st.number_input("Noise seed", min_value=0, max_value=2**31 - 1, step=1, key="schedules_seed")
    scrubber.show(comparison_figure(x0, choices, int(st.session_state["schedules_seed"])), "sched_compare")
    st.caption(f"$x_0$: {origin}. Each panel is $x_t$ at the same fraction $t/T$ of its own chain, "
               "with one ε for all.")
    links.write_link("schedules")


if __name__ == "__main__":
    run()
