"""Plotly figures, drawn by a small component of our own (st.components.v2) that keeps one chart per key.

st.plotly_chart makes each new figure a new element (the figure is part of the element's id), so
the browser builds the chart again from nothing: Plotly.newPlot, then a second full draw once the
width is known. This component stays on the page from run to run and hands each new figure to
Plotly.react, which redraws only what changed.

Plotly.js is the plotly package's own copy (plotly/package_data/plotly.min.js). The server serves
that folder as static files (a components.v1 path) and the browser loads the script once per tab.
The look follows Streamlit's theme for Plotly: its font, faded axis text (still 4.5:1), a light grid on y only.

For screen readers and the keyboard the chart is one element: an image named by its text
alternative (figures.describe, or the page's own words), or, for a figure with frames (a point cloud
scrubbed through t), a slider: arrow keys, Page Up/Down, Home and End move through the frames and
Space or Enter plays and pauses, announced by each frame's title. With prefers-reduced-motion, play
shows one still frame a second instead of animating.
"""
from __future__ import annotations

from pathlib import Path

import plotly
import streamlit as st
from streamlit.components.v1 import declare_component

from ui import lecture
from ui.figures import FrozenFigure, describe, enlarged

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

const INSTANT = {mode: 'immediate', frame: {duration: 0, redraw: true}, transition: {duration: 0}};
const STILL_MS = 1000;  // prefers-reduced-motion: play holds each frame this long, with no transition
const stillMotion = () => window.matchMedia('(prefers-reduced-motion: reduce)').matches;

function plain(html) {  // a frame's title in HTML -> text for a screen reader
  return String(html || '').replace(/<sub>(.*?)<\/sub>/g, '_$1').replace(/<[^>]+>/g, '').replace(/\s+·\s+/g, ', ');
}

function slowed(menus) {  // updatemenus whose play buttons show still frames (prefers-reduced-motion)
  return (menus || []).map(menu => ({...menu, buttons: (menu.buttons || []).map(b =>
    b.args && b.args[0] === null && b.args[1] && b.args[1].frame
      ? {...b, args: [null, {...b.args[1], frame: {...b.args[1].frame, duration: STILL_MS}, transition: {duration: 0}}]}
      : b)}));
}

function named(div, data) {  // role, name and (for frames) the keyboard: see the module's docstring
  const frames = data.frames || [];
  div.setAttribute('aria-label', data.alt);
  if (!frames.length) {
    div.setAttribute('role', 'img'); div.removeAttribute('tabindex');
    return;
  }
  div.setAttribute('role', 'slider'); div.setAttribute('tabindex', '0');
  div.setAttribute('aria-valuemin', 0); div.setAttribute('aria-valuemax', frames.length - 1);
  const at = k => {
    div.frameIndex = k;
    div.setAttribute('aria-valuenow', k);
    div.setAttribute('aria-valuetext', plain(((frames[k].layout || {}).title || {}).text) || frames[k].name);
  };
  at(Math.min(((data.layout.sliders || [])[0] || {}).active || 0, frames.length - 1));
  if (div.keyed) return;  // the listeners read div.latest: wire them once per chart
  div.keyed = true;
  div.on('plotly_animatingframe', e => {
    const k = (div.latest.frames || []).findIndex(f => f.name === e.name);
    if (k >= 0) at(k);
  });
  div.on('plotly_animated', () => { div.playing = false; });
  div.addEventListener('keydown', e => {
    const all = div.latest.frames || [], last = all.length - 1, k = div.frameIndex || 0;
    const page = Math.max(1, Math.round(all.length / 10));
    const to = {ArrowRight: k + 1, ArrowUp: k + 1, ArrowLeft: k - 1, ArrowDown: k - 1, PageUp: k + page,
                PageDown: k - page, Home: 0, End: last}[e.key];
    if (to !== undefined) {
      e.preventDefault();
      div.playing = false;
      window.Plotly.animate(div, [all[Math.min(Math.max(to, 0), last)].name], INSTANT);
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      if (div.playing) { div.playing = false; window.Plotly.animate(div, [null], INSTANT); return; }
      div.playing = true;
      if (k >= last) window.Plotly.animate(div, [all[0].name], INSTANT);
      window.Plotly.animate(div, null, {mode: 'immediate', fromcurrent: true, transition: {duration: 0},
                                        frame: {duration: stillMotion() ? STILL_MS : 80, redraw: true}});
    }
  });
}

function themed(layout, host) {  // Streamlit's font and text colour; axis text faded; a grid on y only
  const style = getComputedStyle(host);
  const rgb = (style.color.match(/[\d.]+/g) || [49, 51, 63]).slice(0, 3).join(', ');
  const faded = alpha => `rgba(${rgb}, ${alpha})`;
  const axis = (own, grid) => ({
    showgrid: grid, zeroline: false, automargin: true, gridcolor: faded(0.1), tickcolor: faded(0.2), ...own,
    tickfont: {color: faded(0.75), ...own.tickfont},
    title: {standoff: 12, ...titled(own.title), font: {color: faded(0.75), ...titled(own.title).font}}});
  return {...layout, paper_bgcolor: 'rgba(0, 0, 0, 0)', plot_bgcolor: 'rgba(0, 0, 0, 0)',
          font: {family: style.fontFamily, color: faded(0.75), ...layout.font},
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
    const layout = themed(data.layout, parentElement), frames = data.frames || [];
    if (stillMotion()) {  // each frame carries its own copy of the buttons
      layout.updatemenus = slowed(layout.updatemenus);
      frames.forEach(f => {
        if (f.layout && f.layout.updatemenus) f.layout.updatemenus = slowed(f.layout.updatemenus);
      });
    }
    Plotly.react(div, {data: data.data, layout, frames, config: data.config});
    named(div, data);
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

CSS = """.plotly-chart-host:focus-visible { outline: 3px solid var(--st-primary-color, #a82d3a); outline-offset: 2px;
                                    border-radius: 4px; }"""
_chart = st.components.v2.component("diffusion_plotly_chart", html='<div class="plotly-chart-host"></div>', js=JS,
                                    css=CSS, isolate_styles=False)  # Plotly's own style sheet is in the page's <head>


def plotly_js_url() -> str:
    """Where the browser finds plotly.min.js on this server (under server.baseUrlPath, if set)."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"{'/' + base if base else ''}/component/{_PLOTLY_FILES.name}/plotly.min.js"


def show(figure: FrozenFigure, key: str, alt: str | None = None) -> None:
    """Draw ``figure`` (larger in lecture mode). The chart keyed ``key`` stays on the page, and each
    new figure is drawn into it. alt: what it shows, for screen readers (default: figures.describe)."""
    if lecture.lecture():
        figure = enlarged(figure, lecture.LECTURE_SCALE)
    data = {**figure.to_dict(), "config": CONFIG, "src": plotly_js_url(), "alt": alt or describe(figure)}
    _chart(key=key, data=data, width="stretch")
