"""Noise and restore (SDEdit): noise a digit to t, let the network take it back, for several t."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from diffusion_core import data, slides
from diffusion_core.quality import read_digits
from diffusion_core.samplers import ReverseProcess, SamplerConfig, noise_and_restore
from ui import lecture, models, server
from ui.components import scrubber, scrubber_specs
from ui.digits import choose_x0
from ui.slides import download_view

T_CHOICES = (25, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000)
DEFAULTS = {"restore_t": [100, 300, 500, 700, 900], "restore_seed": 0, "restore_n": 3, "restore_steps": 50}


def _restore(model, schedule, x0: np.ndarray, t: int, seed: int, count: int, steps: int,
             sha: str, bar) -> tuple[int, np.ndarray, np.ndarray]:
    """x0 uint8 (28, 28) -> (the t used, x_t and the restorations, both uint8 (count, 28, 28)).
    Stored per parameter set; a new one waits for its turn in the queue of model runs."""
    device = models.device_name()
    key = (x0.tobytes(), t, seed, count, steps, device, sha)
    found = server.restore_store().get(key)
    if found is not None:
        return found
    process = ReverseProcess(schedule, SamplerConfig(sampler="ddim", steps=steps))
    index = process.index_near(t)
    generator = torch.Generator().manual_seed(seed * 10_007 + t)
    start = data.to_model_space(np.repeat(x0[None], count, axis=0)).to(device)
    with server.queue().turn(server.waiting(bar)), server.model_threads():
        x_t, restored = noise_and_restore(model, process, start, index, generator, null_label=model.null_label)
    result = process.paper_t(index), data.to_pixels(x_t[:, 0]), data.to_pixels(restored[:, 0])
    server.restore_store().put(key, result)
    return result


def controls() -> tuple[list[int], int, int, int]:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    st.multiselect("Noise to t =", T_CHOICES, key="restore_t", max_selections=6)
    a, b, c = st.columns(3)
    a.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="restore_seed")
    b.number_input("Restorations per t", min_value=1, max_value=6, step=1, key="restore_n")
    c.number_input("DDIM steps over the whole chain", min_value=10, max_value=1000, step=10, key="restore_steps")
    ss = st.session_state
    return sorted(ss["restore_t"]), int(ss["restore_seed"]), int(ss["restore_n"]), int(ss["restore_steps"])


def run() -> None:
    st.title("Noise and restore")
    st.markdown(r"Take a digit $x_0$, noise it to $x_t \sim q(x_t \mid x_0)$ in one draw, then run the learned "
                r"reverse chain from $t$ down to 0 (SDEdit, Meng et al. 2022). At small $t$ the network only "
                r"cleans up: the digit keeps its identity. At large $t$ almost nothing of $x_0$ is left "
                r"($\sqrt{\bar\alpha_t}$ is tiny) and the network invents a new digit.")
    loaded = models.model_or_error()
    if loaded is None:
        return
    model, card = loaded
    with lecture.tucked("x₀, t, seed and steps"):
        x0, origin = choose_x0("restore")
        t_values, seed, count, steps = controls()
    if not t_values:
        st.info("Choose at least one t to noise to.")
        return
    schedule = models.model_schedule(card).build()
    st.latex(r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon \;\longrightarrow\;"
             r"p_\theta(x_{t'} \mid x_t) \cdots \longrightarrow \hat x_0^{\,\text{restored}}"
             rf"\qquad\text{{(DDIM, }}\eta = 0\text{{, {steps} steps over }} T = {schedule.num_steps})")
    classifier = models.classifier_or_error()
    original = None if classifier is None else read_digits(classifier, data.to_model_space(x0[None])).probs[0]
    st.caption(f"$x_0$: {origin}" + ("" if original is None else
                                    f"; the classifier reads a **{original.argmax()}** ({original.max():.2f})"))
    bar = st.progress(0.0, text="Restoring…")
    rows = []
    for k, t in enumerate(t_values):
        rows.append(_restore(model, schedule, x0, t, seed, count, steps, card["sha256"], bar))
        bar.progress((k + 1) / len(t_values), text=f"Restored from t = {t}")
    bar.empty()
    kept = []
    for t, (t_used, x_t, restored) in zip(t_values, rows):
        titles = ["x<sub>0</sub>", f"x<sub>t</sub>, t = {t_used}"]
        if classifier is not None:
            probs = read_digits(classifier, data.to_model_space(restored)).probs
            same = probs.argmax(1) == original.argmax()
            kept.append((t_used, float(same.mean())))
            titles += [f"restored: a {p.argmax()} ({p.max():.2f})" for p in probs]
        else:
            titles += [f"restored #{i + 1}" for i in range(count)]
        images = np.concatenate([x0[None], x_t[:1], restored])
        scrubber.show(scrubber_specs.image_row(images, titles, height=170), f"restore_row_{t}")
    settings = f"DDIM, {steps} steps, seed {seed}, {origin}"
    download_view("restore", lambda: slides.restore_rows(x0, [(t, x_t, r) for t, x_t, r in rows], settings),
                  f"{settings}, t = {t_values}, {count} per t, model {card['sha256'][:12]}", x0)
    if kept:
        st.markdown("**Identity kept** (share of restorations the classifier reads as the original's class): "
                    + " · ".join(f"t = {t}: {share:.0%}" for t, share in kept))


if __name__ == "__main__":
    run()
