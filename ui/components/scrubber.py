"""The scrubber: a small component of our own (st.components.v2) that shows the frames of
scrubber_specs.image_scrubber, or the curves and numbers of scrubber_specs.curve_scrubber, in the browser.

Every frame arrives with the page, as one PNG each, or as a scrubber_specs.Blend (a few base images and
each frame's weights) whose frames the browser draws itself. Dragging the slider, pressing an arrow
key, or Play / Pause / Step swap an <img> source (and a histogram's bar heights) in the browser: no round
trip to the server and no chart library to lay out again. A rerun that brings new frames (another
seed, another digit) only replaces the data: nothing is laid out again. Curves get a
marker (a dashed rule and a dot per curve) that moves with the slider, or with a press and drag on
a chart, and a readout filled in per frame from numbers formatted in Python. A page may ask
where the reader left the scrubber (show(report=True)): it hears once per release, not while
the slider is dragged. The JavaScript is scrubber.js beside this file; the specs come from scrubber_specs.py.

For screen readers and the keyboard (docs/accessibility.md): the image's text alternative names what
the frame on screen shows and at which t, and a live region says where the scrubber was left (once per
release, step, pause or end of play); the slider takes arrow keys, Page Up/Down, Home and End, and
the buttons Enter and Space, each with a focus ring. With prefers-reduced-motion, play steps through
about ten still frames, one a second.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import lecture

HTML = """<div class="scrubber">
  <div class="caption"></div>
  <div class="row">
    <div class="panels"><div class="stage"><img class="frame" alt=""></div></div>
    <div class="bars" hidden><div class="bars-title"></div><svg role="img"></svg></div>
    <div class="lines" hidden></div>
    <div class="readout" hidden></div>
  </div>
  <div class="slide"><span class="value"></span><input type="range" min="0" value="0"></div>
  <div class="buttons" hidden>
    <button type="button" data-go="-1" aria-label="Step back">◀ step</button>
    <button type="button" class="play" aria-label="Play">▶ play</button>
    <button type="button" class="pause" aria-label="Pause">❚❚ pause</button>
    <button type="button" data-go="1" aria-label="Step forward">step ▶</button>
  </div>
  <div class="announce" aria-live="polite"></div>
</div>"""

CSS = """
[hidden] { display: none !important; }
.scrubber { --scale: 1; font-size: calc(14px * var(--scale)); color: inherit; font-family: inherit;
            position: relative; }
.caption { text-align: center; font-size: calc(15px * var(--scale)); min-height: 1.4em; margin-bottom: 0.3em; }
.row { display: flex; align-items: flex-end; gap: 2.5%; }
.panels { flex: var(--panels-flex, 1) 1 0; min-width: 0; padding-top: 1.6em; }
.stage { position: relative; margin: 0 auto; width: min(100%, var(--stage-width)); aspect-ratio: var(--aspect); }
.frame { display: block; width: 100%; height: 100%; image-rendering: pixelated; }
.title { position: absolute; bottom: 100%; transform: translateX(-50%); white-space: nowrap; padding-bottom: 0.2em; }
.joiner { position: absolute; top: 50%; transform: translate(-50%, -50%); font-weight: bold;
          font-size: calc(22px * var(--scale)); }
.bars { flex: 1 1 0; min-width: 0; }
.bars-title { text-align: center; }
.bars svg { display: block; width: 100%; height: auto; overflow: visible; }
.bars text, .lines text { fill: currentColor; font-size: 11px; }
.lines { flex: 3 1 0; min-width: 0; }
.chart + .chart { margin-top: 1em; }
.lines svg { display: block; width: 100%; height: auto; overflow: visible; touch-action: none; cursor: ew-resize; }
.legend { display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; margin-bottom: 0.3em; }
.legend i { display: inline-block; width: 1.6em; height: 0; border-top: 3px solid; margin-right: 0.4em;
            vertical-align: middle; }
.readout { flex: 2 1 0; min-width: 0; align-self: center; line-height: 1.5; }
.readout table { border-collapse: collapse; margin-top: 0.6em; }
.readout td { padding: 0.1em 0.8em 0.1em 0; }
.readout td:last-child { font-variant-numeric: tabular-nums; text-align: right; }
.readout .small { opacity: 0.75; font-size: 0.9em; }
.slide { display: flex; align-items: center; gap: 1em; margin-top: 0.8em; }
.value { min-width: 7em; white-space: nowrap; }
input[type=range] { flex: 1; appearance: none; -webkit-appearance: none; background: transparent; margin: 0;
                    height: calc(1.4em * var(--scale)); cursor: pointer; --fill: 0%; }
/* The track, thumb and focus ring keep 3:1 against the page (WCAG 1.4.11): the theme's primary colour
   (.streamlit/config.toml) and a grey that is 3.5:1 on white. */
.scrubber { --accent: var(--st-primary-color, #a82d3a); --track: #8a8784; }
input[type=range]::-webkit-slider-runnable-track { height: 4px; border-radius: 2px;
  background: linear-gradient(to right, var(--accent) var(--fill), var(--track) var(--fill)); }
input[type=range]::-webkit-slider-thumb { -webkit-appearance: none; width: 16px; height: 16px; margin-top: -6px;
                                          border-radius: 50%; background: var(--accent); border: none; }
input[type=range]::-moz-range-track { height: 4px; border-radius: 2px; background: var(--track); }
input[type=range]::-moz-range-progress { height: 4px; border-radius: 2px; background: var(--accent); }
input[type=range]::-moz-range-thumb { width: 16px; height: 16px; border-radius: 50%; background: var(--accent);
                                      border: none; }
input[type=range]:focus-visible, button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
input[type=range]:focus-visible { border-radius: 4px; }
.buttons { display: flex; gap: 0.5em; margin-top: 0.6em; }
button { font: inherit; padding: 0.25em 0.75em; border-radius: 6px; cursor: pointer;
         border: 1px solid var(--st-border-color, #888); background: transparent; color: inherit; }
.key { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 0.2em; vertical-align: -0.05em; }
.key.line { height: 0; border-top: 3px solid; vertical-align: middle; }
.announce { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
"""

JS = (Path(__file__).resolve().parent / "scrubber.js").read_text(encoding="utf-8")
_scrubber = st.components.v2.component("diffusion_image_scrubber", html=HTML, css=CSS, js=JS)


def nearest_frame(labels: list[str], wanted: str) -> int:
    """The index of the scrubber frame labelled ``wanted`` ("12", "end"), or of the nearest step
    when these frames have none such (another number of steps, or frames thinned out)."""
    if wanted in labels:
        return labels.index(wanted)
    steps = [int(label) if label.isdigit() else None for label in labels]
    if not wanted.isdigit() or all(step is None for step in steps):
        return len(labels) - 1
    return min((k for k, step in enumerate(steps) if step is not None), key=lambda k: abs(steps[k] - int(wanted)))


def show(spec: dict, key: str, report: bool = False) -> str | None:
    """Draw a scrubber_specs.image_scrubber spec (larger in lecture mode).

    report: return the label of the frame where the reader left the scrubber (released the slider,
    stepped, paused, or played to the end) in the run that report starts, and None in every other
    run. Each report reruns the script (or the fragment around it) once, so that the page can put
    it in the address; a later run gets None, so a page never applies an old report again, and a
    report about other frames than ``spec``'s (a control changed at the same moment) is ignored.
    """
    scale = lecture.LECTURE_SCALE if lecture.lecture() else 1.0
    if not report:
        _scrubber(key=key, data={**spec, "scale": scale, "report": False}, width="stretch")
        return None
    result = _scrubber(key=key, data={**spec, "scale": scale, "report": True}, default={"label": None},
                       on_label_change=lambda: None, width="stretch")
    report, seen = result.label, f"_{key}_report_seen"
    if not isinstance(report, str) or report == st.session_state.get(seen):
        return None
    st.session_state[seen] = report
    parts = report.split(" ", 2)  # token, digest, label
    return parts[2] if len(parts) == 3 and parts[1] == spec.get("digest") else None
