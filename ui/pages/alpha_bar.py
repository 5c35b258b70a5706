"""ᾱ_t page: the signal and noise coefficients of q(x_t | x_0), the product check, and the SNR."""
from __future__ import annotations

import math

import streamlit as st

from diffusion_core import slides
from diffusion_core.forward import index_of, paper_timesteps
from diffusion_core.schedules import ScheduleSpec
from ui import links, sidebar
from ui.components import scrubber, scrubber_specs
from ui.slides import download_view

READOUT = (  # filled in the browser with coefficient_scrubber's fields at the reader's t
    "<b>At t = {0}</b><table>"
    "<tr><td>β<sub>t</sub> (this step's noise)</td><td>{1}</td></tr>"
    "<tr><td>ᾱ<sub>t</sub></td><td>{2}</td></tr>"
    "<tr><td>mean coefficient √ᾱ<sub>t</sub></td><td>{3}</td></tr>"
    "<tr><td>standard deviation √(1 − ᾱ<sub>t</sub>)</td><td>{4}</td></tr>"
    "<tr><td>SNR = ᾱ<sub>t</sub> / (1 − ᾱ<sub>t</sub>)</td><td>{5}</td></tr>"
    "<tr><td>log SNR</td><td>{6}</td></tr></table>"
    "<p><b>The product check</b><br>ᾱ<sub>{0}</sub> = ∏<sub>s=1</sub><sup>{0}</sup> (1 − β<sub>s</sub>) = {7}<br>"
    "<span class='small'>The schedule's cumulative product (torch.cumprod in float64) gives {8}; the product "
    "taken here factor by factor differs by {9}.</span></p>"
    "<p><b>The distribution of x<sub>t</sub> given x<sub>0</sub></b><br>"
    "q(x<sub>{0}</sub> | x<sub>0</sub>) = 𝒩({3} x<sub>0</sub>, {10} I)</p>"
)


@st.cache_data(max_entries=8, show_spinner=False)
def coefficient_scrubber(choice: ScheduleSpec) -> dict:
    """ᾱ_t, √ᾱ_t and √(1 − ᾱ_t) over t, and below them the SNR on a log axis, with the numbers at
    every t: the browser moves the marker on both charts and fills the readout while the slider is
    dragged."""
    schedule = choice.build()
    t_values = paper_timesteps(schedule)
    columns = zip(t_values.tolist(), schedule.betas.tolist(), schedule.alphas_cumprod.tolist(), schedule.snr.tolist(),
                  schedule.log_snr.tolist())
    fields, product = [], 1.0
    for t, beta, alpha_bar, snr, log_snr in columns:
        product *= 1.0 - beta  # the product check: one factor at a time, as ᾱ_t = Π_{s≤t} (1 − β_s) reads
        fields.append([str(t), f"{beta:.5f}", f"{alpha_bar:.5f}", f"{math.sqrt(alpha_bar):.4f}",
                       f"{math.sqrt(1.0 - alpha_bar):.4f}", f"{snr:.4g}", f"{log_snr:.3f}", f"{product:.12f}",
                       f"{alpha_bar:.12f}", f"{abs(product - alpha_bar):.1e}", f"{1.0 - alpha_bar:.4f}"])
    coefficients = scrubber_specs.CurveChart({
        "ᾱ<sub>t</sub>": schedule.alphas_cumprod.numpy(),
        "√ᾱ<sub>t</sub> (signal coefficient)": schedule.sqrt_alphas_cumprod.numpy(),
        "√(1 − ᾱ<sub>t</sub>) (noise coefficient)": schedule.sqrt_one_minus_alphas_cumprod.numpy()})
    snr = scrubber_specs.CurveChart({"SNR(t) = ᾱ<sub>t</sub> / (1 − ᾱ<sub>t</sub>)": schedule.snr.numpy()},
                                    log_y=True, y_title="SNR (log axis)", height=220)
    return scrubber_specs.curve_scrubber(
        [coefficients, snr], t_values, "t", READOUT, fields,
        alt="ᾱ_t, its square root (the signal coefficient) and √(1 − ᾱ_t) (the noise coefficient) against t; "
            "below, the signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) on a log axis")


def run() -> None:
    st.title("ᾱₜ: how much signal is left")
    st.markdown(r"Everything $q(x_t \mid x_0)$ needs is one number per timestep: $\bar\alpha_t$, the product of "
                r"the $(1 - \beta_s)$ up to $t$. Its square root scales the digit, $\sqrt{1 - \bar\alpha_t}$ "
                "scales the noise.")
    choice, _ = sidebar.schedule_in_force()
    if "alpha_t" not in st.session_state:
        st.session_state["alpha_t"] = choice.num_steps // 4
    st.session_state["alpha_t"] = min(max(int(st.session_state["alpha_t"]), 1), choice.num_steps)
    st.latex(r"q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t)\,I\big),"
             r"\qquad \bar\alpha_t = \prod_{s=1}^{t} (1-\beta_s)")
    at_timestep(choice)
    st.caption(f"Schedule: {choice.label()} (change it in the sidebar). Drag the slider, press and drag on "
               r"either chart, or use the arrow keys on the slider (Home and End for the ends): the marker and the "
               r"numbers follow in your browser. The lower chart is the "
               r"signal-to-noise ratio $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$: it falls over many "
               "orders of magnitude, so it needs a log axis. The signal dominates while SNR > 1, the noise after.")


@st.fragment
def at_timestep(choice: ScheduleSpec) -> None:
    """The chart and numbers at t. The browser redraws them while the slider is dragged; leaving it
    reruns only this fragment, once, to put t in the address."""
    ss = st.session_state
    left_at = scrubber.show({**coefficient_scrubber(choice), "active": index_of(ss["alpha_t"])}, "alpha_coefficients",
                            report=True)
    if left_at is not None and str(left_at).isdigit():  # a label of ours; anything else is ignored
        ss["alpha_t"] = min(max(int(left_at), 1), choice.num_steps)
    t = int(ss["alpha_t"])
    download_view("alpha_bar", lambda: slides.alpha_bar_curves(choice, t), f"{choice.label()}, t = {t}")
    links.write_link("alpha_bar")


if __name__ == "__main__":
    run()
