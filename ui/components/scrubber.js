// The scrubber's browser side (ui/components/scrubber.py registers it as an st.components.v2 module):
// build() lays out a spec of diffusion_core.scrubbing, show() draws frame k, wire() the controls.
const SVG = 'http://www.w3.org/2000/svg';
const BARS = {w: 300, h: 200, l: 42, r: 8, t: 8, b: 34};  // the histogram's box, in SVG units
const LINES = {w: 520, h: 300, l: 46, r: 12, t: 10, b: 36};  // the curves' box
const DASHES = ['', '7 4', '2 3', '8 3 2 3', '12 4', '12 3 2 3'];  // curve i: figures.LINE_DASHES, in SVG units
const STILL_MS = 1000;  // with prefers-reduced-motion, play shows still frames this long each, about ten in all

function plain(html) {  // a caption or name in HTML (x<sub>t</sub>, ·) -> text for a screen reader (x_t, commas)
  const text = html.replace(/<sub>(.*?)<\/sub>/g, '_$1').replace(/<sup>(.*?)<\/sup>/g, '^$1').replace(/<[^>]+>/g, '');
  return text.replace(/\s+·\s+/g, ', ').replace(/\s+/g, ' ').trim();
}

function describe(data, k) {  // frame k in words: what the scrubber shows, and where it stands
  const caption = data.captions[k] ? plain(data.captions[k]) : '', at = `${data.prefix}${data.labels[k]}`;
  if (data.labels.length < 2) return caption;  // a static row: its titles say it all
  return !caption ? at : caption.startsWith(data.prefix.trim()) ? caption : `${at}, ${caption}`;
}

function node(parent, tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

function ticks(lo, hi) {  // about five round values across [lo, hi]
  const raw = (hi - lo) / 5, unit = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map(m => m * unit).find(s => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
  return out;
}

function axes(svg, box, xr, yr, xTitle, yTitle, logY) {  // ticks, grid and titles; returns the scales [sx, sy]
  const {w, h, l, r, t, b} = box;  // logY: y is log10 of the value, ticked at whole decades and labelled 10^k
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const sx = x => l + (x - xr[0]) / (xr[1] - xr[0]) * (w - l - r), sy = y => h - b - (y - yr[0]) / (yr[1] - yr[0]) * (h - t - b);
  for (const v of ticks(xr[0], xr[1])) {
    node(svg, 'line', {x1: sx(v), x2: sx(v), y1: h - b, y2: h - b + 4, stroke: 'currentColor'});
    node(svg, 'text', {x: sx(v), y: h - b + 15, 'text-anchor': 'middle'}, v);
  }
  const every = Math.max(1, Math.ceil((yr[1] - yr[0]) / 6));
  const first = Math.ceil(yr[0] / every) * every;  // decades that are multiples of the step: 10^0, 10^-2, ...
  const yTicks = logY ? Array.from({length: Math.floor((yr[1] - first) / every) + 1}, (_, i) => first + i * every)
                      : ticks(yr[0], yr[1]);
  for (const v of yTicks) {
    node(svg, 'line', {x1: l, x2: w - r, y1: sy(v), y2: sy(v), stroke: '#8884', 'stroke-width': 0.5});
    const label = node(svg, 'text', {x: l - 5, y: sy(v) + 4, 'text-anchor': 'end'}, logY ? '10' : v);
    if (logY) node(label, 'tspan', {dy: -5, 'font-size': 8}, String(v).replace('-', '−'));
  }
  node(svg, 'text', {x: (l + w - r) / 2, y: h - 2, 'text-anchor': 'middle'}, xTitle);
  if (yTitle) node(svg, 'text', {x: 10, y: (t + h - b) / 2, 'text-anchor': 'middle',
                                 transform: `rotate(-90 10 ${(t + h - b) / 2})`}, yTitle);
  node(svg, 'line', {x1: l, x2: w - r, y1: h - b, y2: h - b, stroke: 'currentColor'});
  return [sx, sy];
}

function drawBars(svg, bars) {  // the fixed reference curve and one rect per bin; returns the rects
  const [x0, x1] = [bars.edges[0], bars.edges[bars.edges.length - 1]];
  const [sx, sy] = axes(svg, BARS, [x0, x1], [0, bars.y_max], bars.x_title, bars.y_title);
  const rects = bars.edges.slice(0, -1).map((e, i) => node(svg, 'rect', {
    x: sx(e) + 0.3, width: Math.max(sx(bars.edges[i + 1]) - sx(e) - 0.6, 0.5), fill: bars.fill}));
  const curve = bars.ref_x.map((x, i) => `${sx(x).toFixed(1)},${sy(Math.min(bars.ref_y[i], bars.y_max)).toFixed(1)}`);
  node(svg, 'polyline', {points: curve.join(' '), fill: 'none', stroke: bars.ref_color, 'stroke-width': 2});
  return rects.map(r => [r, sy]);
}

function drawLines(parent, lines, chart) {  // one chart: legend, axes, curves and a marker (a dashed rule,
  const div = document.createElement('div');  // a dot per curve) that show() moves
  div.className = 'chart';
  div.innerHTML = '<div class="legend"></div>';
  div.firstChild.innerHTML = chart.series.map(s => `<span><i style="border-top: 3px ${s.dash ? 'dashed' : 'solid'} `
    + `${s.color}"></i>${s.name}</span>`).join('');
  const svg = node(div, 'svg', {role: 'img'});
  parent.appendChild(div);
  const [sx, sy] = axes(svg, {...LINES, h: chart.h}, lines.x, chart.y, lines.x_title, chart.y_title, chart.log_y);
  for (const s of chart.series) {
    const points = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    node(svg, 'polyline', {points, fill: 'none', stroke: s.color, 'stroke-width': 2,
                           'stroke-dasharray': DASHES[(s.dash || 0) % DASHES.length]});
  }
  const rule = node(svg, 'line', {y1: LINES.t, y2: chart.h - LINES.b, stroke: 'gray', 'stroke-dasharray': '4 3'});
  const dots = chart.series.map(s => node(svg, 'circle', {r: 5.5, fill: s.color, stroke: 'white', 'stroke-width': 1}));
  return {sx, sy, rule, dots, svg};
}

function unpackBlend(blend) {  // scrubbing.Blend: base images as floats, their weights, and a canvas to draw on
  const bytes = Uint8Array.from(atob(blend.bases), c => c.charCodeAt(0));
  return {bases: new Float32Array(bytes.buffer), weights: blend.weights, lefts: blend.lefts, urls: [],
          canvas: document.createElement('canvas')};
}

function blendUrl(blend, k, [h, w]) {  // frame k of a Blend as a PNG: panel p = Σ_j weights[k][p][j] · base j,
  if (blend.urls[k]) return blend.urls[k];  // shown as figures.display_pixels shows model space
  const size = blend.bases.length / blend.weights[k][0].length, side = size / h;
  blend.canvas.width = w; blend.canvas.height = h;
  const context = blend.canvas.getContext('2d'), image = context.createImageData(w, h), px = image.data;
  px.fill(255);  // white gaps between the panels, opaque everywhere
  blend.weights[k].forEach((weights, p) => {
    const left = blend.lefts[p];  // the panels' layout is scrubbing._panel_lefts'
    for (let i = 0; i < size; i++) {
      let v = 0;
      weights.forEach((weight, j) => { v += weight * blend.bases[j * size + i]; });
      const o = 4 * (Math.floor(i / side) * w + left + i % side);
      // As display_pixels; Math.round and numpy's round differ only on exact halves, and the one a
      // sum meets in practice, v = 0 -> 127.5, gives 128 under both.
      px[o] = px[o + 1] = px[o + 2] = Math.round((Math.min(Math.max(v, -1), 1) + 1) * 127.5);
    }
  });
  context.putImageData(image, 0, 0);
  return blend.urls[k] = blend.canvas.toDataURL();
}

function build(root, data) {
  const stage = root.querySelector('.stage'), [h, w] = data.row || [1, 1];
  root.style.setProperty('--scale', data.scale);
  root.style.setProperty('--aspect', `${w} / ${h}`);
  root.style.setProperty('--stage-width', `${Math.round(data.height * data.scale * w / h)}px`);
  root.style.setProperty('--panels-flex', data.panels_share);
  stage.querySelectorAll('.title, .joiner').forEach(el => el.remove());
  for (const [cls, items] of [['title', data.titles], ['joiner', data.joiners]]) {
    for (const item of items) {
      const el = document.createElement('div');
      el.className = cls; el.innerHTML = item.text; el.style.left = `${100 * item.x}%`;
      stage.appendChild(el);
    }
  }
  const panel = root.querySelector('.bars');
  panel.hidden = !data.bars;
  root.rects = data.bars ? drawBars(panel.querySelector('svg'), data.bars) : [];
  if (data.bars) panel.querySelector('svg').setAttribute('aria-label', data.bars.alt);
  if (data.bars) panel.querySelector('.bars-title').innerHTML = data.bars.title;
  const lines = root.querySelector('.lines');
  lines.hidden = !data.lines;
  lines.replaceChildren();
  root.charts = data.lines ? data.lines.charts.map(chart => drawLines(lines, data.lines, chart)) : [];
  root.querySelector('.readout').hidden = !data.readout;
  root.querySelector('.panels').hidden = !data.frames.length && !data.blend;
  root.querySelector('.buttons').hidden = !data.controls;
  root.querySelector('.slide').hidden = data.labels.length < 2;  // one frame: a static row of images
  root.querySelector('.caption').hidden = data.captions.every(c => !c);
  const slider = root.querySelector('input');
  slider.max = data.labels.length - 1;
  slider.setAttribute('aria-label', data.prefix.replace(/[\s=]+$/, '') || 'frame');  // "t = " -> "t"
  // A Blend's frames are drawn as they are shown (well under a millisecond each). PNG frames are
  // decoded ahead of a drag once the browser is idle, not while the rest of a rerun draws.
  root.blend = data.blend ? unpackBlend(data.blend) : null;
  root.images = null;
  const frames = data.frames, whenIdle = window.requestIdleCallback || (f => setTimeout(f, 50));
  if (frames.length) whenIdle(() => {
    if (root.data.frames !== frames) return;  // newer frames arrived meanwhile
    root.images = frames.map(src => { const im = new Image(); im.src = src; return im; });
  }, {timeout: 2000});

  // Same steps, and the page asks for no other frame than before (or than where the reader was last
  // reported to be): stay where the reader is.
  const keep = root.data && root.data.labels.join() === data.labels.join() && root.active === data.active;
  root.data = data; root.digest = data.digest; root.active = data.active;
  if (!keep) root.k = data.active;
}

function show(root, k) {
  const data = root.data;
  const last = data.labels.length - 1;
  root.k = k = Math.min(Math.max(k, 0), last);
  if (data.frames.length || root.blend) {
    const img = root.querySelector('.frame');
    img.src = root.blend ? blendUrl(root.blend, k, data.row) : data.frames[k];
    img.dataset.frame = k;
    const where = describe(data, k);  // the text alternative follows the frame: what it shows, and at which t
    img.alt = where ? `${root.alt}: ${where}` : root.alt;
  }
  root.querySelector('.caption').innerHTML = data.captions[k];
  root.querySelector('.value').textContent = data.prefix + data.labels[k];
  root.querySelector('input').value = k;
  root.querySelector('input').style.setProperty('--fill', `${100 * k / Math.max(last, 1)}%`);
  root.querySelector('input').setAttribute('aria-valuetext', data.prefix + data.labels[k]);
  if (data.bars) root.rects.forEach(([rect, sy], i) => {
    const y = sy(Math.min(data.bars.heights[k][i], data.bars.y_max));
    rect.setAttribute('y', y); rect.setAttribute('height', Math.max(sy(0) - y, 0));
  });
  root.charts.forEach(({sx, sy, rule, dots, svg}, j) => {
    const x = sx(+data.labels[k]), marks = data.lines.charts[j].marks[k];
    svg.setAttribute('aria-label', `${data.lines.charts[j].alt} against ${data.lines.x_title}, `
      + `marked at ${data.prefix}${data.labels[k]} (move the marker with the slider below)`);
    rule.setAttribute('x1', x); rule.setAttribute('x2', x);
    dots.forEach((dot, i) => {  // no dot where the value is off the chart (null: not positive on a log axis)
      dot.style.visibility = marks[i] === null ? 'hidden' : '';
      if (marks[i] !== null) { dot.setAttribute('cx', x); dot.setAttribute('cy', sy(marks[i])); }
    });
  });
  if (data.readout) root.querySelector('.readout').innerHTML =
    data.readout.template.replace(/\{(\d+)\}/g, (_, i) => data.readout.fields[k][+i]);
}

function wire(root) {  // the slider and buttons; returns what undoes it
  const slider = root.querySelector('input');
  const stop = () => { clearInterval(root.timer); root.timer = null; };
  const announce = root.querySelector('.announce');
  // Where the reader left it: a token of its own (Python acts on each report once), the frames' digest, the label.
  // A screen reader hears it too, from the live region: once per release, step, pause or end of play, never
  // for every frame on the way.
  const report = () => {
    announce.textContent = describe(root.data, root.k);
    root.active = root.k;  // what the page will ask for from now on
    if (root.send) root.send('label', `${Math.random().toString(36).slice(2, 10)} ${root.digest} ${root.data.labels[root.k]}`);
  };
  const onInput = () => { stop(); show(root, +slider.value); };
  const onClick = (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    if (button.dataset.go) { stop(); show(root, root.k + +button.dataset.go); report(); }
    else if (button.classList.contains('pause')) { stop(); report(); }
    else if (!root.timer) {
      const last = root.data.labels.length - 1;
      if (root.k >= last) show(root, 0);  // at the end, play from the start
      // prefers-reduced-motion: no animation; play steps through about ten still frames, one a second.
      const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
      const stride = still ? Math.max(1, Math.ceil(last / 10)) : 1;
      root.timer = setInterval(() => {
        if (root.k < last) show(root, Math.min(root.k + stride, last)); else { stop(); report(); }
      }, still ? STILL_MS : 80);
    }
  };
  const charts = root.querySelector('.lines');
  const onPointer = (e) => {  // pressing or dragging on a chart moves t there, like the slider
    if (e.type === 'pointerdown') {
      root.dragging = e.target.closest('svg');
      if (root.dragging) root.dragging.setPointerCapture(e.pointerId);
    }
    if (root.dragging && !root.dragging.isConnected) root.dragging = null;  // new data rebuilt the charts
    if (!root.dragging || !root.data.lines) return;
    if (e.type !== 'pointerdown' && e.type !== 'pointermove') { root.dragging = null; report(); return; }
    const box = root.dragging.getBoundingClientRect(), [x0, x1] = root.data.lines.x;
    const t = x0 + ((e.clientX - box.left) / box.width * LINES.w - LINES.l) / (LINES.w - LINES.l - LINES.r) * (x1 - x0);
    let best = 0;
    root.data.labels.forEach((label, k) => { if (Math.abs(label - t) < Math.abs(root.data.labels[best] - t)) best = k; });
    stop(); show(root, best);
  };
  const pointerEvents = ['pointerdown', 'pointermove', 'pointerup', 'pointercancel'];
  slider.addEventListener('input', onInput);
  slider.addEventListener('change', report);  // released, or moved by a key
  root.addEventListener('click', onClick);
  pointerEvents.forEach(type => charts.addEventListener(type, onPointer));
  return () => {
    stop();
    slider.removeEventListener('input', onInput); slider.removeEventListener('change', report);
    root.removeEventListener('click', onClick);
    pointerEvents.forEach(type => charts.removeEventListener(type, onPointer));
  };
}

export default function(component) {
  const { parentElement, data, setStateValue } = component;
  const root = parentElement.querySelector('.scrubber');
  root.send = data.report ? setStateValue : null;
  root.alt = data.alt;  // a page may name what the frames show without sending other frames
  if (root.digest !== data.digest || root.data.scale !== data.scale) build(root, data);
  show(root, root.k);
  // Streamlit calls this again with each new data but calls only the last cleanup, on unmount:
  // wire the controls once, and let that cleanup undo it.
  if (!root.unwire) root.unwire = wire(root);
  return () => { if (root.unwire) root.unwire(); root.unwire = null; };
}
