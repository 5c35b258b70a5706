"""The diffusion teaching app: `streamlit run app.py`. A router; each page lives in pages/."""
import streamlit as st

PAGES = {
    "": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
    "The forward process": [
        st.Page("pages/forward.py", title="Forward noising", icon=":material/blur_on:"),
        st.Page("pages/schedules.py", title="Beta schedules", icon=":material/stacked_line_chart:"),
        st.Page("pages/alpha_bar.py", title="ᾱₜ", icon=":material/trending_down:", url_path="alpha_bar"),
    ],
    "The reverse process": [st.Page("pages/reverse.py", title="Reverse denoising", icon=":material/auto_awesome:")],
    "Going further": [st.Page("pages/distributions.py", title="Distributions", icon=":material/bubble_chart:")],
}
REVERSE_PAGES = ("reverse",)  # pages that use the model's own schedule, not the sidebar's
OWN_SCHEDULE_PAGES = ("distributions",)  # pages that show and use a toy schedule of their own
# 28x28 digits are shown enlarged: keep their pixels square instead of blurred.
PIXELATED = "<style>[data-testid='stImage'] img {image-rendering: pixelated;}</style>"


def run() -> None:
    st.set_page_config(page_title="Diffusion, step by step", page_icon=":material/blur_on:", layout="wide")
    st.html(PIXELATED)
    page = st.navigation(PAGES)
    page.run()
    # The sidebar comes second so that a cold start shows the first page before torch is imported.
    from pages import common

    common.sidebar(schedule_applies=page.url_path not in REVERSE_PAGES + OWN_SCHEDULE_PAGES,
                   own_schedule=page.url_path in OWN_SCHEDULE_PAGES)


if __name__ == "__main__":
    run()
