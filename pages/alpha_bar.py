"""ᾱ_t page: the signal and noise coefficients of q(x_t | x_0), the product check, and the SNR."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

from diffusion_core import figures
from diffusion_core.schedules import NoiseSchedule
from pages import common, share


@st.cache_data(max_entries=32, show_spinner=False)
def coefficient_figure(choice: common.ScheduleChoice, t: int) -> figures.FrozenFigure:
    """ᾱ_t with √ᾱ_t and √(1 − ᾱ_t), marked at t."""
    schedule = choice.build()
    steps = np.arange(1, schedule.num_steps + 1)
    return figures.line_chart(
        {"ᾱ<sub>t</sub>": (steps, schedule.alphas_cumprod.numpy()),
         "√ᾱ<sub>t</sub> (signal coefficient)": (steps, schedule.sqrt_alphas_cumprod.numpy()),
         "√(1 − ᾱ<sub>t</sub>) (noise coefficient)": (steps, schedule.sqrt_one_minus_alphas_cumprod.numpy())},
        "t", "value", marker_x=t)


@st.cache_data(max_entries=8, show_spinner=False)
def snr_figure(choice: common.ScheduleChoice) -> figures.FrozenFigure:
    """SNR(t) on a log axis. It has no marker at t: it stays out of the slider's fragment, so moving t
    redraws one Plotly chart, not two."""
    schedule = choice.build()
    return figures.line_chart({"SNR(t) = ᾱ<sub>t</sub> / (1 − ᾱ<sub>t</sub>)":
                               (np.arange(1, schedule.num_steps + 1), schedule.snr.numpy())}, "t", "SNR (log axis)",
                              log_y=True)


def product_check(betas: list[float], t: int, alpha_bar: float) -> None:
    """ᾱ_t from the schedule against the product of (1 − β_s) taken here, one factor at a time."""
    product = math.prod(1.0 - b for b in betas[:t])
    st.latex(rf"\bar\alpha_{{{t}}} = \prod_{{s=1}}^{{{t}}} (1-\beta_s) = {product:.12f}")
    st.caption(f"The schedule's cumulative product (torch.cumprod in float64) gives {alpha_bar:.12f}; the product "
               f"taken here factor by factor differs by {abs(product - alpha_bar):.1e}.")


def q_parameters(t: int, alpha_bar: float) -> None:
    st.latex(rf"q(x_{{{t}}} \mid x_0) = \mathcal N\big(\sqrt{{\bar\alpha_{{{t}}}}}\,x_0,\ "
             rf"(1-\bar\alpha_{{{t}}})\,I\big)")
    st.latex(rf"= \mathcal N\big({math.sqrt(alpha_bar):.4f}\,x_0,\ {1 - alpha_bar:.4f}\,I\big)")


def metrics(alpha_bar: float, beta: float) -> None:
    signal, noise = math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar)
    snr = alpha_bar / (1.0 - alpha_bar)
    cols = st.columns(5)
    cols[0].metric("βₜ (this step's noise)", f"{beta:.5f}")
    cols[1].metric("ᾱₜ", f"{alpha_bar:.5f}")
    cols[2].metric("mean coefficient √ᾱₜ", f"{signal:.4f}")
    cols[3].metric("standard deviation √(1 − ᾱₜ)", f"{noise:.4f}")
    cols[4].metric("SNR = ᾱₜ / (1 − ᾱₜ)", f"{snr:.4g}", help=f"log SNR = {math.log(snr):.3f}")


def run() -> None:
    st.title("ᾱₜ: how much signal is left")
    st.markdown(r"Everything $q(x_t \mid x_0)$ needs is one number per timestep: $\bar\alpha_t$, the product of "
                r"the $(1 - \beta_s)$ up to $t$. Its square root scales the digit, $\sqrt{1 - \bar\alpha_t}$ "
                "scales the noise.")
    choice, schedule = common.schedule_in_force()
    if "alpha_t" not in st.session_state:
        st.session_state["alpha_t"] = choice.num_steps // 4
    st.session_state["alpha_t"] = min(max(int(st.session_state["alpha_t"]), 1), choice.num_steps)
    at_timestep(choice, schedule)
    st.caption(f"Schedule: {choice.label()} (change it in the sidebar).")
    st.subheader("Signal-to-noise ratio")
    st.markdown(r"$\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$ falls over many orders of magnitude, "
                "so it needs a log axis: the signal dominates while SNR > 1, the noise after. Its value at the "
                "selected t is the last figure above the chart.")
    common.show(snr_figure(choice), "alpha_snr")


@st.fragment
def at_timestep(choice: common.ScheduleChoice, schedule: NoiseSchedule) -> None:
    """Everything that depends on t: moving the slider reruns only this, not the page around it."""
    t = st.slider("Timestep t", min_value=1, max_value=choice.num_steps, key="alpha_t")
    betas = schedule.betas.tolist()
    alpha_bar = float(schedule.alphas_cumprod[t - 1])
    coefficients = coefficient_figure(choice, t)
    chart, numbers = st.columns([3, 2], gap="large")
    with chart:
        common.show(coefficients, "alpha_coefficients")
    with numbers:
        st.markdown("**The product check**")
        product_check(betas, t, alpha_bar)
        st.markdown(r"**The distribution of $x_t$ given $x_0$**")
        q_parameters(t, alpha_bar)
    metrics(alpha_bar, betas[t - 1])
    share.write_link("alpha_bar")


if __name__ == "__main__":
    run()
