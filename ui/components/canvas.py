"""Draw your own digit: a small canvas component of our own (st.components.v2), not a page.

The browser draws white strokes on black in a 280x280 canvas and, when a stroke ends, sends the
canvas as a PNG data URL; Python prepares it like MNIST with data.prepare_user_image (crop to the
ink, fit 20x20, centre by mass in 28x28). No third-party component: the ones on PyPI predate the
Streamlit we pin, and this is 40 lines of JavaScript.
"""
from __future__ import annotations

import base64

import numpy as np
import streamlit as st

from diffusion_core import data

SIZE = 280  # canvas pixels: 10x MNIST, so a finger or mouse stroke of 20 px becomes MNIST's 2 px
PREFIX = "data:image/png;base64,"

HTML = f"""<div class="pad">
  <canvas width="{SIZE}" height="{SIZE}" role="img" aria-label="Drawing canvas: draw one digit with a mouse,
    pen or finger. Without one, choose an example digit, a generated digit or an uploaded image (above)."></canvas>
  <button type="button" class="clear">Clear</button>
</div>"""

CSS = """
.pad { display: flex; align-items: flex-end; gap: 0.75rem; }
canvas { background: #000; border: 1px solid var(--st-border-color, #888); border-radius: 6px;
         touch-action: none; cursor: crosshair; }
button:focus-visible { outline: 3px solid var(--st-primary-color, #a82d3a); outline-offset: 2px; }
button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 6px; cursor: pointer;
         border: 1px solid var(--st-border-color, #888); background: transparent; color: inherit; }
"""

JS = """
export default function(component) {
  const { parentElement, setStateValue, data } = component;
  const canvas = parentElement.querySelector('canvas');
  const clear = parentElement.querySelector('.clear');
  const ctx = canvas.getContext('2d');
  const wipe = () => {  // black, leaving the white of the strokes set
    ctx.save(); ctx.fillStyle = '#000'; ctx.fillRect(0, 0, canvas.width, canvas.height); ctx.restore();
  };
  if (!canvas.dataset.ready) {           // first mount: black, or the drawing Python still holds
    wipe();
    if (data && data.png) { const img = new Image(); img.onload = () => ctx.drawImage(img, 0, 0); img.src = data.png; }
    canvas.dataset.ready = '1';
  }
  canvas.send = setStateValue;  // the latest one: handlers outlive the call that wired them
  // Streamlit calls this again with each new data (every stroke sends the drawing back) but calls
  // only the last cleanup, on unmount: wire the canvas once, and let that cleanup undo it.
  if (!canvas.unwire) canvas.unwire = wire(canvas, clear, ctx, wipe);
  return () => { if (canvas.unwire) canvas.unwire(); canvas.unwire = null; };
}

function wire(canvas, clear, ctx, wipe) {
  ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff'; ctx.lineWidth = 20; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  let last = null;
  const at = (e) => { const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; };
  const down = (e) => { canvas.setPointerCapture(e.pointerId); last = at(e);
    ctx.beginPath(); ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill(); };
  const move = (e) => { if (!last) return; const p = at(e);
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); last = p; };
  const up = () => { if (!last) return; last = null; canvas.send('png', canvas.toDataURL('image/png')); };
  const reset = () => { wipe(); canvas.send('png', null); };
  canvas.addEventListener('pointerdown', down); canvas.addEventListener('pointermove', move);
  canvas.addEventListener('pointerup', up); canvas.addEventListener('pointercancel', up);
  clear.addEventListener('click', reset);
  return () => {
    canvas.removeEventListener('pointerdown', down); canvas.removeEventListener('pointermove', move);
    canvas.removeEventListener('pointerup', up); canvas.removeEventListener('pointercancel', up);
    clear.removeEventListener('click', reset);
  };
}
"""

_canvas = st.components.v2.component("diffusion_draw_canvas", html=HTML, css=CSS, js=JS)


def decode(url: str | None) -> bytes | None:
    """The PNG bytes of the canvas's data URL; None for no drawing. Raises data.DataError otherwise."""
    if not url:
        return None
    if not isinstance(url, str) or not url.startswith(PREFIX):
        raise data.DataError("the drawing did not arrive as a PNG")
    try:
        return base64.b64decode(url[len(PREFIX):], validate=True)
    except ValueError:
        raise data.DataError("the drawing arrived damaged (bad base64)") from None


@st.cache_data(max_entries=16, show_spinner=False)
def prepared(url: str) -> np.ndarray:
    """The drawing as an MNIST-like uint8 (28, 28); raises data.DataError (a blank canvas, bad data)."""
    return data.prepare_user_image(decode(url))


def draw(key: str) -> str | None:
    """Show the canvas; the PNG data URL of what is drawn on it, or None while it is empty."""
    state_key = f"{key}_png"
    result = _canvas(key=key, data={"png": st.session_state.get(state_key)}, default={"png": None},
                     on_png_change=lambda: None, width="content", height=SIZE + 4)
    st.session_state[state_key] = result.png
    return result.png
