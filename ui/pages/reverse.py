"""Reverse denoising, step by step: run the trained network and look at every step it takes."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st
import torch

from diffusion_core import data, slides
from diffusion_core.quality import settling_step
from diffusion_core.samplers import (
    DEFAULT_GUIDANCE,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    MAX_GUIDANCE,
    ReverseProcess,
    initial_noise,
)
from ui import figures, lecture, links, models, runs
from ui.components import chart, scrubber, scrubber_specs
from ui.slides import download_view

PANEL_TITLES = ("x<sub>t</sub>", "predicted noise ε̂", "predicted x̂<sub>0</sub>", "next state x<sub>t′</sub>")
DEFAULTS = {"rev_seed": 0, "rev_sampler": DEFAULT_SAMPLER, "rev_steps": DEFAULT_STEPS, "rev_eta": 0.0, "rev_label": 3,
            "rev_guidance": DEFAULT_GUIDANCE, "rev_grid": False, "rev_mode": "recorded", "rev_step": 1,
            "rev_frame": "end", "rev_measure": "frechet_distance"}
SAMPLER_CHOICES = {"ddpm": "DDPM, all 1000 steps", "ddim": "DDIM", "dpmpp2m": "DPM-Solver++(2M)",
                   "heun": "Heun (probability-flow ODE)"}
# quality.steps_table measure -> (radio label, axis title, what it says)
MEASURES = {"frechet_distance": ("Fréchet distance", "Fréchet distance to the test digits (lower is better)",
                                 "the Fréchet distance between the classifier's features of unconditional samples "
                                 "and of the MNIST test digits (lower is better)"),
            "mean_confidence": ("confidence", "mean classifier confidence (higher is better)",
                                "the classifier's mean confidence in its reading of unconditional samples"),
            "class_entropy": ("class balance", "entropy of the class histogram (2.303 = uniform)",
                              "the entropy of the classes the classifier reads in unconditional samples "
                              "(log 10 = 2.303 when all ten digits are equally common)"),
            "accuracy_w2": ("accuracy at w = 2", "accuracy at guidance w = 2",
                            "how often the classifier reads the asked-for digit, with guidance w = 2")}


def controls() -> runs.RunSpec:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    ss = st.session_state
    with lecture.tucked("Seed, sampler, label and guidance"):
        _widgets()
    sampler, labelled = ss["rev_sampler"], ss["rev_label"] != "none"
    return runs.RunSpec(seed=int(ss["rev_seed"]), sampler=sampler,
                        steps=int(ss["rev_steps"]) if sampler != "ddpm" else 1000,
                        eta=float(ss["rev_eta"]) if sampler == "ddim" else 0.0,
                        label=int(ss["rev_label"]) if labelled else None,
                        guidance=float(ss["rev_guidance"]) if labelled else 1.0,
                        batch=runs.GRID if ss["rev_grid"] else 1)


def _widgets() -> None:
    ss = st.session_state
    a, b, c, d = st.columns(4)
    a.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="rev_seed")
    b.radio("Sampler", tuple(SAMPLER_CHOICES), key="rev_sampler", format_func=SAMPLER_CHOICES.get)
    sampler = ss["rev_sampler"]
    c.number_input("Steps n", min_value=1, max_value=1000, step=10, key="rev_steps", disabled=sampler == "ddpm",
                   help="Reverse steps, spread evenly over the 1000 timesteps (DDPM takes all of them).")
    d.slider("DDIM η (0: deterministic)", 0.0, 1.0, step=0.1, key="rev_eta", disabled=sampler != "ddim")
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
    if spec.sampler in ("dpmpp2m", "heun"):
        ode_formulas(spec.sampler)
        return
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


def ode_formulas(sampler: str) -> None:
    """The update rules of the two ODE solvers, as samplers.ReverseProcess.step and solvers.py compute them."""
    if sampler == "dpmpp2m":
        st.latex(r"x_{t'} = \frac{\sigma_{t'}}{\sigma_t}\,x_t + \Big(\alpha_{t'} - \alpha_t\,\frac{\sigma_{t'}}"
                 r"{\sigma_t}\Big)\,D,\qquad D = \Big(1 + \frac{1}{2r}\Big)\,\hat x_0 - \frac{1}{2r}\,"
                 r"\hat x_0^{\,\text{prev}},\qquad r = \frac{\lambda_t - \lambda_{t^+}}{\lambda_{t'} - \lambda_t}")
        st.caption(r"DPM-Solver++(2M) (Lu et al. 2022): $\alpha = \sqrt{\bar\alpha}$, $\sigma = "
                   r"\sqrt{1-\bar\alpha}$, $\lambda = \log(\alpha/\sigma)$; $\hat x_0^{\,\text{prev}}$ is the "
                   r"previous step's prediction, made at $t^+$, so each step costs one network call. On the first "
                   r"step (no previous prediction) and the last ($\sigma_{t'} = 0$) $D = \hat x_0$, DDIM's step. "
                   r"$t'$ is the next timestep visited ($\bar\alpha = 1$ after the last one). No noise is added.")
        return
    st.latex(r"\tilde x = \sqrt{\bar\alpha_{t'}}\,\Big(\frac{x_t}{\sqrt{\bar\alpha_t}} + (\sigma_{t'} - "
             r"\sigma_t)\,\hat\varepsilon\Big),\qquad x_{t'} = \sqrt{\bar\alpha_{t'}}\,\Big(\frac{x_t}"
             r"{\sqrt{\bar\alpha_t}} + (\sigma_{t'} - \sigma_t)\,\frac{\hat\varepsilon + \hat\varepsilon'}{2}"
             r"\Big),\qquad \sigma_t = \sqrt{\frac{1-\bar\alpha_t}{\bar\alpha_t}}")
    st.caption(r"Heun's method (Karras et al. 2022, Alg. 1) on the probability-flow ODE "
               r"$dy/d\sigma = \hat\varepsilon$ for $y = x/\sqrt{\bar\alpha}$: an Euler step to $\tilde x$ "
               r"(that alone is DDIM with η = 0), then $\hat\varepsilon'$, the network's (guided, clipped) "
               r"prediction at $(\tilde x, t')$, corrects it: two network calls per step. The last step "
               r"($\bar\alpha_{t'} = 1$) is the Euler step alone, which lands on $\hat x_0$. No noise is added.")


def step_numbers(process: ReverseProcess, k: int) -> str:
    """The update of step k (0 = the noisiest) with this schedule's numbers in it."""
    s, i = process.spaced, process.num_steps - 1 - k
    t, ab, ab_prev = process.paper_t(i), float(s.alphas_cumprod[i]), float(s.alphas_cumprod_prev[i])
    t_next = process.paper_t(i - 1)  # 0 after the last step: the sample
    if process.config.sampler == "dpmpp2m":
        c_x, c_d, r = (float(process.dpmpp[name][i]) for name in ("c_x", "c_d", "r"))
        d = (r"D = \hat x_0" if math.isnan(r) else  # r is NaN on the first and the last step: first order
             rf"D = {1 + 1 / (2 * r):.4f}\,\hat x_0 - {1 / (2 * r):.4f}\,\hat x_0^{{\,\text{{prev}}}}")
        return rf"x_{{{t_next}}} = {c_x:.4f}\,x_{{{t}}} + {c_d:.4f}\,D,\qquad {d}"
    if process.config.sampler == "heun":
        a = (ab_prev / ab) ** 0.5  # √ᾱ' / √ᾱ and √ᾱ' (σ' − σ): solvers.euler_update multiplied out
        b = ab_prev ** 0.5 * (((1 - ab_prev) / ab_prev) ** 0.5 - ((1 - ab) / ab) ** 0.5)
        slope = r"\hat\varepsilon" if i == 0 else r"\tfrac{1}{2}(\hat\varepsilon + \hat\varepsilon')"
        return rf"x_{{{t_next}}} = {a:.4f}\,x_{{{t}}} {'-' if b < 0 else '+'} {abs(b):.4f}\,{slope}"
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
    state_t = np.append(run.t, 0)  # xs[k] is the state at run.t[k]; the last one is x_0
    picked = slides.states_near(state_t)
    download_view("reverse", lambda: slides.trajectory_strip(runs.tile(run.xs[picked]), state_t[picked],
                                                             spec.describe()), repr(spec))
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
    return {"spec": spec, "generator": generator, "k": 0, "last": None, "prev_x0": None,
            "x": initial_noise(spec.batch, generator).to(models.device_name())}


def _take_step(model, process: ReverseProcess) -> None:
    """Button callback: one reverse step from the state the last one left (before the page redraws)."""
    state = st.session_state["rev_live"]
    spec, device = state["spec"], models.device_name()
    labels = None if spec.label is None else torch.full((spec.batch,), spec.label, device=device)
    with torch.inference_mode():
        out = process.step(model, state["x"].to(device), process.num_steps - 1 - state["k"], state["generator"],
                           labels, model.null_label, prev_x0=state["prev_x0"])  # DPM-Solver++(2M) reuses it
    state["last"] = [data.to_pixels(a[:, 0])
                     for a in (state["x"], out.eps, out.x0, out.x_prev)]
    state["x"], state["k"], state["prev_x0"] = out.x_prev, state["k"] + 1, out.x0


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
    steps_versus_quality(card, spec)


def steps_versus_quality(card: dict, spec: runs.RunSpec) -> None:
    """What fewer steps cost, per sampler: the model card's quality.steps_table (bench quality --steps-table)."""
    table = card.get("quality", {}).get("steps_table")
    if not table:
        return
    st.header("What fewer steps cost")
    measure = st.radio("Quality measure", tuple(MEASURES), key="rev_measure", horizontal=True,
                       format_func=lambda m: MEASURES[m][0])
    names = {k: v for k, v in SAMPLER_CHOICES.items() if k != "ddpm"}
    chart.show(figures.steps_quality(table["rows"], names, measure, MEASURES[measure][1]), "reverse_steps_quality")
    st.caption(f"Measured once for this model by the MNIST classifier ({table['command']}, {table['date']}): "
               f"{MEASURES[measure][2]}, for {table['n_uncond']} unconditional and {table['n_conditional']} "
               f"labelled digits per point (the same seeds for every point). {table['n_uncond']} real training digits "
               f"are {table['frechet_floor_same_n']:.1f} from the test digits: the floor at this n. Heun calls the "
               "network twice a step (once on the last), so its 10 steps cost 19 calls; the others call it once "
               f"a step. You are running {spec.describe()}.")


if __name__ == "__main__":
    run()
