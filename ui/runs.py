"""Recorded reverse runs, shared by Home (the digit forming), Forward (a generated x_0) and Reverse.

A run is sampled once per parameter set with a progress bar, waiting for its turn in the server's
queue, and kept in the server's run store shared by all sessions (ui/server.py). A run keeps
uint8 images only, and its scrubber spec.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from diffusion_core import data
from diffusion_core.quality import read_digits
from diffusion_core.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS, ReverseProcess, SamplerConfig, initial_noise
from ui import models, server
from ui.components import scrubber_specs

GRID = 16  # "a 4x4 grid generated together"
FIGURE_BYTES = {1: 900_000, GRID: 2_000_000}  # JSON budget of a run's scrubber; sets how many frames it holds
MIN_FRAMES = 20


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run; equal specs draw the same noise on any device."""

    seed: int = 0
    sampler: str = DEFAULT_SAMPLER  # the default run, chosen from the model's steps tables
    steps: int = DEFAULT_STEPS
    eta: float = 0.0
    label: int | None = None  # None: unconditional
    guidance: float = 1.0
    batch: int = 1

    def config(self) -> SamplerConfig:
        return SamplerConfig(sampler=self.sampler, steps=self.steps, eta=self.eta, guidance=self.guidance)

    def describe(self) -> str:
        how = {"ddpm": "DDPM, all 1000 steps", "ddim": f"DDIM, {self.steps} steps, η = {self.eta:g}",
               "dpmpp2m": f"DPM-Solver++(2M), {self.steps} steps",
               "heun": f"Heun, {self.steps} steps ({2 * self.steps - 1} network calls)"}[self.sampler]
        what = "no label" if self.label is None else f"label {self.label}, guidance w = {self.guidance:g}"
        return f"{how} · {what} · seed {self.seed}" + (" · 4×4 grid" if self.batch == GRID else "")


@dataclass
class RecordedRun:
    spec: RunSpec
    t: np.ndarray  # (S,) paper timestep of each step, descending
    alphas_cumprod: np.ndarray  # (S,) ᾱ_t at those timesteps
    xs: np.ndarray  # uint8 (S + 1, B, 28, 28): xs[k] is the input of step k, xs[S] the sample
    eps: np.ndarray  # uint8 (S, B, 28, 28): predicted noise ε̂ (after guidance), shown on [-1, 1]
    x0: np.ndarray  # uint8 (S, B, 28, 28): predicted clean image x̂_0
    figure: dict  # the scrubber's spec (scrubber_specs.image_scrubber)
    probs: np.ndarray | None = None  # (S, B, 10) the classifier's reading of x0, filled by emerging()

    @property
    def final(self) -> np.ndarray:
        return self.xs[-1]  # (B, 28, 28)


def tile(images: np.ndarray) -> np.ndarray:
    """uint8 (..., B, H, W) -> (..., H', W'): the image itself for B = 1, else a grid 4 wide."""
    lead, (batch, height, width) = images.shape[:-3], images.shape[-3:]
    if batch == 1:
        return images[..., 0, :, :]
    grids = np.stack([data.image_grid(b, columns=4) for b in images.reshape(-1, batch, height, width)])
    return grids.reshape(*lead, *grids.shape[1:])


def frame_indices(total: int, batch: int) -> np.ndarray:
    """Which of ``total`` frames go into the scrubber: all of them if the budget allows, else evenly spread."""
    per_frame = 3 * (28 * 28 * batch * 1.45) + 200  # a PNG of three noisy panels in base64, caption, label
    count = max(MIN_FRAMES, int(FIGURE_BYTES[batch] // per_frame))
    if count >= total:
        return np.arange(total)
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(int))


def _figure(spec: RunSpec, t: np.ndarray, ab: np.ndarray, xs, eps, x0) -> dict:
    steps = len(t)
    keep = frame_indices(steps + 1, spec.batch)
    # frame k shows step k's input x_t with its predictions; frame S the finished sample
    last = steps - 1
    shown = np.stack([np.stack([xs[k], eps[min(k, last)], x0[min(k, last)]]) for k in keep])  # (F, 3, B, H, W)
    captions = [f"step {k + 1} of {steps} · t = {t[k]} · ᾱ<sub>t</sub> = {ab[k]:.4f}" if k < steps else
                f"done after {steps} step{'s' if steps > 1 else ''}: the sample x<sub>0</sub>" for k in keep]
    labels = [str(k + 1) if k < steps else "end" for k in keep]
    return scrubber_specs.image_scrubber(["x<sub>t</sub>", "predicted noise ε̂", "predicted clean image x̂<sub>0</sub>"],
                                         tile(shown), labels, captions, active=len(keep) - 1, controls=True,
                                         prefix="step ", height=420 if spec.batch == GRID else 260)


def emerging(run: RecordedRun, classifier) -> np.ndarray:
    """(S, B, 10): the classifier's probabilities for x̂_0 at every step of ``run``; computed once."""
    if run.probs is None:
        steps, batch = run.x0.shape[:2]
        x = data.to_model_space(run.x0.reshape(steps * batch, 28, 28))
        run.probs = read_digits(classifier, x).probs.reshape(steps, batch, -1)
    return run.probs


def _key(spec: RunSpec, card: dict) -> tuple:
    return spec, models.device_name(), card["sha256"]


def lookup(spec: RunSpec) -> RecordedRun | None:
    """The stored run for ``spec``, if it was sampled already (with the weights installed now)."""
    card = models.card()
    return server.run_store().get(_key(spec, card)) if isinstance(card, dict) else None


def record(spec: RunSpec) -> RecordedRun | None:
    """The run for ``spec`` from the store, or sampled now with a progress bar; None (after an
    st.error) when the pretrained model is missing."""
    loaded = models.model_or_error()
    if loaded is None:
        return None
    model, card = loaded
    device = models.device_name()
    key = _key(spec, card)
    run = server.run_store().get(key)
    if run is not None:
        return run
    schedule = models.model_schedule(card).build()
    process = ReverseProcess(schedule, spec.config())
    generator = torch.Generator().manual_seed(spec.seed)
    noise = initial_noise(spec.batch, generator).to(device)
    labels = None if spec.label is None else torch.full((spec.batch,), spec.label, dtype=torch.long, device=device)
    bar = st.progress(0.0, text=f"Sampling: {spec.describe()}")
    every = max(1, process.num_steps // 50)

    def progress(k: int, total: int) -> None:
        if k % every == 0 or k == total:
            bar.progress(k / total, text=f"Sampling: step {k} of {total}")

    with server.queue().turn(server.waiting(bar)), server.model_threads():
        trajectory = process.sample(model, noise, generator, labels=labels, null_label=model.null_label,
                                    record=True, progress=progress)
    bar.empty()
    t = trajectory.t.numpy()
    ab = schedule.alphas_cumprod[trajectory.timesteps].numpy()
    xs, eps, x0 = (data.to_pixels(a[:, :, 0]) for a in (trajectory.xs, trajectory.eps, trajectory.x0))
    run = RecordedRun(spec, t, ab, xs, eps, x0, _figure(spec, t, ab, xs, eps, x0))
    server.run_store().put(key, run)
    return run
