"""Lecture mode: larger text, images and charts for a projector, controls tucked away."""
from __future__ import annotations

import streamlit as st

LECTURE_CSS = """<style>
html { font-size: 20px; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 4.5rem 2.5rem 2rem; }
</style>"""
LECTURE_SCALE = 1.45  # charts grow by this much in lecture mode


def lecture() -> bool:
    return bool(st.session_state.get("lecture", False))


def tucked(label: str = "Controls"):
    """Where a page puts its controls: in place normally, in a closed expander in lecture mode."""
    return st.expander(label, expanded=False, icon=":material/tune:") if lecture() else st.container()
