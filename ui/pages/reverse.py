"""Reverse denoising, step by step: run the trained network and look at every step it takes."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from diffusion_core import data
from diffusion_core.quality import settling_step
from diffusion_core.samplers import DEFAULT_GUIDANCE, MAX_GUIDANCE, ReverseProcess, initial_noise
from ui import figures, lecture, links, models, runs
from ui.components import chart, scrubber, scrubber_specs

PANEL_TITLES = ("x<sub>t</sub>", "predicted noise ε̂", "predicted x̂<sub>0</sub>", "next state x<sub>t′</sub>")
DEFAULTS = {"rev_seed": 0, "rev_sampler": "ddim", "rev_steps": 50, "rev_eta": 0.0, "rev_label": 3,
            "rev_guidance": DEFAULT_GUIDANCE, "rev_grid": False, "rev_mode": "recorded", "rev_step": 1,
            "rev_frame": "end"}


def controls() -> runs.RunSpec:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    ss = st.session_state
    with lecture.tucked("Seed, sampler, label and guidance"):
        _widgets()
    ddim, labelled = ss["rev_sampler"] == "ddim", ss["rev_label"] != "none"
    return runs.RunSpec(seed=int(ss["rev_seed"]), sampler=ss["rev_sampler"],
                        steps=int(ss["rev_steps"]) if ddim else 1000, eta=float(ss["rev_eta"]) if ddim else 0.0,
                        label=int(ss["rev_label"]) if labelled else None,
                        guidance=float(ss["rev_guidance"]) if labelled else 1.0,
                        batch=runs.GRID if ss["rev_grid"] else 1)


def _widgets() -> None:
    ss = st.session_state
    a, b, c, d = st.columns(4)
    a.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="rev_seed")
    b.radio("Sampler", ("ddpm", "ddim"), key="rev_sampler", horizontal=True,
            format_func={"ddpm": "DDPM, all 1000 steps", "ddim": "DDIM"}.get)
    ddim = ss["rev_sampler"] == "ddim"
    c.number_input("DDIM steps n", min_value=1, max_value=1000, step=10, key="rev_steps", disabled=not ddim)
    d.slider("DDIM η (0: deterministic)", 0.0, 1.0, step=0.1, key="rev_eta", disabled=not ddim)
    a, b, c, _ = st.columns(4)
    a.selectbox("Class label", ["none", *range(10)], key="rev_label")
    labelled = ss["rev_label"] != "none"
    b.slider("Guidance scale w", 0.0, MAX_GUIDANCE / 2, step=0.5, key="rev_guidance", disabled=not labelled,
             help="Classifier-free guidance: 0 ignores the label, 1 is the plain conditional model, "
                  "more pushes harder.")
    c.toggle("A 4×4 grid generated together", key="rev_grid")


def formulas(spec: runs.RunSpec) -> None:
    if spec.label is not None:
        st.latex(r"\hat\varepsilon = \varepsilon_\theta(x_t, t, \varnothing) + w\,\big(\varepsilon_\theta(x_t, t, y)"
                 rf" - \varepsilon_\theta(x_t, t, \varnothing)\big),\qquad y = {spec.label},\ w = {spec.guidance:g}")
    else:
        st.latex(r"\hat\varepsilon = \varepsilon_\theta(x_t, t, \varnothing)\qquad\text{(no label)}")
    st.latex(r"\hat x_0 = \operatorname{clip}_{[-1, 1]}\Big(\frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}"
             r"{\sqrt{\bar\alpha_t}}\Big),\qquad \hat\varepsilon \leftarrow \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}"
             r"{\sqrt{1-\bar\alpha_t}}")
    if spec.sampler == "ddpm":
        st.latex(r"x_{t-1} = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,\hat x_0 + "
                 r"\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t + \sigma_t z,\qquad "
                 r"\sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t")
    else:
        st.latex(r"x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma_t^2}\,\hat\varepsilon"
                 r" + \sigma_t z,\qquad \sigma_t = \eta\,\sqrt{\frac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}}\,"
                 r"\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_{t'}}}")
    st.caption(r"$z \sim \mathcal N(0, I)$, and $z = 0$ at the last step. $t'$ is the next timestep the sampler "
               r"visits ($\bar\alpha = 1$ after the last one); DDPM visits every $t$, so $t' = t - 1$.")


def step_numbers(process: ReverseProcess, k: int) -> str:
    """The update of step k (0 = the noisiest) with this schedule's numbers in it."""
    s, i = process.spaced, process.num_steps - 1 - k
    t, ab, ab_prev = process.paper_t(i), float(s.alphas_cumprod[i]), float(s.alphas_cumprod_prev[i])
    t_next = process.paper_t(i - 1)  # 0 after the last step: the sample
    if process.config.sampler == "ddpm":
        sigma = float(s.posterior_variance[i]) ** 0.5 if i > 0 else 0.0
        return (rf"x_{{{t_next}}} = {float(s.posterior_mean_coef1[i]):.4f}\,\hat x_0 + "
                rf"{float(s.posterior_mean_coef2[i]):.4f}\,x_{{{t}}} + {sigma:.4f}\,z")
    sigma = float(process.ddim_sigmas[i])
    return (rf"x_{{{t_next}}} = {ab_prev ** 0.5:.4f}\,\hat x_0 + {max(1 - ab_prev - sigma ** 2, 0) ** 0.5:.4f}\,"
            rf"\hat\varepsilon + {sigma:.4f}\,z\qquad (\bar\alpha_{{{t}}} = {ab:.4f})")


def show_step(process: ReverseProcess, images: list[np.ndarray], k: int, key: str) -> None:
    """x_t, ε̂, x̂_0 and the next state of step k, each uint8 (B, 28, 28), with the update in numbers."""
    st.latex(step_numbers(process, k))
    scrubber.show(scrubber_specs.image_row(runs.tile(np.stack(images)), PANEL_TITLES, height=200), key)


def recorded(spec: runs.RunSpec, process: ReverseProcess) -> None:
    run = runs.lookup(spec)
    if run is None:
        if "rev_ran" in st.session_state:  # the first visit samples the default run without asking
            slot = st.empty()
            if not slot.button("Run the reverse process", type="primary", key="rev_run"):
                st.info(f"Press **Run** to sample: {spec.describe()}.")
                return
            slot.empty()  # pressed: the run replaces the button
        run = runs.record(spec)
        if run is None:
            return
    st.session_state["rev_ran"] = True  # from now on a new setting waits for Run, even if this run was stored
    st.caption(f"{spec.describe()}. Drag the slider, or play, pause and step: it all runs in your browser. "
               "Images show −1 as black and 1 as white, clipped.")
    scrubbed(run)
    emerging_digit(run)
    steps = len(run.t)
    with st.expander(f"One exact step, with its numbers (any of the {steps})", expanded=steps > 300):
        st.session_state["rev_step"] = min(int(st.session_state["rev_step"]), steps)
        k = st.number_input("Step (the − and + buttons step back and forward)", min_value=1, max_value=steps,
                            key="rev_step") - 1
        show_step(process, [run.xs[k], run.eps[k], run.x0[k], run.xs[k + 1]], k, "reverse_exact")


@st.fragment
def scrubbed(run: runs.RecordedRun) -> None:
    """The run's scrubber, opened at the step in rev_frame: a link's, or where the reader left it in
    this run (run() sends another run to its sample). Leaving it reruns only this fragment, once, to put
    the step in the address."""
    ss, labels = st.session_state, run.figure["labels"]
    ss["rev_frame"] = labels[scrubber.nearest_frame(labels, str(ss["rev_frame"]))]
    left_at = scrubber.show({**run.figure, "active": labels.index(ss["rev_frame"])}, "reverse_scrubber",
                            report=True)
    if left_at in labels:  # a label of this run; anything else is ignored
        ss["rev_frame"] = left_at
    links.write_link("reverse")


def emerging_digit(run: runs.RecordedRun) -> None:
    """Under the scrubber: what the classifier reads in x̂_0 at every step, and when it settles."""
    classifier = models.classifier_or_error()
    if classifier is None:
        return
    probs = runs.emerging(run, classifier)  # (S, B, 10)
    which = 0
    if run.spec.batch > 1:
        which = st.number_input("Digit of the grid to read (1 = top left, row by row)", min_value=1,
                                max_value=run.spec.batch, key="rev_read") - 1
    reading = probs[:, which]
    settle = settling_step(reading)
    final = int(reading[-1].argmax())
    st.header("The emerging digit")
    st.markdown(f"The classifier's probabilities for $\\hat x_0$ at every step. It reads a **{final}** "
                f"from step **{settle + 1}** of {len(run.t)} on (t = {run.t[settle]}, dashed line), and never "
                "changes its mind after that. Run the same seed with a label at guidance 0, 1 and 4 to see how "
                "guidance moves that moment.")
    chart.show(figures.class_probabilities(reading, run.t, settle, run.spec.label), "reverse_emerging")


def _fresh(spec: runs.RunSpec) -> dict:
    generator = torch.Generator().manual_seed(spec.seed)
    return {"spec": spec, "generator": generator, "k": 0, "last": None,
            "x": initial_noise(spec.batch, generator).to(models.device_name())}


def _take_step(model, process: ReverseProcess) -> None:
    """Button callback: one reverse step from the state the last one left (before the page redraws)."""
    state = st.session_state["rev_live"]
    spec, device = state["spec"], models.device_name()
    labels = None if spec.label is None else torch.full((spec.batch,), spec.label, device=device)
    with torch.inference_mode():
        out = process.step(model, state["x"].to(device), process.num_steps - 1 - state["k"], state["generator"],
                           labels, model.null_label)
    state["last"] = [data.to_pixels(a[:, 0])
                     for a in (state["x"], out.eps, out.x0, out.x_prev)]
    state["x"], state["k"] = out.x_prev, state["k"] + 1


def live(spec: runs.RunSpec, process: ReverseProcess, model) -> None:
    """Take one reverse step now: the network runs on each press, from the state left by the last one."""
    state = st.session_state.get("rev_live")
    if state is None or state["spec"] != spec:
        state = st.session_state["rev_live"] = _fresh(spec)
    steps = process.num_steps
    left, right = st.columns([1, 3])
    left.button("Take one reverse step now", type="primary", key="rev_live_step", on_click=_take_step,
                args=(model, process), disabled=state["k"] >= steps)
    right.button("Start again from fresh noise", key="rev_restart",
                 on_click=lambda: st.session_state.update(rev_live=_fresh(spec)))
    if state["last"] is None:
        st.info(f"$x_T$ is fresh noise from seed {spec.seed}. Press the button to let the network take the first step.")
        start = data.to_pixels(state["x"][:, 0])
        row = scrubber_specs.image_row(runs.tile(start[None]), ["x<sub>T</sub>"], height=200)
        scrubber.show(row, "reverse_live_start")
        return
    st.caption(f"Step {state['k']} of {steps} done ({spec.describe()}); same seed, same steps as the recorded run.")
    show_step(process, state["last"], state["k"] - 1, "reverse_live")
    if state["k"] == steps:
        st.success("Done: the last panel is the sample.")


def run() -> None:
    st.title("Reverse denoising, step by step")
    st.markdown(r"Start from pure noise $x_T$ and let the trained U-Net remove it: at every step it predicts the "
                r"noise $\hat\varepsilon$ in $x_t$, which also gives a guess $\hat x_0$ of the final image, and the "
                r"sampler moves to a slightly cleaner $x_{t'}$.")
    loaded = models.model_or_error()
    if loaded is None:
        return
    model, card = loaded
    spec = controls()
    ss = st.session_state
    if ss.setdefault("rev_frame_of", spec) != spec:  # other settings: their run opens on its sample
        ss["rev_frame"], ss["rev_frame_of"] = "end", spec
    process = ReverseProcess(models.model_schedule(card).build(), spec.config())
    formulas(spec)
    mode = st.segmented_control("Mode", ["recorded", "live"], key="rev_mode", required=True,
                                format_func={"recorded": "Recorded run: scrub every step",
                                             "live": "Take one reverse step now (live)"}.get)
    if mode == "live":
        live(spec, process, model)
    else:
        recorded(spec, process)


if __name__ == "__main__":
    run()
