"""Latent diffusion in miniature: the same DDPM, run on an autoencoder's 4×7×7 latent grid."""
from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from diffusion_core import data, slides
from diffusion_core.forward import alphas_cumprod_from_zero, fixed_noise, q_sample_at, t_grid
from diffusion_core.latent import decoded_trajectory, latent_process
from diffusion_core.samplers import DEFAULT_GUIDANCE, MAX_GUIDANCE, SamplerConfig, initial_noise
from diffusion_core.schedules import ScheduleSpec
from ui import lecture, links, models, server
from ui.components import scrubber, scrubber_specs
from ui.digits import choose_x0
from ui.slides import download_view

LATENT_LIMIT = 3.0  # latents are shown with -3 black and 3 white (they are scaled to unit variance)
NOISE_FRAMES = 51
DEFAULTS = {"latent_seed": 0, "latent_label": 3, "latent_guidance": DEFAULT_GUIDANCE, "latent_steps": 50,
            "latent_noise_seed": 0}


def channels_image(z: np.ndarray) -> np.ndarray:
    """A latent (C, h, w) -> one uint8 (28, 28) picture: its channels in a square of tiles, each
    enlarged to fill the square (4 channels of 7×7: a 2×2 mosaic of 14×14 tiles)."""
    channels, height, width = z.shape
    side = int(np.ceil(np.sqrt(channels)))
    tiles = np.full((side * side, height, width), 0.0)
    tiles[:channels] = z
    mosaic = tiles.reshape(side, side, height, width).transpose(0, 2, 1, 3).reshape(side * height, side * width)
    scale = 28 // mosaic.shape[0]
    return data.to_pixels(np.kron(mosaic, np.ones((scale, scale))), limit=LATENT_LIMIT)


@st.cache_data(max_entries=16, show_spinner=False)
def encoded(x0: np.ndarray, sha: str, _ld) -> tuple[np.ndarray, np.ndarray]:
    """x_0 (uint8 28×28) -> its scaled latent z = s · E(x_0), float (C, h, w), and the decoded D(z), uint8."""
    z = _ld.encode(data.to_model_space(x0[None]).to(_device(_ld)))
    return z[0].cpu().numpy(), data.to_pixels(_ld.decode(z)[0, 0])


def noised_frames(x0: np.ndarray, seed: int, spec: ScheduleSpec, sha: str, ld, grid) -> np.ndarray:
    """x_0 noised to the same ᾱ_t in pixel space and in latent space, decoded, at each paper t of grid:
    uint8 (F, 3, 28, 28), pixels x_t, the latent's channels and D(z_t)."""
    schedule = spec.build()
    x = data.to_model_space(x0[None])[0]  # (1, 28, 28)
    z = torch.as_tensor(encoded(x0, sha, ld)[0])  # (C, h, w)
    x_t = q_sample_at(x, grid, schedule, fixed_noise(seed, x.shape))[:, 0]  # (F, 28, 28)
    z_t = q_sample_at(z, grid, schedule, fixed_noise(seed, z.shape))  # (F, C, h, w)
    decoded = ld.decode(z_t.to(_device(ld)))[:, 0].cpu()  # (F, 28, 28)
    return np.stack([data.to_pixels(x_t), np.stack([channels_image(f) for f in z_t.numpy()]),
                     data.to_pixels(decoded)], axis=1)


@st.cache_data(max_entries=16, show_spinner=False)
def noising_scrubber(x0: np.ndarray, seed: int, spec: ScheduleSpec, sha: str, _ld) -> dict:
    """x_0 noised to the same ᾱ_t in pixel space and in latent space, decoded, over t."""
    grid = t_grid(spec.num_steps, NOISE_FRAMES)
    alpha_bar = alphas_cumprod_from_zero(spec.build())
    frames = noised_frames(x0, seed, spec, sha, _ld, grid)  # (F, 3, 28, 28)
    captions = [f"t = {t} · ᾱ<sub>t</sub> = {alpha_bar[t]:.4f} · both spaces: √ᾱ<sub>t</sub> · signal + "
                f"√(1 − ᾱ<sub>t</sub>) · ε" for t in grid]
    return scrubber_specs.image_scrubber(
        ["pixels x<sub>t</sub>", "latent z<sub>t</sub> (4 channels)", "decoded D(z<sub>t</sub>)"], frames,
        [str(t) for t in grid], captions, active=len(grid) // 4, height=190,
        alt="The same digit noised to the same ᾱ_t: in pixel space, in latent space, and that latent decoded")


def _device(ld) -> torch.device:
    return next(ld.parameters()).device


def controls(card: dict) -> tuple[int, int | None, float, int]:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    ss = st.session_state
    a, b, c, d = st.columns(4)
    a.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="latent_seed")
    b.selectbox("Class label (our “prompt”)", ["none", *range(10)], key="latent_label")
    labelled = ss["latent_label"] != "none"
    c.slider("Guidance scale w", 0.0, MAX_GUIDANCE / 2, step=0.5, key="latent_guidance", disabled=not labelled)
    d.number_input("DDIM steps", min_value=2, max_value=int(card["schedule"]["num_steps"]), step=10,
                   key="latent_steps")
    label = int(ss["latent_label"]) if labelled else None
    return int(ss["latent_seed"]), label, float(ss["latent_guidance"]) if labelled else 1.0, int(ss["latent_steps"])


def sampled(ld, card: dict, seed: int, label: int | None, guidance: float, steps: int):
    """The decoded trajectory of one latent DDIM run and its time on this server, from the shared
    store, or sampled now with a progress bar and a place in the server's queue of model runs."""
    key = ("latent", seed, label, guidance, steps, models.device_name(), card["sha256"])
    found = server.run_store().get(key)
    if found is not None:
        return found
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    process = latent_process(schedule, SamplerConfig("ddim", steps=steps, guidance=guidance))
    generator = torch.Generator().manual_seed(seed)
    device = _device(ld)
    z_start = initial_noise(1, generator, shape=ld.latent_shape).to(device)
    labels = None if label is None else torch.tensor([label], device=device)
    bar = st.progress(0.0, text="Sampling in latent space…")
    with server.queue().turn(server.waiting(bar)), server.model_threads():
        started = time.perf_counter()
        run = decoded_trajectory(ld, process, z_start, generator, labels,
                                 progress=lambda k, total: bar.progress(k / total, text=f"Step {k} of {total}"))
        seconds = time.perf_counter() - started
    bar.empty()
    found = run, seconds
    server.run_store().put(key, found)
    return found


def trajectory_scrubber(run) -> dict:
    """Every step of a latent run: D(z_t), z_t itself, and the decoded prediction D(ẑ_0)."""
    t = run.latent.t.numpy()
    steps = len(t)
    z = run.latent.xs[:, 0].numpy()  # (S + 1, C, h, w)
    frames = np.stack([np.stack([run.xs_pixels[k, 0], channels_image(z[k]), run.x0_pixels[min(k, steps - 1), 0]])
                       for k in range(steps + 1)])  # (S + 1, 3, 28, 28)
    captions = [f"step {k + 1} of {steps} · t = {t[k]}" if k < steps else "done: the sample, decoded"
                for k in range(steps + 1)]
    labels = [str(k + 1) for k in range(steps)] + ["end"]
    return scrubber_specs.image_scrubber(
        ["decoded D(z<sub>t</sub>)", "latent z<sub>t</sub> (4 channels)", "decoded prediction D(ẑ<sub>0</sub>)"],
        frames, labels, captions, active=steps, controls=True, prefix="step ", height=220,
        alt="A latent reverse run: each step's latent, decoded, and the decoded prediction of the clean latent")


def cost_table(card: dict) -> dict[str, list] | None:
    """The card's measured cost of both models (bench quality --model latent --update-card)."""
    cost = card.get("quality", {}).get("cost")
    if not cost:
        return None
    rows = {"figure": ["numbers a sample", "GFLOP a network call", "ms a step, batch 1", "ms a step, batch 16",
                 "16 digits, DDIM-50, s (latent: decoder included)"]}
    for name in ("pixel", "latent"):
        entry = cost[name]
        rows[f"{name} model"] = [f"{entry['numbers_per_sample']}", f"{entry['gflop_per_step']:.3f}",
                                 f"{entry['ms_per_step_batch1']:.1f}", f"{entry['ms_per_step_batch16']:.1f}",
                                 f"{entry['default_run_s']:.2f}"]
    return rows


def quality_table(card: dict) -> dict[str, list] | None:
    quality = card.get("quality", {})
    pixel = quality.get("pixel_model_same_keys_from_its_card", {})
    keys = [k for k in ("unconditional_ddim100", "conditional_ddim100_w2") if k in quality and k in pixel]
    if not keys:
        return None
    rows: dict[str, list] = {"run": [], "pixel model": [], "latent model": []}
    for key in keys:
        for figure in ("mean_confidence", "accuracy", "frechet_distance"):
            if figure in quality[key] and figure in pixel[key]:
                rows["run"].append(f"{key.replace('_', ' ')}: {figure.replace('_', ' ')}")
                rows["pixel model"].append(f"{pixel[key][figure]:.3f}")
                rows["latent model"].append(f"{quality[key][figure]:.3f}")
    return rows


def section_encode(ld, card: dict, ae_card: dict) -> np.ndarray:
    st.header("1 · A digit and its latent")
    scale = ld.scale_factor
    st.markdown(f"The first stage is an autoencoder, trained before any diffusion: its encoder E maps a digit to "
                f"a small grid of numbers, its decoder D maps the grid back. The diffusion model only ever sees "
                f"the grid, multiplied by a scale factor s = {scale:.4f} (1 / the latents' standard deviation "
                "over the training digits; Stable Diffusion's is 0.18215) so that it has about unit variance, "
                "like the N(0, I) noise it is mixed with.")
    st.latex(r"z = s\,\mu_\phi(x_0) \in \mathbb R^{" + "\\times".join(map(str, ld.latent_shape)) + r"},\qquad "
             r"\hat x_0 = D_\phi(z / s),\qquad "
             r"q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)")
    with lecture.tucked("x₀"):
        x0, origin = choose_x0("latent")
    z, reconstruction = encoded(x0, card["sha256"], ld)
    channels = [np.kron(data.to_pixels(c, limit=LATENT_LIMIT), np.ones((4, 4), dtype=np.uint8)) for c in z]
    titles = ["x<sub>0</sub>", *[f"z, channel {k + 1}" for k in range(len(channels))], "D(z): decoded"]
    scrubber.show(scrubber_specs.image_row(np.stack([x0, *channels, reconstruction]), titles, height=130),
                  "latent_encoded")
    numbers = int(np.prod(ld.latent_shape))
    st.caption(f"$x_0$: {origin}. The digit has 28 × 28 = 784 numbers, its latent {numbers}: "
               f"{784 / numbers:.0f}× fewer. Latent values are shown from −{LATENT_LIMIT:g} (black) to "
               f"{LATENT_LIMIT:g} (white). Trained with a light KL term towards N(0, I) "
               f"(weight {ae_card.get('config', {}).get('kl_weight', '?')}), so nearby latents decode to "
               "nearby digits.")
    return x0


def section_noise(ld, card: dict, x0: np.ndarray) -> None:
    st.header("2 · What noise means in each space")
    st.latex(r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon \qquad\text{and}\qquad "
             r"z_t = \sqrt{\bar\alpha_t}\,z + \sqrt{1-\bar\alpha_t}\,\varepsilon_z,\qquad "
             r"\varepsilon, \varepsilon_z \sim \mathcal N(0, I)")
    st.number_input("Noise seed", min_value=0, max_value=2**31 - 1, step=1, key="latent_noise_seed")
    spec = ScheduleSpec.from_dict(card["schedule"])
    scrubber.show(noising_scrubber(x0, int(st.session_state["latent_noise_seed"]), spec, card["sha256"], ld),
                  "latent_noising")
    seed, t = int(st.session_state["latent_noise_seed"]), spec.num_steps // 4
    download_view("latent", lambda: slides.latent_row(noised_frames(x0, seed, spec, card["sha256"], ld, [t])[0], t,
                                                      f"{spec.label()}, noise seed {seed}"),
                  f"{spec.label()}, seed {seed}, t = {t}, model {card['sha256'][:12]}", x0)
    st.caption("The same ᾱ_t in both spaces. Pixel noise is independent grey snow on every pixel. Latent noise "
               "moves the digit through the space of things the decoder can draw: decoded, a noisy latent is "
               "still made of strokes (faint and broken at large t), never grey snow, and the digit's identity "
               "fades rather than drowns.")


def section_sample(ld, card: dict) -> None:
    st.header("3 · Sampling in latent space")
    st.markdown("The reverse process is the pixel model's, unchanged (the same `ReverseProcess`, DDIM, "
                "classifier-free guidance), run on a 4×7×7 grid instead of 28×28 pixels; the decoder turns "
                "the final latent into a digit. Every step's prediction ẑ₀ can be decoded too.")
    st.latex(r"\hat\varepsilon = \varepsilon_\theta(z_t, t, \varnothing) + w\big(\varepsilon_\theta(z_t, t, y) - "
             r"\varepsilon_\theta(z_t, t, \varnothing)\big),\quad \hat z_0 = \frac{z_t - \sqrt{1-\bar\alpha_t}\,"
             r"\hat\varepsilon}{\sqrt{\bar\alpha_t}},\quad z_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat z_0 + "
             r"\sqrt{1-\bar\alpha_{t'}}\,\hat\varepsilon,\quad x = D(z_0 / s)")
    st.caption(r"$t'$ is the next timestep the sampler visits ($\bar\alpha_{t'} = 1$ after the last). Training "
               r"draws $z \sim q_\phi(z \mid x)$; the pictures show the mean.")
    with lecture.tucked("Seed, label, guidance and steps"):
        seed, label, guidance, steps = controls(card)
    run, seconds = sampled(ld, card, seed, label, guidance, steps)
    scrubber.show(trajectory_scrubber(run), "latent_trajectory")
    what = "no label" if label is None else f"label {label}, w = {guidance:g}"
    st.caption(f"DDIM, {steps} steps, η = 0, {what}, seed {seed}: {seconds:.2f} s on this server's "
               f"{models.device_name().upper()}, decoding every step included. Unlike pixels, ẑ₀ is not clipped: "
               "a latent has no [−1, 1] box.")


def section_cost(card: dict) -> None:
    st.header("4 · Cost and quality, side by side")
    cost, quality = cost_table(card), quality_table(card)
    if cost is None or quality is None:
        st.info("This model card holds no measurements yet: `python -m diffusion_core bench quality --model latent "
                "--update-card` adds them.")
        return
    left, right = st.columns(2)
    left.table(cost)
    right.table(quality)
    measured = card["quality"]["cost"]
    st.caption(f"Measured with `python -m diffusion_core bench quality --model latent` on "
               f"{measured['device'].upper()}, {measured['threads']} threads, both models in one run: a latent "
               f"network call costs {measured['step_flops_ratio']:.1f}× fewer FLOPs, and the default run is "
               f"{measured['default_run_speedup']:.1f}× faster, decoder included. Quality is read by the same "
               "MNIST classifier (confidence; accuracy of “make a k”; Fréchet distance of its features to the "
               "test digits).")


def section_scale_up() -> None:
    st.header("5 · How Stable Diffusion, DALL-E 3 and Midjourney scale this up")
    st.markdown(
        "**Stable Diffusion** (Rombach et al. 2022, *High-Resolution Image Synthesis with Latent Diffusion "
        "Models*) is this page at scale. Its autoencoder downsamples 8× on each side: a 512×512×3 image becomes a "
        "64×64×4 latent, 48× fewer numbers, with a light KL term and scale factor 0.18215, as here. A U-Net of "
        "about 860 M parameters (SD 1.x) predicts ε on that latent; its “label” is a prompt, encoded by a frozen "
        "text encoder (CLIP ViT-L/14 in SD 1.x) and read by cross-attention layers inside the U-Net, where ours "
        "adds one learned vector per class to the timestep embedding. Sampling is what this app does: "
        "classifier-free guidance and DDIM-like samplers over 20–50 steps, then one decoder call.\n\n"
        "**DALL-E 3** (Betker et al. 2023, *Improving Image Generation with Better Captions*): OpenAI's report is "
        "mostly about data. A captioning model trained for the purpose wrote new, detailed captions for the "
        "training images (mixed with some of the original ones), and the text-to-image diffusion model trained "
        "on them follows prompts far better; at use a language model expands the user's prompt the same way. "
        "The report gives only parts of the architecture (a T5 text encoder, diffusion in an autoencoder's "
        "latent space with a diffusion decoder back to pixels); the rest is not published.\n\n"
        "**Midjourney** publishes no paper and no architecture. It is generally taken to be a diffusion model of "
        "this family, but nothing about its internals can be checked, so this app claims nothing more.\n\n"
        "**In our miniature:** the class label is the prompt; the label embedding plays the text encoder; adding "
        "it to the timestep embedding plays cross-attention; the 28×28 → 4×7×7 autoencoder plays the 8× VAE; "
        "guidance, the schedule and the sampler are the same code for both.")


def run() -> None:
    st.title("Latent diffusion: the same idea, in a smaller space")
    st.markdown("Diffusion on pixels spends most of its effort on detail the eye barely sees. Latent diffusion "
                "first compresses images with an autoencoder, then runs exactly the same diffusion on the "
                "compressed grid, and decodes once at the end. That is how Stable Diffusion makes 512×512 images "
                "affordable. Here it is at MNIST size, beside the pixel model of the other pages.")
    loaded = models.latent_or_error()
    if loaded is None:
        return
    ld, card, ae_card = loaded
    x0 = section_encode(ld, card, ae_card)
    section_noise(ld, card, x0)
    section_sample(ld, card)
    section_cost(card)
    section_scale_up()
    links.write_link("latent")


if __name__ == "__main__":
    run()
