"""Figures for slides: the pixel pages' main views drawn with matplotlib, saved as PNG, SVG or PDF.

Files out, no screen: the object-oriented ``Figure`` (no pyplot, no global state), so a server's
threads can draw at once. Every figure carries one caption line with the settings it was drawn
with (``caption_of``). The toy pages' figures are in slides_toy.py.
"""
from __future__ import annotations

import io
import textwrap
from typing import Literal, get_args

import numpy as np
from matplotlib.figure import Figure

from . import data
from .forward import alphas_cumprod_from_zero, forward_states, paper_timesteps
from .schedules import ScheduleSpec

Format = Literal["png", "svg", "pdf"]
FORMATS: tuple[str, ...] = get_args(Format)
Curve = Literal["beta", "alpha_bar", "log_snr"]
CURVES: tuple[str, ...] = get_args(Curve)
FONT = 16  # a projector at the back of a lecture hall
CAPTION_FONT = 13
PANEL = 2.2  # inches per image panel
DPI = 200
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")  # Okabe-Ito, colour-blind safe


def new_figure(width: float, height: float) -> Figure:
    """A blank figure with the slide fonts, laid out so that nothing is clipped."""
    figure = Figure(figsize=(width, height), layout="constrained")
    figure.set_layout_engine("constrained", h_pad=0.08, w_pad=0.08)
    return figure


def with_caption(figure: Figure, caption: str) -> Figure:
    """One line under the panels: the settings the figure was drawn with; tick labels at slide size
    (set on each axes, not in matplotlib's global rcParams, which threads would share)."""
    for ax in figure.axes:
        ax.tick_params(labelsize=FONT - 3)
    width = int(figure.get_figwidth() * 72 / (0.55 * CAPTION_FONT))  # characters that fit on a line
    figure.supxlabel(textwrap.fill(caption, width), fontsize=CAPTION_FONT, color="#333333")
    return figure


def caption_of(figure: Figure) -> str:
    """The caption line, unwrapped."""
    return " ".join(figure.get_supxlabel().split())


def save(figure: Figure, format: Format) -> bytes:  # noqa: A002 (matplotlib's own name for it)
    """The figure as the bytes of a PNG, SVG or PDF file."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=format, dpi=DPI, metadata=_metadata(format))
    return buffer.getvalue()


def _metadata(format: str) -> dict:  # noqa: A002
    # No creation date: the same settings give the same bytes (a cache, a diff of a deck).
    return {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[format]


def image_rows(rows: list[np.ndarray], titles: list[list[str]], caption: str,
               row_labels: list[str] | None = None) -> Figure:
    """Rows of uint8 images (each (F, H, W), 0 black, 255 white), a title over each panel."""
    if not rows or any(r.ndim != 3 or r.dtype != np.uint8 or len(r) == 0 for r in rows):
        raise ValueError(f"rows must be non-empty uint8 arrays of shape (F, H, W), got "
                         f"{[(r.shape, str(r.dtype)) for r in rows]}")
    columns = max(len(r) for r in rows)
    figure = new_figure(PANEL * columns, (PANEL + 0.4) * len(rows) + 0.45)
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, (images, names) in enumerate(zip(rows, titles)):
        for c, ax in enumerate(axes[r]):
            ax.set_axis_off()
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                ax.set_title(names[c], fontsize=FONT)
        if row_labels:
            axes[r][0].set_axis_on()
            axes[r][0].set_xticks([]), axes[r][0].set_yticks([])
            axes[r][0].set_ylabel(row_labels[r], fontsize=FONT)
    return with_caption(figure, caption)


def panel_images(figure: Figure) -> list[np.ndarray]:
    """The image arrays the figure shows, panel by panel (what a test reads back)."""
    return [np.asarray(image.get_array()) for ax in figure.axes for image in ax.get_images()]


# --- the pages ------------------------------------------------------------------------------------
def forward_strip(x0: np.ndarray, schedule: ScheduleSpec, t_values, seed: int, chain: bool = False) -> Figure:
    """x_0 (uint8 28x28) noised to each paper t of t_values (t = 0 is x_0), one ε from ``seed``
    (DDPM eq. 4), or the explicit chain with chain=True: the forward page's strip."""
    t = [int(v) for v in t_values]
    xt = forward_states(data.to_model_space(x0[None])[0], schedule.build(), t, seed, chain)[0]  # (F, 1, 28, 28)
    how = "Markov chain" if chain else "closed form"
    return image_rows([data.to_pixels(xt[:, 0])], [[f"t = {v}" for v in t]],
                      f"x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε ({how}) · schedule {schedule.label()} · noise seed {seed}")


def schedule_curves(specs: dict[str, ScheduleSpec], curve: Curve) -> Figure:
    """One curve (β_t on a log axis, ᾱ_t or log SNR) of each schedule against t: the schedules page."""
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {curve!r}")
    if not specs:
        raise ValueError("specs must name at least one schedule, got none")
    names = {"beta": "β_t (log axis)", "alpha_bar": "ᾱ_t", "log_snr": "log SNR = log(ᾱ_t / (1 − ᾱ_t))"}
    figure = new_figure(10, 5.6)
    ax = figure.subplots()
    for k, (name, spec) in enumerate(specs.items()):
        schedule = spec.build()
        values = {"beta": schedule.betas, "alpha_bar": schedule.alphas_cumprod, "log_snr": schedule.log_snr}[curve]
        ax.plot(paper_timesteps(schedule), values.numpy(), lw=3, color=COLOURS[k % len(COLOURS)], label=name)
    if curve == "beta":
        ax.set_yscale("log")
    ax.set_xlabel("t", fontsize=FONT)
    ax.set_ylabel(names[curve], fontsize=FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT - 2)
    return with_caption(figure, "schedules: " + "; ".join(f"{n} = {s.label()}" for n, s in specs.items()))


def alpha_bar_curves(schedule: ScheduleSpec, t: int | None = None) -> Figure:
    """ᾱ_t, √ᾱ_t and √(1 − ᾱ_t) over t, and below them the SNR on a log axis: the ᾱ_t page."""
    built = schedule.build()
    steps = paper_timesteps(built)
    figure = new_figure(10, 8)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    for k, (name, values) in enumerate((("ᾱ_t", built.alphas_cumprod), ("√ᾱ_t (signal)", built.sqrt_alphas_cumprod),
                                        ("√(1 − ᾱ_t) (noise)", built.sqrt_one_minus_alphas_cumprod))):
        top.plot(steps, values.numpy(), lw=3, color=COLOURS[k], label=name)
    bottom.plot(steps, built.snr.numpy(), lw=3, color=COLOURS[3], label="SNR = ᾱ_t / (1 − ᾱ_t)")
    bottom.set_yscale("log")
    bottom.set_xlabel("t", fontsize=FONT)
    top.set_ylabel("coefficient", fontsize=FONT)
    bottom.set_ylabel("SNR (log axis)", fontsize=FONT)
    at = ""
    if t is not None:
        if not 0 <= t <= built.num_steps:
            raise ValueError(f"t must lie in [0, {built.num_steps}] (the paper's t), got {t!r}")
        for ax in (top, bottom):
            ax.axvline(t, color="black", lw=1.5, ls="--")
        at = f" · t = {t}, ᾱ_t = {alphas_cumprod_from_zero(built)[t]:.4f}"
    for ax, corner in ((top, "center right"), (bottom, "upper right")):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT - 2, loc=corner)
    return with_caption(figure, f"schedule {schedule.label()}{at}")


def states_near(state_t, wanted=None, count: int = 6) -> list[int]:
    """Indices of a reverse run's recorded states (their paper t, state_t, descending) nearest each
    paper t of ``wanted``; by default ``count`` t spread evenly from the first state to the last."""
    state_t = np.asarray(state_t)
    if wanted is None:
        wanted = np.linspace(state_t[0], state_t[-1], min(count, len(state_t))).round()
    return [int(np.argmin(np.abs(state_t - t))) for t in wanted]


def trajectory_strip(frames: np.ndarray, t_values, settings: str, what: str = "x_t") -> Figure:
    """A reverse run's ``what`` (x_t or x̂_0), uint8 (F, 28, 28), at the paper's t of t_values (F,)."""
    t = [int(v) for v in t_values]
    if len(t) != len(frames):
        raise ValueError(f"t_values must give one t per frame ({len(frames)}), got {len(t)}")
    return image_rows([frames], [[f"t = {v}" for v in t]], f"{what} of the reverse run · {settings}")


def sample_grid(images: np.ndarray, settings: str, columns: int | None = None) -> Figure:
    """uint8 (N, 28, 28) digits in one grid (data.image_grid)."""
    grid = data.image_grid(images, columns)
    scale = 5.5 / max(grid.shape)
    figure = new_figure(grid.shape[1] * scale + 0.4, grid.shape[0] * scale + 0.8)
    ax = figure.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    return with_caption(figure, f"{len(images)} samples · {settings}")


def restore_rows(x0: np.ndarray, rows: list[tuple[int, np.ndarray, np.ndarray]], settings: str) -> Figure:
    """The restore page: per row x_0, x_t and the restorations, rows = [(t, x_t (n, 28, 28), restored (n, 28, 28))]."""
    images = [np.concatenate([x0[None], x_t[:1], restored]) for _, x_t, restored in rows]
    titles = [["x_0", f"x_t, t = {t}", *(f"restored #{i + 1}" for i in range(len(restored)))]
              for t, _, restored in rows]
    return image_rows(images, titles, f"noise to t, restore with the network · {settings}")


def latent_row(frames: np.ndarray, t: int, settings: str) -> Figure:
    """The latent page: pixels x_t, the latent z_t's channels and the decoded D(z_t), uint8 (3, H, W), at t."""
    return image_rows([frames], [["pixels x_t", "latent z_t", "decoded D(z_t)"]],
                      f"t = {t}: the same ᾱ_t in pixel and latent space · {settings}")
