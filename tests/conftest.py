"""Fixtures and helpers shared by the AppTest files (test_app.py, test_further_pages.py)."""
from __future__ import annotations

import io
import json
import os
import re
import tempfile

import pytest
import streamlit as st
import torch
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from diffusion_core import data, engine, pretrained
from diffusion_core.forward import forward_states
from diffusion_core.schedules import ScheduleSpec
from diffusion_core.unet import UNet

# The ONNX export of the U-Net (diffusion_core/engine.py) goes to a cache of this test run, shared with
# the servers the browser tests start, never to the user's ~/.cache.
os.environ.setdefault("DIFFUSION_CORE_CACHE", tempfile.mkdtemp(prefix="diffusion-core-cache-"))

TIMEOUT_S = 180  # a loaded 2-core machine is slow; a hang still fails
FAKE_CARD = {
    "sha256": "0" * 64, "parameters": 1, "config": {},
    "schedule": {"name": "linear", "num_steps": 1000, "beta_start": 1e-4, "beta_end": 0.02},
    "training": {"epochs_done": 0, "steps": 0, "loss_per_epoch": [1.0], "wall_time_s": 0, "hardware": "none"},
}


@pytest.fixture
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def stand_in_model(monkeypatch):
    """An untrained U-Net in place of the pretrained one (the tests check the UI, not the digits)."""
    torch.manual_seed(0)
    model = UNet().eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)  # a fresh U-Net predicts ε = 0 for any input
    real_read_card = pretrained.read_card
    monkeypatch.setattr(pretrained, "load_diffusion_model", lambda name=None, device="cpu", directory=None:
                        (model.to(device), FAKE_CARD))
    monkeypatch.setattr(pretrained, "read_card", lambda name, directory=None:
                        FAKE_CARD if name == pretrained.DIFFUSION_MODEL else real_read_card(name))
    monkeypatch.setattr(engine, "DEFAULT_ENGINE", "torch")  # its FAKE_CARD sha256 names no export
    return model


@pytest.fixture
def no_model(monkeypatch):
    def missing(*args, **kwargs):
        raise pretrained.PretrainedError("model card pretrained/mnist_unet.json not found")
    monkeypatch.setattr(pretrained, "load_diffusion_model", missing)
    monkeypatch.setattr(pretrained, "read_card", missing)


def open_page(page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT_S).run()  # Home: AppTest wants a run first
    if page != "home":
        at.switch_page(f"ui/pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _framed_page(page: str) -> None:
    """app.py's frame around one page, as st.navigation runs it for /page (AppTest's switch_page
    runs a page file on its own, without app.py)."""
    import importlib

    import app

    app.frame(page, importlib.import_module(f"ui.pages.{page}").run)


def open_link(page: str, **params: str) -> AppTest:
    """Open ``page`` as the shared link /page?name=value... would."""
    at = AppTest.from_function(_framed_page, args=(page,), default_timeout=TIMEOUT_S)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def sidebar(at: AppTest, key: str, value) -> AppTest:
    """Set a sidebar widget. (After switch_page, AppTest 1.67 leaves the sidebar out of its element
    tree, though the script draws it; the browser test sees it.)"""
    at.session_state[key] = value
    return at


def noised(x0, spec: ScheduleSpec, seed: int, t_values, chain: bool = False) -> list:
    """x_0 (uint8 28x28) at each paper t of t_values with the noise of ``seed``, from the core as the
    pages call it: [x_t, √ᾱ_t x_0, the noise part], each float (F, 28, 28)."""
    x = data.to_model_space(x0[None])[0]
    return [a[:, 0].numpy() for a in forward_states(x, spec.build(), t_values, seed, chain)]


def chart_keys(at: AppTest) -> list[str]:
    """The keys of every chart on the page: Plotly figures (ui/components/chart.py) and scrubbers
    (ui/components/scrubber.py)."""
    return [e.proto.id.split("-", 2)[-1] for e in at.get("bidi_component")]


def chart(at: AppTest, key: str) -> dict:
    """The data of the chart ``key``: a Plotly figure's spec (with the component's config and the
    address of Plotly.js), or a scrubber's (scrubber_specs.image_scrubber, scrubber_specs.curve_scrubber)."""
    for element in at.get("bidi_component"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.json)
    raise AssertionError(f"no chart {key!r} on the page")


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def sketch() -> bytes:
    """A dark 7 drawn on white, larger than MNIST and off centre."""
    image = Image.new("RGB", (300, 240), "white")
    ImageDraw.Draw(image).line([(40, 30), (140, 30), (70, 200)], fill="black", width=18)
    return png_bytes(image, "JPEG")


def filled(spec: dict, t: int) -> str:
    """The ᾱ_t readout at t, filled in as the browser fills it (ui/components/scrubber.py)."""
    k = spec["labels"].index(str(t))
    return re.sub(r"\{(\d+)\}", lambda m: spec["readout"]["fields"][k][int(m[1])], spec["readout"]["template"])


def changes(at: AppTest, key: str, act) -> None:
    """Acting on a control changes the chart ``key`` and raises nothing."""
    before = chart(at, key)
    act(at).run()
    assert not at.exception, [e.message for e in at.exception]
    assert chart(at, key) != before


