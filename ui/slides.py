"""Figure for slides: under a page's main view, one row of PNG, SVG and PDF downloads of it.

The figure is drawn (diffusion_core.slides, matplotlib) only when a button is pressed, in the
download's own thread, and kept per page, settings and format: a rerun draws nothing.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from diffusion_core import slides

MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@st.cache_data(max_entries=48, show_spinner=False)
def rendered(key: str, caption: str, fmt: str, identity, _build: Callable[[], Figure]) -> bytes:
    """The file's bytes, kept per page (key), settings (caption, identity) and format. _build is not
    hashed: the caption and identity must name everything it draws from."""
    return slides.save(_build(), fmt)


def download_view(key: str, build: Callable[[], Figure], caption: str, identity: np.ndarray | None = None) -> None:
    """Three download buttons in a row. ``caption`` names the settings the figure is drawn with (it
    keys the cache), ``identity`` an array it also depends on (a drawn or uploaded x_0)."""
    row = st.container(horizontal=True, gap="small", vertical_alignment="center")
    row.caption("Figure for slides:", help=f"This view drawn with matplotlib for a deck; settings: {caption}")
    for fmt in slides.FORMATS:
        row.download_button(fmt.upper(), lambda fmt=fmt: rendered(key, caption, fmt, identity, build),
                            file_name=f"{key}.{fmt}", mime=MIME[fmt], on_click="ignore", key=f"{key}_slide_{fmt}",
                            icon=":material/download:", width="content")
