"""Plotly figures, drawn by a small component of our own (st.components.v2) that keeps one chart per key.

st.plotly_chart makes each new figure a new element (the figure is part of the element's id), so
the browser builds the chart again from nothing: Plotly.newPlot, then a second full draw once the
width is known. This component stays on the page from run to run and hands each new figure to
Plotly.react, which redraws only what changed.

Plotly.js is the plotly package's own copy (plotly/package_data/plotly.min.js). The server serves
that folder as static files (a components.v1 path) and the browser loads the script once per tab.
The look follows Streamlit's theme for Plotly: its font, faded axis text, a light grid on y only.
"""
from __future__ import annotations

from pathlib import Path

import plotly
import streamlit as st
from streamlit.components.v1 import declare_component

from ui import lecture
from ui.figures import FrozenFigure, enlarged

CONFIG = {"displayModeBar": False}
_PLOTLY_FILES = declare_component("plotly_js", path=str(Path(plotly.__file__).parent / "package_data"))

JS = r"""
function loadPlotly(src) {  // one <script> per tab, shared by every chart
  if (!window.diffusionPlotly) {
    window.diffusionPlotly = new Promise((resolve, reject) => {
      const script = Object.assign(document.createElement('script'), {src});
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.diffusionPlotly = null;
        reject(new Error(`Plotly.js did not load from ${src}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.diffusionPlotly;
}

function titled(title) {  // Plotly takes a title as text or as {text, font, ...}: always the object here
  return typeof title === 'string' ? {text: title} : (title || {});
}

function themed(layout, host) {  // Streamlit's font and text colour; axis text faded; a grid on y only
  const style = getComputedStyle(host);
  const rgb = (style.color.match(/[\d.]+/g) || [49, 51, 63]).slice(0, 3).join(', ');
  const faded = alpha => `rgba(${rgb}, ${alpha})`;
  const axis = (own, grid) => ({
    showgrid: grid, zeroline: false, automargin: true, gridcolor: faded(0.1), tickcolor: faded(0.2), ...own,
    tickfont: {color: faded(0.6), ...own.tickfont},
    title: {standoff: 12, ...titled(own.title), font: {color: faded(0.6), ...titled(own.title).font}}});
  return {...layout, paper_bgcolor: 'rgba(0, 0, 0, 0)', plot_bgcolor: 'rgba(0, 0, 0, 0)',
          font: {family: style.fontFamily, color: faded(0.6), ...layout.font},
          legend: {...layout.legend, font: {color: style.color, ...(layout.legend || {}).font}},
          title: {...titled(layout.title), font: {color: style.color, weight: 600, ...titled(layout.title).font}},
          hoverlabel: {bgcolor: 'white', font: {family: style.fontFamily, color: '#31333f'}, ...layout.hoverlabel},
          xaxis: axis(layout.xaxis || {}, false), yaxis: axis(layout.yaxis || {}, true)};
}

export default function(component) {
  const { parentElement, data } = component;
  const div = parentElement.querySelector('.plotly-chart-host');
  div.latest = data;
  loadPlotly(data.src).then(Plotly => {
    if (div.latest !== data) return;  // a newer figure arrived while Plotly.js loaded
    Plotly.react(div, {data: data.data, layout: themed(data.layout, parentElement), frames: data.frames || [],
                       config: data.config});
    if (!div.resizing) {  // follow the width of the page (the sidebar opening or closing)
      let width = div.clientWidth;
      div.resizing = new ResizeObserver(() => {
        if (div.clientWidth !== width) { width = div.clientWidth; Plotly.Plots.resize(div); }
      });
      div.resizing.observe(div);
    }
  }).catch(error => { div.textContent = error.message; });
  return () => {
    if (div.resizing) div.resizing.disconnect();
    div.resizing = null;
    if (window.Plotly) window.Plotly.purge(div);
  };
}
"""

_chart = st.components.v2.component("diffusion_plotly_chart", html='<div class="plotly-chart-host"></div>', js=JS,
                                    isolate_styles=False)  # Plotly's own style sheet lives in the page's <head>


def plotly_js_url() -> str:
    """Where the browser finds plotly.min.js on this server (under server.baseUrlPath, if set)."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"{'/' + base if base else ''}/component/{_PLOTLY_FILES.name}/plotly.min.js"


def show(figure: FrozenFigure, key: str) -> None:
    """Draw ``figure`` (larger in lecture mode). The chart keyed ``key`` stays on the page, and each
    new figure is drawn into it."""
    if lecture.lecture():
        figure = enlarged(figure, lecture.LECTURE_SCALE)
    _chart(key=key, data={**figure.to_dict(), "config": CONFIG, "src": plotly_js_url()}, width="stretch")
