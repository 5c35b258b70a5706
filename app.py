"""The diffusion teaching app: `streamlit run app.py`. A router; each page lives in ui/pages/."""
from pathlib import Path
from typing import Callable

import streamlit as st

from ui import lecture, links  # no torch here: the first page shows before torch is imported

REVERSE_PAGES = ("reverse", "restore", "latent")  # pages that use the model's own schedule, not the sidebar's
# pages that show and use a toy schedule of their own
OWN_SCHEDULE_PAGES = ("distributions", "two_ways", "flow_matching", "guidance")
# 28x28 digits are shown enlarged: keep their pixels square instead of blurred.
PIXELATED = "<style>[data-testid='stImage'] img {image-rendering: pixelated;}</style>"
# The tab's icon: example digit #0 at t = 150 of the DDPM schedule. A file the server serves itself
# (a Material icon as page_icon made every page load fetch its SVG from fonts.gstatic.com).
ICON = Path(__file__).resolve().parent / "ui" / "favicon.png"


def routes() -> dict[str, list]:
    """The router's pages by section (st.Page resolves its file against the running app.py)."""
    return {
        "": [st.Page("ui/pages/home.py", title="Home", icon=":material/home:", default=True)],
        "The forward process": [
            st.Page("ui/pages/forward.py", title="Forward noising", icon=":material/blur_on:"),
            st.Page("ui/pages/schedules.py", title="Beta schedules", icon=":material/stacked_line_chart:"),
            st.Page("ui/pages/alpha_bar.py", title="ᾱₜ", icon=":material/trending_down:", url_path="alpha_bar"),
        ],
        "The reverse process": [
            st.Page("ui/pages/reverse.py", title="Reverse denoising", icon=":material/auto_awesome:"),
            st.Page("ui/pages/restore.py", title="Noise and restore", icon=":material/healing:"),
        ],
        "Going further": [
            st.Page("ui/pages/distributions.py", title="Distributions", icon=":material/bubble_chart:"),
            st.Page("ui/pages/latent.py", title="Latent diffusion", icon=":material/compress:"),
            st.Page("ui/pages/two_ways.py", title="Two ways back", icon=":material/call_split:"),
            st.Page("ui/pages/flow_matching.py", title="Flow matching", icon=":material/straighten:"),
            st.Page("ui/pages/guidance.py", title="Guidance geometry", icon=":material/call_made:"),
        ],
    }


def run() -> None:
    st.set_page_config(page_title="Diffusion, step by step", page_icon=str(ICON), layout="wide",
                       initial_sidebar_state="collapsed" if links.lecture_in_link() else "auto")
    st.html(PIXELATED)
    page = st.navigation(routes())
    frame(page.url_path, page.run)


def frame(url_path: str, draw_page: Callable[[], None]) -> None:
    """Everything around a page: a shared link's settings in, lecture mode, the page itself, the
    sidebar, and the address out."""
    links.read_link(url_path)  # a shared link sets the view before the page draws its widgets
    if lecture.lecture():
        st.html(lecture.LECTURE_CSS)
    draw_page()
    # The sidebar comes second so that a cold start shows the first page before torch is imported.
    from ui import server, sidebar

    server.setup()  # once per process, after the first page has imported torch
    sidebar.sidebar(schedule_applies=url_path not in REVERSE_PAGES + OWN_SCHEDULE_PAGES,
                    own_schedule=url_path in OWN_SCHEDULE_PAGES)
    links.write_link(url_path)  # the address now describes this view


if __name__ == "__main__":
    run()
