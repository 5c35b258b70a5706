"""What the browser scrubber (ui/components/scrubber.py) draws: rows of image panels that scrub through
precomputed frames, with an optional bar panel, and charts of curves with a marker that follows
the slider, beside numbers at each t. Arrays in, JSON-ready specs out (no Streamlit here).

Every frame travels with the page, so the browser swaps images while the slider is dragged, with
no round trip to the server: as one PNG of the panels side by side per frame, or as a ``Blend``
(a few base images and each frame's weights) whose frames the browser computes itself.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from diffusion_core.data import to_pixels
from ui.figures import BLUE, LINE_COLORS, VERMILLION, plain_text, rounded, thinned

BARS_WIDTH = 1.6  # a scrubber's bar panel is as wide as this many image panels


def png_data_uri(image: np.ndarray) -> str:
    """uint8 (H, W) grayscale -> 'data:image/png;base64,...' (a minimal PNG: one IDAT, no filters).

    Three times faster than Pillow for 28x28 images, which matters at 600 images per figure.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D uint8 array (H, W), got shape {image.shape}")
    height, width = image.shape
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), image]).tobytes()  # filter byte 0 per row

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass(frozen=True)
class Bars:
    """A bar panel that changes with the frame: heights (F, K) over bins ``edges`` (K + 1,),
    drawn against a fixed reference curve (ref_x, ref_y), e.g. the N(0, 1) density."""

    edges: np.ndarray
    heights: np.ndarray
    ref_x: np.ndarray
    ref_y: np.ndarray
    title: str
    ref_name: str
    y_max: float


ROW_GAP = 4  # px of white between the images of a row
JOINER_GAP = 10  # px between panels with a joiner ("=", "+") in between


def _panel_lefts(count: int, width: int, gap: int) -> list[int]:
    """Where each of ``count`` panels ``width`` px wide, ``gap`` px apart, starts in a row, in px from
    its left edge: the one layout of a row, which _side_by_side draws and the browser follows (a
    Blend's frames, the titles and joiners over the panels)."""
    return [p * (width + gap) for p in range(count)]


def _side_by_side(images: np.ndarray, gap: int) -> np.ndarray:
    """uint8 (N, H, W) -> (H, N W + (N - 1) gap): the images in a row, white between them."""
    count, height, width = images.shape
    lefts = _panel_lefts(count, width, gap)
    row = np.full((height, lefts[-1] + width), 255, dtype=np.uint8)
    for image, left in zip(images, lefts):
        row[:, left:left + width] = image
    return row


def _digest(spec: dict, extra: bytes = b"") -> str:
    """What a scrubber draws, except where it opens (`active`): the browser rebuilds only when this
    changes, and keeps the reader's place while the steps stay."""
    digest = hashlib.blake2b(extra, digest_size=12)
    digest.update(json.dumps({k: v for k, v in spec.items() if k not in ("frames", "active")}, sort_keys=True).encode())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Blend:
    """Frames that are weighted sums of a few base images, such as x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε:
    panel p of frame k is to_pixels(Σ_j weights[k, p, j] · bases[j]). A scrubber sends the
    bases and the weights, and the browser draws each frame as it is shown: a tenth of the bytes
    of a PNG per frame, and no PNG to encode here."""

    bases: np.ndarray  # (J, H, W), model space (-1 black .. 1 white)
    weights: np.ndarray  # (F, P, J)

    def __post_init__(self):
        if self.bases.ndim != 3 or self.weights.ndim != 3 or self.weights.shape[2] != self.bases.shape[0]:
            raise ValueError(f"need bases (J, H, W) and weights (F, P, J), got {self.bases.shape} and "
                             f"{self.weights.shape}")

    def frames(self) -> np.ndarray:
        """uint8 (F, P, H, W): what the browser draws, computed the same way (float32 bases, sums in
        float64)."""
        bases = self.bases.astype(np.float32).astype(np.float64)
        return to_pixels(np.einsum("fpj,jhw->fphw", np.asarray(self.weights, dtype=np.float64), bases))


def image_scrubber(titles: Sequence[str], frames: np.ndarray | Blend, labels: Sequence[str], captions: Sequence[str],
                   bars: Bars | None = None, joiners: Sequence[str] = (), active: int = 0,
                   controls: bool = False, prefix: str = "t = ", height: int = 220, alt: str = "") -> dict:
    """One row of image panels (and optional bars) that scrubs through precomputed frames: the
    JSON-ready spec that ui/components/scrubber.py draws in the browser.

    frames: uint8 (F, P, H, W), one image per panel per frame, each frame sent as a PNG; or a
    Blend, whose frames the browser computes from its bases. labels: (F,) slider values,
    captions: (F,) the title shown with each frame. joiners: text set between panels (such as
    "=" and "+"). controls adds Play / Pause and step buttons. height: the images' height in px
    at most (narrow screens shrink them). alt: what the images show, for screen readers (default:
    the titles); the browser adds the caption of the frame on screen and keeps it current. Titles,
    joiners and captions are HTML (such as x<sub>t</sub>), shown as they are: never pass them text a
    user typed.
    """
    blend = frames if isinstance(frames, Blend) else None
    count, panels = blend.weights.shape[:2] if blend else frames.shape[:2]
    img_h, img_w = blend.bases.shape[1:] if blend else frames.shape[2:]
    if len(titles) != panels or len(labels) != count or len(captions) != count:
        raise ValueError(f"need {panels} titles and {count} labels and captions, got "
                         f"{len(titles)}, {len(labels)}, {len(captions)}")
    if not 0 <= active < count:
        raise ValueError(f"active must lie in [0, {count - 1}], got {active}")
    # Each frame is its panels side by side in one image (the joiners sit in wider gaps).
    gap = JOINER_GAP if joiners else ROW_GAP
    lefts = _panel_lefts(panels, img_w, gap)
    row_w = lefts[-1] + img_w
    spec: dict = {
        "frames": [] if blend else [png_data_uri(_side_by_side(frames[k], gap)) for k in range(count)],
        "row": [img_h, row_w], "height": height, "blend": None,
        "titles": [{"text": title, "x": round((left + img_w / 2) / row_w, 5)} for title, left in zip(titles, lefts)],
        "joiners": [{"text": text, "x": round((left + img_w + gap / 2) / row_w, 5)}  # mid-gap after a panel
                    for text, left in zip(joiners[: panels - 1], lefts)],
        "labels": [str(label) for label in labels], "captions": list(captions), "active": active,
        "controls": controls, "prefix": prefix, "alt": alt or plain_text(", ".join(titles)),
        "bars": None, "panels_share": 1, "lines": None, "readout": None,
    }
    if bars is not None:
        # The title names each colour with a key beside it, in the text colour: no text in a hue that
        # may be too light to read or that some readers cannot tell from the other.
        spec["bars"] = {"edges": rounded(bars.edges), "heights": np.round(bars.heights, 4).tolist(),
                        "ref_x": rounded(bars.ref_x), "ref_y": rounded(bars.ref_y), "y_max": bars.y_max,
                        "title": f"<i class='key' style='background:{BLUE}'></i>{bars.title}  vs  "
                                 f"<i class='key line' style='border-color:{VERMILLION}'></i>{bars.ref_name}",
                        "alt": plain_text(f"Histogram of the {bars.title}, against the {bars.ref_name} (a curve)"),
                        "fill": BLUE, "ref_color": VERMILLION, "x_title": "pixel value", "y_title": "density"}
        spec["panels_share"] = round(panels / BARS_WIDTH, 4)
    if blend:
        spec["blend"] = {"bases": base64.b64encode(blend.bases.astype("<f4").tobytes()).decode("ascii"),
                         "weights": np.asarray(blend.weights, dtype=np.float64).tolist(), "lefts": lefts}
    spec["digest"] = _digest(spec, b"" if blend else frames.tobytes())
    return spec


def image_row(images: np.ndarray, titles: Sequence[str], height: int = 100, alt: str = "") -> dict:
    """A static row of uint8 (N, H, W) images with a title over each (a strip of small multiples):
    a scrubber of one frame, which ui/components/scrubber.py draws without a slider."""
    if len(titles) != images.shape[0]:
        raise ValueError(f"need {images.shape[0]} titles, got {len(titles)}")
    return image_scrubber(titles, images[None], [""], [""], height=height, alt=alt)


@dataclass(frozen=True)
class CurveChart:
    """One chart of a curve_scrubber: curves {name: y (F,)} over the scrubber's timesteps.

    y_range bounds a linear axis. log_y draws log10 of the curves on an axis of whole decades around
    them, labelled 10^k (y_range is then ignored); a value that is not positive and finite (an SNR
    whose ᾱ_t underflowed to 0) is left out of its curve and has no dot. height is in the units of
    the chart's fixed width (520)."""

    curves: dict[str, np.ndarray]
    y_range: tuple[float, float] = (0.0, 1.0)
    log_y: bool = False
    y_title: str = ""
    height: int = 300


def _chart_spec(chart: CurveChart, t: np.ndarray, drawn: np.ndarray, first_color: int) -> dict:
    ys = [np.asarray(y, dtype=np.float64) for y in chart.curves.values()]
    if chart.log_y:
        ys = [np.log10(np.where((y > 0) & np.isfinite(y), y, np.nan)) for y in ys]
        shown = np.concatenate([y[np.isfinite(y)] for y in ys])
        if not shown.size:
            raise ValueError(f"a log axis needs a positive value, and {', '.join(chart.curves)} have none")
        low, high = math.floor(shown.min()), math.ceil(shown.max())
        y_range = [low, max(high, low + 1)]
    else:
        y_range = [float(v) for v in chart.y_range]
    marks = np.round(np.stack(ys, 1), 5)
    return {"y": y_range, "log_y": chart.log_y, "y_title": chart.y_title, "h": chart.height,
            "alt": plain_text(", ".join(chart.curves)),
            "series": [{"name": name, "color": LINE_COLORS[(first_color + i) % len(LINE_COLORS)],
                        "dash": (first_color + i) % len(LINE_COLORS),  # curves differ by dash too, not by hue alone
                        "points": [[x, v] for x, v in np.round(np.stack([t[drawn], y[drawn]], 1), 5).tolist()
                                   if math.isfinite(v)]}
                       for i, (name, y) in enumerate(zip(chart.curves, ys))],
            "marks": [[v if math.isfinite(v) else None for v in row] for row in marks.tolist()]}  # None: no dot


def curve_scrubber(charts: Sequence[CurveChart], t: np.ndarray, x_title: str, template: str,
                   fields: Sequence[Sequence[str]], active: int = 0, prefix: str = "t = ", alt: str = "") -> dict:
    """Charts of curves over t, one above the other, with one marker that follows the scrubber's
    slider, beside a readout of numbers at that t: the JSON-ready spec that ui/components/scrubber.py draws
    (no images).

    The marker at frame k stands at t[k], with a dot on each curve of each chart. template: HTML
    with {0}, {1}, ... that the browser fills with fields[k] (F lists of text) at frame k, so the
    numbers are formatted here, once. Names, titles and the template are HTML (such as
    ᾱ<sub>t</sub>): never pass them text a user typed.
    """
    t = np.asarray(t, dtype=np.float64)
    count = len(t)
    lengths = [len(y) for chart in charts for y in chart.curves.values()]
    if not charts or len(fields) != count or any(n != count for n in lengths):
        raise ValueError(f"need a chart, {count} fields and {count} values per curve, got {len(charts)} charts, "
                         f"{len(fields)} fields and {lengths}")
    if not 0 <= active < count:
        raise ValueError(f"active must lie in [0, {count - 1}], got {active}")
    drawn = thinned(count)
    first_colors = np.cumsum([0] + [len(chart.curves) for chart in charts]).tolist()
    names = [name for chart in charts for name in chart.curves]
    spec: dict = {
        "frames": [], "blend": None, "row": None, "height": 0, "titles": [], "joiners": [],
        "labels": [f"{v:g}" for v in t], "captions": [""] * count, "active": active, "controls": False,
        "prefix": prefix, "alt": alt or plain_text(", ".join(names)), "bars": None, "panels_share": 1,
        "lines": {"x": [float(t[0]), float(t[-1])], "x_title": x_title,
                  "charts": [_chart_spec(chart, t, drawn, first) for chart, first in zip(charts, first_colors)]},
        "readout": {"template": template, "fields": [list(f) for f in fields]},
    }
    spec["digest"] = _digest(spec)
    return spec
