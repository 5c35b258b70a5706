"""The app's pages (one thin file each) and the helpers they share; app.py routes between them.

A folder named pages/ beside app.py starts Streamlit in its old multipage mode, which lasts
until app.py has called st.navigation once. Until then a fresh server's first visitor of a deep
link (/forward, a shared lecture link) would get pages/forward.py run on its own: no router, no
sidebar, every helper module listed as a page. Each page imports this package, so the first such
run switches that mode off and reruns, and the rerun goes through app.py to the page asked for.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager  # pinned Streamlit: tests/test_browser.py checks this

if PagesManager.uses_pages_directory and st.runtime.exists():
    PagesManager.uses_pages_directory = False
    st.rerun()
