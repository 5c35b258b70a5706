"""Plotly figure builders for the screen: arrays in, figures out (no Streamlit here). What the
browser scrubber draws is built in ui/components/scrubber_specs.py.

Plotly figures are built as plain dicts (``FrozenFigure``): go.Figure validates every property
of every frame when built, tenths of a second for a figure of a hundred frames, while the chart
component (ui/components/chart.py) only needs ``to_dict()``. tests/test_figures.py validates each Plotly
builder's dict with go.Figure once.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

# Curve i of a chart: Okabe & Ito's colour-blind-safe hues, darkened where needed for 3:1 against white
# (WCAG 1.4.11). Each pair stays apart under protan, deutan and tritan vision (tests/test_figures.py), and
# curves also differ by dash (LINE_DASHES), so no meaning rests on colour alone.
LINE_COLORS = ("#0072b2", "#d55e00", "#009e73", "#b8559a", "#6b5d00", "#33302e")
LINE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
BLUE, VERMILLION, GREEN = LINE_COLORS[:3]


class FrozenFigure(go.Figure):
    """A go.Figure that holds a ready plain-dict spec; treat it as read-only.

    ``to_dict()`` (all st.plotly_chart calls) returns the spec as built; pickling (st.cache_data)
    round-trips through the same constructor, so a cache hit costs no validation either.
    """

    def __init__(self, spec: dict | None = None, **_ignored):
        super().__init__()
        self._spec = spec if spec is not None else {"data": [], "layout": {}}

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec

    def __reduce__(self):
        return (FrozenFigure, (self._spec,))


def plain_text(html: str) -> str:
    """A name or title in HTML (x<sub>t</sub>) -> text a screen reader reads well (x_t)."""
    return re.sub(r"<[^>]+>", "", re.sub(r"<sub>(.*?)</sub>", r"_\1", re.sub(r"<sup>(.*?)</sup>", r"^\1", html)))


def describe(figure: FrozenFigure) -> str:
    """What a chart shows, in words, from its own titles and trace names: its default text alternative."""
    spec = figure.to_dict()
    layout, traces = spec.get("layout", {}), spec.get("data", [])

    def title(of: dict | str | None) -> str:
        return plain_text(of.get("text", "") if isinstance(of, dict) else of or "")

    kind = "Heatmap" if any(t.get("type") == "heatmap" for t in traces) else (
        "Scatter plot" if traces and all(t.get("mode") == "markers" for t in traces) else "Chart")
    x, y = title(layout.get("xaxis", {}).get("title")), title(layout.get("yaxis", {}).get("title"))
    text = f"{kind} of {y or 'y'} against {x or 'x'}" if x or y else kind
    names = [plain_text(str(t["name"])) for t in traces if t.get("name")]
    if title(layout.get("title")):
        text = f"{title(layout['title'])}. {text}"
    return text + (f"; {len(names)} series: {', '.join(names)}" if names else "")


def enlarged(figure: FrozenFigure, factor: float) -> FrozenFigure:
    """The same figure ``factor`` times taller, with larger text (lecture mode). Frames are shared."""
    spec = figure.to_dict()
    layout = spec.get("layout", {})

    def scaled(font: dict) -> dict:
        return {**font, "size": round(font.get("size", 12) * factor)}

    grown = {**layout, "height": round(layout.get("height", 450) * factor), "font": scaled(layout.get("font", {}))}
    if "title" in layout:
        grown["title"] = {**layout["title"], "font": scaled(layout["title"].get("font", {}))}
    return FrozenFigure({**spec, "layout": grown})


def normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)


def histogram_densities(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """values (F, N) -> densities (F, K) on the K bins ``edges`` (area 1 over all N values)."""
    widths = np.diff(edges)
    counts = np.stack([np.histogram(v, bins=edges)[0] for v in values])
    return counts / (values.shape[1] * widths)


def rounded(values: np.ndarray, decimals: int = 4) -> list[float]:
    """values as a list of floats with ``decimals`` decimals: a figure's JSON stays small."""
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


LINE_POINTS = 250  # points drawn per curve of a line chart


def thinned(count: int) -> np.ndarray:
    """Indices of at most LINE_POINTS points spread evenly over ``count``, both ends kept."""
    return np.unique(np.round(np.linspace(0, count - 1, min(count, LINE_POINTS))).astype(int))


def line_chart(series: dict[str, tuple[np.ndarray, np.ndarray]], x_title: str, y_title: str, log_y: bool = False,
               marker_x: float | None = None, height: int = 340, title: str = "") -> FrozenFigure:
    """Curves {name: (x, y)}; marker_x adds a dashed line there and a dot on each curve at that x.

    Built to redraw fast when only the marker moves: the marker is layout shapes (a dashed line and
    a round dot per curve), and ``datarevision`` names the curves, so Plotly.react sees that the
    data did not change and redraws the shapes alone. The margins are fixed (automatic margins
    cost Plotly a second layout pass). A marker needs a linear y axis: on a log axis Plotly draws
    a pixel-sized dot squashed to half its height (Plotly.js 4.1), so that is refused."""
    if log_y and marker_x is not None:
        raise ValueError("line_chart: a marker at x needs a linear y axis (log_y=False)")
    data, dots = [], []
    for i, (name, (x, y)) in enumerate(series.items()):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        color = LINE_COLORS[i % len(LINE_COLORS)]
        drawn = thinned(len(x))  # smooth curves: a few hundred points draw the same line, much faster
        data.append({"type": "scatter", "mode": "lines", "name": name, "x": [float(f"{v:.6g}") for v in x[drawn]],
                     "y": [float(f"{v:.6g}") for v in y[drawn]],
                     "line": {"color": color, "width": 2, "dash": LINE_DASHES[i % len(LINE_DASHES)]}})
        if marker_x is not None:
            k = int(np.argmin(np.abs(x - marker_x)))
            dots.append((float(x[k]), float(y[k]), color))
    layout: dict = {"height": height,
                    "margin": {"l": 75, "r": 20, "t": 70 if title else 45, "b": 55, "autoexpand": False},
                    "xaxis": {"title": {"text": x_title}}, "hovermode": "x unified",
                    "yaxis": {"title": {"text": y_title}, "type": "log" if log_y else "linear",
                              "exponentformat": "power"},
                    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}}
    if title:
        layout["title"] = {"text": title}
    if marker_x is not None:
        layout["shapes"] = [{"type": "line", "x0": marker_x, "x1": marker_x, "y0": 0, "y1": 1, "yref": "paper",
                             "line": {"dash": "dash", "color": "gray", "width": 1}}]
        layout["shapes"] += [{"type": "circle", "xsizemode": "pixel", "ysizemode": "pixel", "xanchor": x, "yanchor": y,
                              "x0": -5.5, "x1": 5.5, "y0": -5.5, "y1": 5.5, "fillcolor": color,
                              "line": {"color": "white", "width": 1}} for x, y, color in dots]
    layout["datarevision"] = hashlib.blake2b(json.dumps(data).encode(), digest_size=8).hexdigest()
    return FrozenFigure({"data": data, "layout": layout})


# Digit class c: colour LINE_COLORS[c % 5], solid for 0-4 and dashed for 5-9, so that every class has
# a pair of its own that colour-blind readers can tell apart too.
DIGIT_COLORS = tuple(LINE_COLORS[c % 5] for c in range(10))
DIGIT_DASHES = tuple("solid" if c < 5 else "dash" for c in range(10))


def class_probabilities(probs: np.ndarray, t: np.ndarray, settle: int, label: int | None = None,
                        height: int = 320) -> FrozenFigure:
    """probs (S, 10): the classifier's reading of x̂_0 at each step; t (S,) the paper timesteps.

    One line per digit class (the asked-for label drawn thicker), and a dashed line at step
    ``settle`` (0-based), after which the predicted class no longer changes.
    """
    steps = np.arange(1, len(t) + 1)
    data = [{"type": "scatter", "mode": "lines", "name": str(c), "x": steps.tolist(), "y": rounded(probs[:, c], 3),
             "customdata": np.asarray(t).tolist(),
             "line": {"color": DIGIT_COLORS[c], "dash": DIGIT_DASHES[c], "width": 4 if c == label else 1.6},
             "hovertemplate": f"digit {c}: " + "%{y:.3f} (t = %{customdata})<extra></extra>"} for c in range(10)]
    layout: dict = {"height": height, "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "hovermode": "x unified",
                    "xaxis": {"title": {"text": "reverse step (1 = the noisiest)"}, "range": [1, max(len(t), 2)]},
                    "yaxis": {"title": {"text": "p(digit | x̂<sub>0</sub>)"}, "range": [0, 1.02]},
                    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "title": {"text": "digit "}},
                    "shapes": [{"type": "line", "x0": settle + 1, "x1": settle + 1, "y0": 0, "y1": 1, "yref": "paper",
                                "line": {"dash": "dash", "color": "gray", "width": 1}}]}
    return FrozenFigure({"data": data, "layout": layout})


def animated_gif(frames: np.ndarray, frame_ms: int = 60, hold_ms: int = 2000, repeat: bool = True) -> bytes:
    """uint8 (F, H, W) -> a grayscale GIF that lingers ``hold_ms`` on the last frame; it loops forever,
    or with repeat=False plays once and stays on the last frame (moving content that starts by itself
    must stop within 5 s, WCAG 2.2.2)."""
    import io

    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(f, dtype=np.uint8)) for f in frames]
    buffer = io.BytesIO()
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    looping = {"loop": 0} if repeat else {}  # no loop extension at all: browsers play it once
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, **looping)
    return buffer.getvalue()


# === The distributions page (diffusion_core.toy): densities over (t, x), histograms, point clouds ===
@dataclass(frozen=True)
class Curve:
    """A line in a density chart: y on the chart's x, with a colour and a dash ("solid", "dash", "dot")."""

    name: str
    y: np.ndarray
    color: str
    dash: str = "solid"


_INSTANT = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
_PLAY = {"frame": {"duration": 80, "redraw": True}, "transition": {"duration": 0}, "fromcurrent": True,
         "mode": "immediate"}


def _control_buttons(frame: int, count: int) -> list[dict]:
    """◀ step, play, pause, step ▶. The step buttons name their target frame, so each frame
    carries its own copy of the buttons (frame k's steps go to k - 1 and k + 1)."""
    def go_to(target: int, label: str) -> dict:
        return {"label": label, "method": "animate", "args": [[str(min(max(target, 0), count - 1))], _INSTANT]}
    return [go_to(frame - 1, "◀ step"), {"label": "▶ play", "method": "animate", "args": [None, _PLAY]},
            {"label": "❚❚ pause", "method": "animate", "args": [[None], _INSTANT]}, go_to(frame + 1, "step ▶")]


def _frame_slider(labels: Sequence[str], active: int, prefix: str) -> dict:
    """A Plotly slider whose step k animates to frame "k" at once: scrubbing runs in the browser."""
    return {"active": active, "pad": {"t": 10, "b": 0}, "len": 1.0, "x": 0.0, "y": 0, "yanchor": "top",
            "currentvalue": {"prefix": prefix, "font": {"size": 14, "color": "#31333f"}},
            "font": {"color": "rgba(0,0,0,0)"}, "ticklen": 0, "minorticklen": 0,  # the current value names the step
            "steps": [{"label": str(label), "method": "animate", "args": [[str(k)], _INSTANT]}
                      for k, label in enumerate(labels)]}


def density_heatmap(t_values: np.ndarray, x: np.ndarray, density: np.ndarray, marker_t: float | None = None,
                    zmax: float | None = None, height: int = 380) -> FrozenFigure:
    """density (F, N) of x_t at paper timesteps t_values (F,) and points x (N,): t across, x up.
    marker_t draws a dashed line at that t; colours saturate at zmax (default: the largest density)."""
    data = [{"type": "heatmap", "x": rounded(t_values), "y": rounded(x), "z": rounded(density.T, 3),
             "zmin": 0.0, "zmax": float(density.max() if zmax is None else zmax),
             "colorscale": "Viridis", "colorbar": {"title": {"text": "density"}, "thickness": 12},
             "hovertemplate": "t = %{x}<br>x = %{y:.2f}<br>q(x<sub>t</sub>) = %{z:.3f}<extra></extra>"}]
    layout: dict = {"height": height, "margin": {"l": 10, "r": 10, "t": 20, "b": 10},
                    "xaxis": {"title": {"text": "t"}}, "yaxis": {"title": {"text": "x<sub>t</sub>"}}}
    if marker_t is not None:
        layout["shapes"] = [{"type": "line", "x0": marker_t, "x1": marker_t, "y0": 0, "y1": 1, "yref": "paper",
                             "line": {"dash": "dash", "color": "white", "width": 2}}]
    return FrozenFigure({"data": data, "layout": layout})


def _translucent(color: str, alpha: float) -> str:
    """'#rrggbb' -> 'rgba(r, g, b, alpha)'."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def density_chart(x: np.ndarray, curves: Sequence[Curve], edges: np.ndarray | None = None,
                  histograms: Sequence[Curve] = (), y_max: float | None = None, x_title: str = "x",
                  height: int = 340) -> FrozenFigure:
    """Histograms (Curve.y = densities on the bins ``edges``) as bars, under density curves on x."""
    data = []
    if histograms:
        centers, width = rounded((edges[:-1] + edges[1:]) / 2), float(np.diff(edges).mean())
        for bars in histograms:
            # A translucent fill (two histograms overlap) inside an outline of the full colour, which keeps
            # the bars' edges at 3:1 against the page (WCAG 1.4.11).
            data.append({"type": "bar", "x": centers, "y": rounded(bars.y), "width": width, "name": bars.name,
                         "marker": {"color": _translucent(bars.color, 0.35), "line": {"color": bars.color, "width": 1}},
                         "hovertemplate": "%{x:.2f}: %{y:.3f}<extra></extra>"})
    for curve in curves:
        data.append({"type": "scatter", "mode": "lines", "x": rounded(x), "y": rounded(curve.y), "name": curve.name,
                     "line": {"color": curve.color, "dash": curve.dash, "width": 2.5}, "hoverinfo": "skip"})
    layout: dict = {"height": height, "margin": {"l": 10, "r": 10, "t": 20, "b": 10}, "barmode": "overlay",
                    "bargap": 0, "xaxis": {"title": {"text": x_title}, "range": [float(x[0]), float(x[-1])]},
                    "yaxis": {"title": {"text": "density"}},
                    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}}
    if y_max is not None:
        layout["yaxis"]["range"] = [0, y_max]
    return FrozenFigure({"data": data, "layout": layout})


def point_cloud_scrubber(frames: np.ndarray, colour: np.ndarray, labels: Sequence[str], captions: Sequence[str],
                         background: np.ndarray | None = None, active: int = 0, limit: float = 3.0,
                         prefix: str = "t = ", height: int = 520) -> FrozenFigure:
    """2-D points that move through precomputed frames (F, N, 2), scrubbed in the browser.

    colour (N,) in [0, 1] stays with each point, so one can follow it. background (M, 2): fixed grey
    points (the data). Moving points are rounded to 0.01 (a pixel at the default size) to keep the JSON
    small. Dashed circles mark radius 1 and 2, where N(0, I) puts 39 % and 86 % of its mass.
    """
    count = frames.shape[0]
    if len(labels) != count or len(captions) != count:
        raise ValueError(f"need {count} labels and captions, got {len(labels)} and {len(captions)}")
    if not 0 <= active < count:
        raise ValueError(f"active must lie in [0, {count - 1}], got {active}")
    data = []
    if background is not None:
        data.append({"type": "scatter", "mode": "markers", "x": rounded(background[:, 0], 3),
                     "y": rounded(background[:, 1], 3), "name": "data", "hoverinfo": "skip",
                     "marker": {"size": 3, "color": "rgba(150,150,150,0.35)"}})
    moving = len(data)
    data.append({"type": "scatter", "mode": "markers", "x": rounded(frames[active, :, 0], 2),
                 "y": rounded(frames[active, :, 1], 2), "name": "points", "hoverinfo": "skip",
                 "marker": {"size": 5, "color": rounded(colour, 2), "colorscale": "Viridis", "cmin": 0, "cmax": 1,
                            "line": {"width": 0}}})
    circles = [{"type": "circle", "x0": -r, "x1": r, "y0": -r, "y1": r, "xref": "x", "yref": "y",
                "line": {"dash": "dash", "color": VERMILLION, "width": 1.5}} for r in (1.0, 2.0)]
    axis = {"range": [-limit, limit], "fixedrange": True, "zeroline": False}
    layout: dict = {"height": height, "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "showlegend": False,
                    "title": {"text": captions[active], "x": 0.5, "xanchor": "center", "font": {"size": 15}},
                    "xaxis": axis, "yaxis": {**axis, "scaleanchor": "x"}, "shapes": circles}
    frame_specs = [{"name": str(k), "traces": [moving],
                    "data": [{"type": "scatter", "x": rounded(frames[k, :, 0], 2), "y": rounded(frames[k, :, 1], 2)}],
                    "layout": {"title": {"text": captions[k]},
                               "updatemenus": [{"buttons": _control_buttons(k, count)}]}}
                   for k in range(count)]
    layout["sliders"] = [_frame_slider(labels, active, prefix)]
    layout["updatemenus"] = [{"type": "buttons", "direction": "right", "x": 0.0, "y": 0, "xanchor": "left",
                              "yanchor": "top", "pad": {"t": 75}, "showactive": False,
                              "buttons": _control_buttons(active, count)}]
    return FrozenFigure({"data": data, "layout": layout, "frames": frame_specs})


def steps_quality(rows: Sequence[dict], names: dict[str, str], measure: str, y_title: str,
                  height: int = 340) -> FrozenFigure:
    """One line per sampler of a steps table (the card's quality.steps_table rows): ``measure`` against the
    number of reverse steps (log axis); the hover adds the network calls. names: sampler -> its name."""
    data = []
    for i, (sampler, name) in enumerate(names.items()):
        mine = sorted((r for r in rows if r["sampler"] == sampler), key=lambda r: r["steps"])
        if not mine:
            continue
        data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                     "x": [r["steps"] for r in mine], "y": [r[measure] for r in mine],
                     "customdata": [r["network_calls"] for r in mine],
                     "line": {"color": LINE_COLORS[i], "dash": LINE_DASHES[i], "width": 2.5}, "marker": {"size": 8},
                     "hovertemplate": f"{name}: %{{y:.4g}} at %{{x}} steps (%{{customdata}} network calls)"
                                      "<extra></extra>"})
    steps = sorted({r["steps"] for r in rows})
    layout = {"height": height, "margin": {"l": 70, "r": 20, "t": 45, "b": 55},
              "xaxis": {"title": {"text": "reverse steps (log axis)"}, "type": "log", "tickvals": steps},
              "yaxis": {"title": {"text": y_title}},
              "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}}
    return FrozenFigure({"data": data, "layout": layout})
