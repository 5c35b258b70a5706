"""Figures for slides from the 2-D toy pages: clouds, a distance curve, guidance vectors.

Arrays in (what the core already computed for the page), a matplotlib Figure out; save it with
slides.save. Same fonts and caption line as slides.py.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .slides import COLOURS, FONT, new_figure, with_caption

LIMIT = 2.5  # half-width of the plotted square: the toy data lie in about [-1.5, 1.5]^2, N(0, I) within 2.5


def _plane(ax, limit: float = LIMIT) -> None:
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.grid(alpha=0.25)


def _check_points(name: str, points: np.ndarray) -> None:
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {points.shape}")


def cloud_strip(frames: np.ndarray, colour: np.ndarray, t_values, settings: str) -> Figure:
    """The distributions page: one 2-D cloud (F, N, 2) at each paper t of t_values (F,), coloured by
    where each point started (colour (N,) in [0, 1])."""
    t = [int(v) for v in t_values]
    if frames.ndim != 3 or frames.shape[2] != 2 or len(frames) != len(t):
        raise ValueError(f"frames must have shape (F, N, 2) with F = {len(t)} t values, got {frames.shape}")
    figure = new_figure(3.6 * len(t), 4.3)
    axes = np.atleast_1d(figure.subplots(1, len(t), sharey=True))
    circle = np.linspace(0, 2 * np.pi, 200)
    for ax, points, step in zip(axes, frames, t):
        for radius in (1, 2):
            ax.plot(radius * np.cos(circle), radius * np.sin(circle), color="grey", lw=1, ls="--")
        ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="viridis", vmin=0, vmax=1, s=6, linewidths=0)
        ax.set_title(f"t = {step}", fontsize=FONT)
        _plane(ax)
    return with_caption(figure, f"x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, dashed circles radius 1 and 2 · {settings}")


def two_clouds(clouds: dict[str, np.ndarray], settings: str, reference: np.ndarray | None = None) -> Figure:
    """The two-ways page: clouds side by side (e.g. where the reverse SDE and the PF-ODE land), each
    (N, 2), over grey reference points (e.g. the data)."""
    if not clouds:
        raise ValueError("clouds must hold at least one (N, 2) array, got none")
    figure = new_figure(4.6 * len(clouds), 6.0)  # square panels, their titles and a caption
    axes = np.atleast_1d(figure.subplots(1, len(clouds), sharey=True))
    reach = np.percentile(np.abs(np.concatenate(list(clouds.values()))), 99.5)
    limit = min(LIMIT, max(1.0, float(np.ceil(reach * 2 + 0.4)) / 2))  # the clouds, not the empty plane
    for k, (ax, (title, points)) in enumerate(zip(axes, clouds.items())):
        _check_points(title, points)
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], color="#bbbbbb", s=4, linewidths=0)
        ax.scatter(points[:, 0], points[:, 1], color=COLOURS[k % len(COLOURS)], s=6, linewidths=0)
        ax.set_title(title, fontsize=FONT)
        _plane(ax, limit)
    return with_caption(figure, settings)


def distance_curves(steps, distances: dict[str, np.ndarray], floor: float | None, settings: str,
                    y_title: str = "energy distance to the data") -> Figure:
    """Flow matching: a sample-to-data distance against the number of steps (log axis), one curve each."""
    steps = np.asarray(steps)
    figure = new_figure(9, 5.6)
    ax = figure.subplots()
    for k, (name, values) in enumerate(distances.items()):
        if len(values) != len(steps):
            raise ValueError(f"distances[{name!r}] must hold one value per step count ({len(steps)}), "
                             f"got {len(values)}")
        ax.plot(steps, values, "o-", lw=3, ms=8, color=COLOURS[k % len(COLOURS)], label=name)
    if floor is not None:
        ax.axhline(floor, color="grey", ls="--", lw=2, label="data against more data")
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [str(int(s)) for s in steps])
    ax.set_xlabel("Euler steps", fontsize=FONT)
    ax.set_ylabel(y_title, fontsize=FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT - 2)
    return with_caption(figure, settings)


def guidance_vectors(point, eps_none: np.ndarray, eps_label: np.ndarray, w: float, clouds: list[np.ndarray],
                     settings: str, scale: float = 0.5) -> Figure:
    """Guidance geometry: at x_t, ε_∅, ε_y and ε̂ = ε_∅ + w (ε_y − ε_∅) drawn ``scale`` × their length,
    over draws of q(x_t | y) for each class (clouds: (N, 2) each)."""
    x = np.asarray(point, dtype=float)
    guided = eps_none + w * (eps_label - eps_none)  # classifier-free guidance (Ho & Salimans 2022, eq. 6)
    figure = new_figure(7.5, 7.2)
    ax = figure.subplots()
    for y, cloud in enumerate(clouds):
        _check_points(f"clouds[{y}]", cloud)
        ax.scatter(cloud[:, 0], cloud[:, 1], color=COLOURS[(0, 2)[y % 2]], s=10, alpha=0.5, linewidths=0)
        ax.scatter([], [], color=COLOURS[(0, 2)[y % 2]], s=40, label=f"q(x_t | y = {y})")  # a legible legend dot
    tips = x + scale * np.stack([eps_none, guided])
    ax.plot(tips[:, 0], tips[:, 1], ls=":", color=COLOURS[3], lw=2)
    for vector, colour, name, width in ((guided, COLOURS[3], f"ε̂ (w = {w:g})", 6), (eps_label, COLOURS[4], "ε_y", 3),
                                        (eps_none, "#333333", "ε_∅ (no label)", 3)):  # the widest first, under
        ax.annotate("", xy=x + scale * vector, xytext=x,
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": width, "mutation_scale": 18 + 2 * width})
        ax.plot([], [], color=colour, lw=3, label=name)
    ax.scatter([x[0]], [x[1]], color="black", s=60, zorder=5, label="x_t")
    tip = np.abs(x + scale * np.stack([eps_none, eps_label, guided])).max()
    _plane(ax, max(2.0, float(np.ceil(tip * 2 + 0.3)) / 2))  # every arrow inside, in steps of 0.5
    ax.legend(fontsize=FONT - 3, loc="lower right")
    return with_caption(figure, f"ε̂ = ε_∅ + w (ε_y − ε_∅), w = {w:g}, arrows × {scale:g} · {settings}")
