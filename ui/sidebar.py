"""The sidebar every page shares: lecture mode, the device, the models' headline figures, and the
noise schedule in force (schedule_in_force) for the forward-process pages."""
from __future__ import annotations

import re

import streamlit as st
import torch

from diffusion_core import pretrained
from diffusion_core.schedules import SCHEDULE_NAMES, NoiseSchedule, ScheduleSpec
from ui import models, server
from ui.links import MAX_T  # longer chains add nothing to see and slow the Markov-chain view down

DEFAULT_SCHEDULE = ScheduleSpec()  # DDPM's: linear β from 1e-4 to 0.02 over T = 1000


def _init(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _sidebar_device() -> None:
    if torch.cuda.is_available():
        _init("device", "auto")
        st.radio("Device", ("auto", "cpu", "cuda"), key="device", horizontal=True,
                 format_func={"auto": "auto", "cpu": "CPU", "cuda": "GPU"}.get)
    where = "" if torch.cuda.is_available() else " (no GPU here)"
    st.caption(f"Computing on **{models.device_name().upper()}**{where}")


def _sidebar_cards() -> None:
    unet = models.card(pretrained.DIFFUSION_MODEL)
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
            confidence = quality["unconditional_ddim100"]["mean_confidence"]
            measured.append(f"unconditional samples read with confidence {confidence:.2f}")
        if "conditional_ddim100_w2" in quality:
            accuracy = quality["conditional_ddim100_w2"]["accuracy"]
            measured.append(f"{100 * accuracy:.1f} % of \"make a k\" (w = 2) read as k")
        st.caption(f"**Diffusion U-Net:** {unet.get('parameters', 0) / 1e6:.2f} M parameters · "
                   f"{epochs} epochs, {sum(stage.get('steps', 0) for stage in stages):,} steps · "
                   f"final loss {losses[-1]:.4f} · {sum(stage.get('wall_time_s', 0) for stage in stages) / 60:.0f} min "
                   f"on {' / '.join(hardware)}" + "".join(f" · {m}" for m in measured))
    classifier = models.card(pretrained.CLASSIFIER_MODEL)
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


def schedule_choice() -> ScheduleSpec:
    """The sidebar's schedule, as chosen (it may be invalid: see schedule_in_force)."""
    ss = st.session_state
    default = DEFAULT_SCHEDULE
    return ScheduleSpec(name=ss.get("sched_name", default.name), num_steps=int(ss.get("sched_T", default.num_steps)),
                        beta_start=float(ss.get("sched_beta_start", default.beta_start)),
                        beta_end=float(ss.get("sched_beta_end", default.beta_end)),
                        s=float(ss.get("sched_s", default.s)))


def schedule_in_force() -> tuple[ScheduleSpec, NoiseSchedule]:
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
    server.activity().touch(server.session_id())
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
            unet = models.card()
            trained = models.model_schedule(unet).label() if isinstance(unet, dict) else DEFAULT_SCHEDULE.label()
            st.caption(f"In force: **{trained}**, the schedule the network was trained with; "
                       "the settings above apply to the forward-process pages.")
