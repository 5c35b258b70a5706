"""Plotly figures of the 2-D toy pages (two ways back, flow matching, guidance): arrays in, figures out.

``panels_scrubber`` puts one to three panels side by side under one slider: every frame moves
the traces of every panel at once, in the browser (Plotly frames, as figures.point_cloud_scrubber).
A panel is a square plane (equal axes) or a chart (free axes). Values are rounded to keep the JSON small.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ui.figures import LINE_COLORS, FrozenFigure, _control_buttons, _frame_slider, rounded

# ui.figures' Okabe–Ito colours (apart for colour-blind readers, ≥ 3:1 on white): blue and vermillion for the two
# methods side by side, reddish purple for what a page highlights, green for a second class.
BLUE, ORANGE, GREEN, RED = LINE_COLORS[:4]
GREY = "#767676"  # 4.5:1 on white
MAGMA = [[0.0, "#000004"], [0.25, "#51127c"], [0.5, "#b73779"], [0.75, "#fc8961"], [1.0, "#fcfdbf"]]  # dark to light
PANEL_GAP = 0.06  # of the figure's width, between panels


@dataclass
class Panel:
    """One subplot. ``static`` traces are drawn once; ``frames[k]`` are the moving traces of frame k
    (the same number, in the same order, in every frame)."""

    title: str
    static: list[dict] = field(default_factory=list)
    frames: list[list[dict]] = field(default_factory=list)
    plane: bool = True  # a square [-limit, limit]^2 with equal axes; False: a chart with the ranges below
    limit: float = 2.0
    x_title: str = ""
    y_title: str = ""
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None


def points(xy: np.ndarray, color, name: str, size: float = 4, opacity: float = 1.0, decimals: int = 2) -> dict:
    """Markers at xy (N, 2); color one colour or (N,) values in [0, 1] on Viridis."""
    marker: dict = {"size": size, "opacity": opacity, "line": {"width": 0}}
    if isinstance(color, str):
        marker["color"] = color
    else:
        marker.update(color=rounded(color, 2), colorscale="Viridis", cmin=0, cmax=1)
    return {"type": "scatter", "mode": "markers", "x": rounded(xy[:, 0], decimals), "y": rounded(xy[:, 1], decimals),
            "name": name, "hoverinfo": "skip", "marker": marker}


def polylines(paths: np.ndarray, color: str, name: str, width: float = 1.0, opacity: float = 0.6) -> dict:
    """paths (S, N, 2): N lines of S points each, in one trace (None separates them)."""
    xs, ys = [], []
    for n in range(paths.shape[1]):
        xs += [*rounded(paths[:, n, 0], 3), None]
        ys += [*rounded(paths[:, n, 1], 3), None]
    return {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": name, "hoverinfo": "skip",
            "opacity": opacity, "line": {"color": color, "width": width}}


def arrows(base: np.ndarray, vectors: np.ndarray, color: str, name: str, width: float = 1.5) -> list[dict]:
    """Arrows from base (G, 2) to base + vectors (G, 2): shafts (one line trace) and heads (arrow markers
    turned along each vector; the plane's axes are equal, so data angles are screen angles)."""
    tips = base + vectors
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(np.round(base, 3).tolist(), np.round(tips, 3).tolist()):
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    angle = np.degrees(np.arctan2(vectors[:, 0], vectors[:, 1]))  # Plotly: 0 points up, clockwise
    size = np.where(np.linalg.norm(vectors, axis=1) > 1e-3, 7, 0)  # no head on a zero vector
    return [{"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": name, "hoverinfo": "skip",
             "line": {"color": color, "width": width}},
            {"type": "scatter", "mode": "markers", "x": rounded(tips[:, 0], 3), "y": rounded(tips[:, 1], 3),
             "name": name, "hoverinfo": "skip", "showlegend": False,
             "marker": {"symbol": "arrow", "size": size.tolist(), "angle": np.round(angle).tolist(), "color": color,
                        "line": {"width": 0}}}]


def heatmap(grid: np.ndarray, z: np.ndarray, zmin: float, zmax: float, colorbar: str,
            colorscale: str | list = "Viridis") -> dict:
    """z (G, G) on the square grid (G,) x (G,), z[i, j] at (grid[j], grid[i])."""
    return {"type": "heatmap", "x": rounded(grid, 3), "y": rounded(grid, 3), "z": rounded(z, 2), "zmin": zmin,
            "zmax": zmax, "colorscale": colorscale, "hoverinfo": "skip", "showscale": False,
            "name": colorbar}


def bars(centers: np.ndarray, heights: np.ndarray, color: str, name: str) -> dict:
    return {"type": "bar", "x": rounded(centers, 3), "y": rounded(heights, 3), "name": name, "opacity": 0.45,
            "marker": {"color": color}, "hoverinfo": "skip"}


def line(x: np.ndarray, y: np.ndarray, color: str, name: str, dash: str = "solid") -> dict:
    return {"type": "scatter", "mode": "lines", "x": rounded(x, 3), "y": rounded(y, 3), "name": name,
            "hoverinfo": "skip", "line": {"color": color, "dash": dash, "width": 2.5}}


def panels_scrubber(panels: Sequence[Panel], labels: Sequence[str], captions: Sequence[str], active: int = 0,
                    prefix: str = "t = ", height: int = 500, legend: bool = True) -> FrozenFigure:
    """The panels side by side, scrubbed through len(labels) frames in the browser; captions[k] is the
    figure's title at frame k."""
    count = len(labels)
    if len(captions) != count or any(len(p.frames) != count for p in panels):
        raise ValueError(f"need {count} captions and {count} frames per panel, got {len(captions)} and "
                         f"{[len(p.frames) for p in panels]}")
    if not 0 <= active < count:
        raise ValueError(f"active must lie in [0, {count - 1}], got {active}")
    width = (1.0 - PANEL_GAP * (len(panels) - 1)) / len(panels)
    data, moving, layout = [], [], {}
    annotations = []
    for i, panel in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        start = i * (width + PANEL_GAP)
        x_axis: dict = {"domain": [start, start + width], "zeroline": False, "fixedrange": True,
                        "title": {"text": panel.x_title}}
        y_axis: dict = {"anchor": f"x{suffix}", "zeroline": False, "fixedrange": True, "title": {"text": panel.y_title}}
        if panel.plane:
            x_axis["range"] = y_axis["range"] = [-panel.limit, panel.limit]
            y_axis["scaleanchor"] = f"x{suffix}"
        else:
            if panel.x_range:
                x_axis["range"] = list(panel.x_range)
            if panel.y_range:
                y_axis["range"] = list(panel.y_range)
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = x_axis, y_axis
        annotations.append({"text": f"<b>{panel.title}</b>", "x": start + width / 2, "y": 1.0, "xref": "paper",
                            "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False})
        data += [{**trace, **axes} for trace in panel.static]
        moving += list(range(len(data), len(data) + len(panel.frames[active])))
        data += [{**trace, **axes} for trace in panel.frames[active]]
    frame_specs = [{"name": str(k), "traces": moving,
                    "data": [trace for panel in panels for trace in panel.frames[k]],
                    "layout": {"title": {"text": captions[k]},
                               "updatemenus": [{"buttons": _control_buttons(k, count)}]}}
                   for k in range(count)]
    layout.update({
        "height": height, "margin": {"l": 10, "r": 10, "t": 80, "b": 10}, "showlegend": legend, "barmode": "overlay",
        "bargap": 0, "annotations": annotations,
        "title": {"text": captions[active], "x": 0.5, "xanchor": "center", "y": 0.98, "yanchor": "top",
                  "font": {"size": 15}},
        "legend": {"orientation": "h", "x": 0, "y": -0.09, "yanchor": "top"},
        "sliders": [{**_frame_slider(labels, active, prefix), "y": -0.17 if legend else 0}],
        "updatemenus": [{"type": "buttons", "direction": "right", "x": 0.0, "y": -0.17 if legend else 0,
                         "xanchor": "left", "yanchor": "top", "pad": {"t": 75}, "showactive": False,
                         "buttons": _control_buttons(active, count)}],
    })
    return FrozenFigure({"data": data, "layout": layout, "frames": frame_specs})


def steps_chart(steps: Sequence[int], series: dict[str, tuple[np.ndarray, str]], floor: float,
                y_title: str, height: int = 340) -> FrozenFigure:
    """Distance against the number of steps (log axis), one line per sampler; a dashed line at ``floor``."""
    data = [{"type": "scatter", "mode": "lines+markers", "x": list(steps), "y": rounded(values, 4), "name": name,
             "line": {"color": color, "width": 2.5}, "marker": {"size": 8},
             "hovertemplate": f"{name}: %{{y:.3f}} at %{{x}} steps<extra></extra>"}
            for name, (values, color) in series.items()]
    data.append({"type": "scatter", "mode": "lines", "x": [steps[0], steps[-1]], "y": [floor, floor],
                 "name": "two draws of the data (the floor)", "line": {"color": GREY, "dash": "dash", "width": 1.5},
                 "hoverinfo": "skip"})
    layout = {"height": height, "margin": {"l": 70, "r": 20, "t": 45, "b": 55},
              "xaxis": {"title": {"text": "Euler steps (log axis)"}, "type": "log", "tickvals": list(steps)},
              "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
              "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}}
    return FrozenFigure({"data": data, "layout": layout})
