"""The pretrained networks as the pages get them: one shared object per device (st.cache_resource),
reloaded when training writes new weights, and a clear st.error when they are missing."""
from __future__ import annotations

import streamlit as st

from diffusion_core import engine, pretrained
from diffusion_core.schedules import ScheduleSpec


def _mtime(name: str) -> float:
    """Changes when training writes new weights, so caches keyed on it reload them."""
    weights, card_path = pretrained.paths_for(name)
    return max((p.stat().st_mtime for p in (weights, card_path) if p.is_file()), default=0.0)


@st.cache_data(max_entries=4, show_spinner=False)
def _read_card(name: str, mtime: float) -> dict | str:
    """The model card, or the reason there is none (a string)."""
    try:
        return pretrained.read_card(name)
    except pretrained.PretrainedError as exc:
        return str(exc)


def card(name: str = pretrained.DIFFUSION_MODEL) -> dict | str:
    return _read_card(name, _mtime(name))


def model_schedule(model_card: dict) -> ScheduleSpec:
    """The schedule a model was trained with, from its card (the reverse process must use it)."""
    return ScheduleSpec.from_dict(model_card.get("schedule", {}))


def device_name() -> str:
    """The torch device the sidebar's choice resolves to ('cpu' or 'cuda')."""
    try:
        return str(pretrained.pick_device(st.session_state.get("device", "auto")))
    except ValueError:  # a GPU chosen earlier is gone
        return "cpu"


@st.cache_resource(max_entries=2, show_spinner="Loading the pretrained U-Net…")
def _load_model(device: str, mtime: float):
    model, model_card = pretrained.load_diffusion_model(device=device)
    return engine.for_sampling(model, model_card, pretrained.DIFFUSION_MODEL, device,
                               engine.DEFAULT_ENGINE, fallback=True), model_card


def load_model():
    """(eps model, card) on the chosen device: on a CPU the U-Net as ONNX Runtime runs it (engine.py),
    else the torch U-Net; raises pretrained.PretrainedError when weights are missing."""
    return _load_model(device_name(), _mtime(pretrained.DIFFUSION_MODEL))


def _or_error(load, what: str, how: str):
    """load(), or None after an st.error saying why ``what`` cannot be used and how to train it."""
    try:
        return load()
    except pretrained.PretrainedError as exc:
        st.error(f"The {what} is not available: {exc}. Train it with {how} (see the README), then reload this page.")
        return None


def model_or_error():
    """(model, card), or None after showing why the pretrained model cannot be used."""
    return _or_error(load_model, "pretrained diffusion model", "`python -m diffusion_core train`")


@st.cache_resource(max_entries=2, show_spinner="Loading the classifier…")
def _load_classifier(device: str, mtime: float):
    return pretrained.load_classifier(device=device)


def classifier_or_error():
    """The pretrained MNIST classifier, or None after an st.error saying why it cannot be used."""
    loaded = _or_error(lambda: _load_classifier(device_name(), _mtime(pretrained.CLASSIFIER_MODEL)),
                       "pretrained classifier", "`python -m diffusion_core train-classifier`")
    return None if loaded is None else loaded[0]


@st.cache_resource(max_entries=2, show_spinner="Loading the autoencoder and the latent U-Net…")
def _load_latent(device: str, mtime: float):
    from diffusion_core.latent import load_latent_diffusion

    return load_latent_diffusion(device=device)


def latent_or_error():
    """(LatentDiffusion, its card, the autoencoder's card), or None after an st.error saying why."""
    mtime = max(_mtime(pretrained.LATENT_MODEL), _mtime(pretrained.AUTOENCODER_MODEL))
    return _or_error(lambda: _load_latent(device_name(), mtime), "latent diffusion model",
                     "`python -m diffusion_core train-autoencoder` and `train-latent`")
