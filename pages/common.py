"""What every page shares: the sidebar, the schedule and device in force, the cached model.

Not a page: app.py's st.navigation lists only real pages. Caching rules: the model is one
shared object (st.cache_resource); arrays and figures are st.cache_data with max_entries;
cached functions take everything they use as arguments.
"""
from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from diffusion_core import data, pretrained
from diffusion_core.forward import q_chain, q_sample
from diffusion_core.schedules import (COSINE_S, DEFAULT_BETA_END, DEFAULT_BETA_START, DEFAULT_NUM_STEPS,
                                      SCHEDULE_NAMES, NoiseSchedule, make_schedule)
from pages.share import MAX_T  # longer chains add nothing to see and slow the Markov-chain view down

# With torch and plotly loaded a full garbage collection walks ~240,000 objects, ~0.3 s on 2 cores.
# The modules live as long as the server: freeze them out of the collector once they are imported.
# (Streamlit's own full collection after every run, runner.postScriptGC, is off: .streamlit/config.toml.)
gc.collect()
gc.freeze()
# One core is left to the other sessions' reruns while a model run (one at a time: runs.queue) computes,
# unless no other session ran a page in the last ALONE_S seconds: then the run takes every core.
SERVER_TORCH_THREADS = max(1, (os.cpu_count() or 2) - 1)
torch.set_num_threads(SERVER_TORCH_THREADS)
ALONE_S = 30.0


class Activity:
    """When each session last ran a page, so that a model run knows whether it has the server to itself."""

    def __init__(self, clock=time.monotonic):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def touch(self, session: str | None) -> None:
        now = self._clock()
        with self._lock:
            self._seen = {s: at for s, at in self._seen.items() if now - at <= ALONE_S}  # forget the gone
            if session is not None:
                self._seen[session] = now

    def others_active(self, session: str | None) -> bool:
        """Whether a session other than ``session`` ran a page in the last ALONE_S seconds."""
        now = self._clock()
        with self._lock:
            return any(s != session and now - at <= ALONE_S for s, at in self._seen.items())


@st.cache_resource
def activity() -> Activity:
    return Activity()


def _session_id() -> str | None:
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


@contextlib.contextmanager
def model_threads():
    """Torch threads for one model run (the caller holds its turn in runs.queue): every core when no
    other session ran a page in the last ALONE_S seconds (a lecturer's demo), else SERVER_TORCH_THREADS."""
    alone = not activity().others_active(_session_id())
    torch.set_num_threads((os.cpu_count() or 1) if alone else SERVER_TORCH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(SERVER_TORCH_THREADS)


@dataclass(frozen=True)
class ScheduleChoice:
    """A schedule as the widgets describe it: hashable, so cached functions can take it."""

    name: str = "linear"
    num_steps: int = DEFAULT_NUM_STEPS
    beta_start: float = DEFAULT_BETA_START
    beta_end: float = DEFAULT_BETA_END
    s: float = COSINE_S

    def params(self) -> dict:
        return {"s": self.s} if self.name == "cosine" else {"beta_start": self.beta_start, "beta_end": self.beta_end}

    def build(self) -> NoiseSchedule:
        """make_schedule; a ValueError names the bad parameter."""
        return make_schedule(self.name, self.num_steps, **self.params())

    def label(self) -> str:
        shape = f"s = {self.s:g}" if self.name == "cosine" else f"β {self.beta_start:g} → {self.beta_end:g}"
        return f"{self.name}, {shape}, T = {self.num_steps}"


DEFAULT_SCHEDULE = ScheduleChoice()


def model_schedule(card: dict) -> ScheduleChoice:
    """The schedule a model was trained with, from its card (the reverse process must use it)."""
    spec = card.get("schedule", {})
    return ScheduleChoice(name=spec.get("name", "linear"), num_steps=int(spec.get("num_steps", DEFAULT_NUM_STEPS)),
                          beta_start=float(spec.get("beta_start", DEFAULT_BETA_START)),
                          beta_end=float(spec.get("beta_end", DEFAULT_BETA_END)), s=float(spec.get("s", COSINE_S)))


# --- the model ---------------------------------------------------------------------------------
def _mtime(name: str) -> float:
    """Changes when training writes new weights, so caches keyed on it reload them."""
    weights, card = pretrained.paths_for(name)
    return max((p.stat().st_mtime for p in (weights, card) if p.is_file()), default=0.0)


@st.cache_data(max_entries=4, show_spinner=False)
def _read_card(name: str, mtime: float) -> dict | str:
    """The model card, or the reason there is none (a string)."""
    try:
        return pretrained.read_card(name)
    except pretrained.PretrainedError as exc:
        return str(exc)


def card(name: str = pretrained.DIFFUSION_MODEL) -> dict | str:
    return _read_card(name, _mtime(name))


@st.cache_resource(max_entries=2, show_spinner="Loading the pretrained U-Net…")
def _load_model(device: str, mtime: float):
    return pretrained.load_diffusion_model(device=device)


def device_name() -> str:
    """The torch device the sidebar's choice resolves to ('cpu' or 'cuda')."""
    try:
        return str(pretrained.pick_device(st.session_state.get("device", "auto")))
    except ValueError:  # a GPU chosen earlier is gone
        return "cpu"


def load_model():
    """(model, card) on the chosen device; raises pretrained.PretrainedError when weights are missing."""
    return _load_model(device_name(), _mtime(pretrained.DIFFUSION_MODEL))


def model_or_error():
    """(model, card), or None after showing why the pretrained model cannot be used."""
    try:
        return load_model()
    except pretrained.PretrainedError as exc:
        st.error(f"The pretrained diffusion model is not available: {exc}. "
                 "Train it with `python -m diffusion_core train` (see the README), then reload this page.")
        return None


@st.cache_resource(max_entries=2, show_spinner="Loading the classifier…")
def _load_classifier(device: str, mtime: float):
    return pretrained.load_classifier(device=device)


def classifier_or_error():
    """The pretrained MNIST classifier, or None after an st.error saying why it cannot be used."""
    try:
        return _load_classifier(device_name(), _mtime(pretrained.CLASSIFIER_MODEL))[0]
    except pretrained.PretrainedError as exc:
        st.error(f"The pretrained classifier is not available: {exc}. Train it with "
                 "`python -m diffusion_core train-classifier` (see the README), then reload this page.")
        return None


# --- the sidebar ---------------------------------------------------------------------------------
def _init(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _sidebar_device() -> None:
    if torch.cuda.is_available():
        _init("device", "auto")
        st.radio("Device", ("auto", "cpu", "cuda"), key="device", horizontal=True,
                 format_func={"auto": "auto", "cpu": "CPU", "cuda": "GPU"}.get)
    st.caption(f"Computing on **{device_name().upper()}**" + ("" if torch.cuda.is_available() else " (no GPU here)"))


def _sidebar_cards() -> None:
    unet = card(pretrained.DIFFUSION_MODEL)
    if isinstance(unet, str):
        st.caption("**Diffusion model:** not installed yet, so the reverse process is unavailable.")
    else:
        stages = pretrained.training_stages(unet)
        losses = (stages[-1].get("loss_per_epoch") if stages else None) or [float("nan")]
        hardware = sorted({re.sub(r", \d+ torch threads?$", "", stage.get("hardware", "unknown hardware"))
                           for stage in stages}) or ["unknown hardware"]
        epochs = " + ".join(str(stage.get("epochs_done", "?")) for stage in stages) or "?"
        quality = unet.get("quality", {})
        measured = []
        if "unconditional_ddim100" in quality:
            measured.append(f"unconditional samples read with confidence {quality['unconditional_ddim100']['mean_confidence']:.2f}")
        if "conditional_ddim100_w2" in quality:
            measured.append(f"{100 * quality['conditional_ddim100_w2']['accuracy']:.1f} % of \"make a k\" (w = 2) read as k")
        st.caption(f"**Diffusion U-Net:** {unet.get('parameters', 0) / 1e6:.2f} M parameters · "
                   f"{epochs} epochs, {sum(stage.get('steps', 0) for stage in stages):,} steps · "
                   f"final loss {losses[-1]:.4f} · {sum(stage.get('wall_time_s', 0) for stage in stages) / 60:.0f} min "
                   f"on {' / '.join(hardware)}" + "".join(f" · {m}" for m in measured))
    classifier = card(pretrained.CLASSIFIER_MODEL)
    if not isinstance(classifier, str):
        st.caption(f"**Classifier:** test accuracy {100 * classifier.get('test_accuracy', 0):.2f} %")


def _sidebar_schedule(applies: bool) -> None:
    defaults = DEFAULT_SCHEDULE
    for key, value in (("sched_name", defaults.name), ("sched_T", defaults.num_steps),
                       ("sched_beta_start", defaults.beta_start), ("sched_beta_end", defaults.beta_end),
                       ("sched_s", defaults.s)):
        _init(key, value)
    st.selectbox("Schedule", SCHEDULE_NAMES, key="sched_name", disabled=not applies)
    st.number_input("T (number of steps)", min_value=2, max_value=MAX_T, step=50, key="sched_T", disabled=not applies)
    if st.session_state["sched_name"] == "cosine":
        st.number_input("s (offset)", min_value=0.0, max_value=1.0, step=0.001, format="%.4f", key="sched_s",
                        disabled=not applies)
    else:
        left, right = st.columns(2)
        left.number_input("β start", min_value=0.0, max_value=0.9999, step=1e-4, format="%.5f",
                          key="sched_beta_start", disabled=not applies)
        right.number_input("β end", min_value=0.0, max_value=0.9999, step=1e-3, format="%.4f",
                           key="sched_beta_end", disabled=not applies)


def schedule_choice() -> ScheduleChoice:
    """The sidebar's schedule, as chosen (it may be invalid: see schedule_in_force)."""
    ss = st.session_state
    return ScheduleChoice(name=ss.get("sched_name", "linear"), num_steps=int(ss.get("sched_T", DEFAULT_NUM_STEPS)),
                          beta_start=float(ss.get("sched_beta_start", DEFAULT_BETA_START)),
                          beta_end=float(ss.get("sched_beta_end", DEFAULT_BETA_END)),
                          s=float(ss.get("sched_s", COSINE_S)))


def schedule_in_force() -> tuple[ScheduleChoice, NoiseSchedule]:
    """The sidebar's schedule, or the DDPM default after an st.error if it makes no sense."""
    choice = schedule_choice()
    try:
        return choice, choice.build()
    except ValueError as exc:
        st.error(f"The sidebar's schedule makes no sense: {exc}. Showing the DDPM default "
                 f"({DEFAULT_SCHEDULE.label()}) instead.")
        return DEFAULT_SCHEDULE, DEFAULT_SCHEDULE.build()


def sidebar(schedule_applies: bool = True, own_schedule: bool = False) -> None:
    """The sidebar every page shares: device, model card headline figures, schedule in force.

    own_schedule: the page shows and uses a schedule of its own (the toy distributions).
    """
    activity().touch(_session_id())
    with st.sidebar:
        _init("lecture", False)
        st.toggle("Lecture mode", key="lecture", help="Large images and charts, controls tucked into expanders. "
                  "The address bar always holds the view on screen: copy it to share exactly this view.")
        _sidebar_device()
        _sidebar_cards()
        st.divider()
        _sidebar_schedule(schedule_applies)
        if schedule_applies:
            choice = schedule_choice()
            try:
                choice.build()
                st.caption(f"In force: **{choice.label()}**")
            except ValueError as exc:
                st.error(f"{exc}")
        elif own_schedule:
            st.caption("This page uses its own short schedule, shown on the page; "
                       "the settings above apply to the forward-process pages.")
        else:
            unet = card()
            trained = model_schedule(unet).label() if isinstance(unet, dict) else DEFAULT_SCHEDULE.label()
            st.caption(f"In force: **{trained}**, the schedule the network was trained with; "
                       "the settings above apply to the forward-process pages.")


# --- noising a digit (the forward pages) ----------------------------------------------------------
def t_grid(num_steps: int, count: int = 101) -> tuple[int, ...]:
    """``count`` timesteps spread evenly over 0..T, both ends included (fewer if T is small)."""
    return tuple(int(t) for t in np.unique(np.round(np.linspace(0, num_steps, min(count, num_steps + 1)))))


def noised(x0: np.ndarray, choice: ScheduleChoice, seed: int, t_values: tuple[int, ...], chain: bool = False):
    """x_0 (uint8 28x28) noised to each t in t_values (paper t, 0 = clean), one fixed seed.

    Not cached itself: the figures built from it are, and a cache here would only add the cost
    of hashing its arguments and pickling its arrays to every new seed (~1/3 of the comparison's).

    Returns float arrays (F, 28, 28): x_t, the signal part sqrt(ᾱ_t) x_0 and the noise part
    x_t - sqrt(ᾱ_t) x_0, which in closed form is sqrt(1 - ᾱ_t) ε with the same ε at every t.
    chain=True runs the explicit Markov chain instead; its first step draws the same ε.
    """
    schedule = choice.build()
    x = data.to_model_space(x0[None])  # (1, 1, 28, 28)
    t = np.asarray(t_values)
    signal_coef, noise_coef = coefficients(choice, t_values)
    signal = signal_coef[:, None, None] * x[0, 0].numpy()
    if chain:
        states = q_chain(x, schedule, torch.Generator().manual_seed(seed), int(t.max()))  # (t_max + 1, 1, 1, 28, 28)
        xt = states[torch.as_tensor(t), 0, 0].numpy()
        return xt, signal, xt - signal
    eps = epsilon(seed)  # fixed while t moves
    index = torch.as_tensor(np.maximum(t, 1) - 1)
    xt = q_sample(x.expand(len(t), -1, -1, -1), index, schedule, eps.expand(len(t), -1, -1, -1))[:, 0].numpy()
    xt[t == 0] = x[0, 0].numpy()
    return xt, signal, noise_coef[:, None, None] * eps[0, 0].numpy()


def epsilon(seed: int) -> torch.Tensor:
    """The noise ε of ``seed``, (1, 1, 28, 28): the draw that noised() and closed_form_bases() share
    (and the first that the Markov chain makes from the same seed)."""
    return torch.randn((1, 1, 28, 28), generator=torch.Generator().manual_seed(seed))


def closed_form_bases(x0: np.ndarray, seed: int) -> np.ndarray:
    """(2, 28, 28): x_0 in model space and ε of ``seed``, so that x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
    (DDPM eq. 4) is a scrubbing.Blend of them with the weights coefficients() gives."""
    return np.stack([data.to_model_space(x0[None])[0, 0].numpy(), epsilon(seed)[0, 0].numpy()])


def coefficients(choice: ScheduleChoice, t_values: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(F,) and (F,): √ᾱ_t and √(1 − ᾱ_t) at each of the F timesteps (paper t; t = 0 is x_0 itself:
    1 and 0), from the tensors q_sample uses: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (DDPM eq. 4)."""
    schedule = choice.build()
    t = np.asarray(t_values)
    index = np.maximum(t, 1) - 1
    signal = np.where(t == 0, 1.0, schedule.sqrt_alphas_cumprod.numpy()[index])
    return signal, np.where(t == 0, 0.0, schedule.sqrt_one_minus_alphas_cumprod.numpy()[index])
