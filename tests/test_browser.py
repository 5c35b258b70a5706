"""The app in a real browser: `streamlit run app.py` driven by headless Chromium (Playwright).

Every page opens without an exception box; dragging the image scrubber's timestep slider (our
own component, ui/components/scrubber.py) changes the image while the mouse button is still down (no
server round trip); its buttons step, play and pause; a screenshot of each page goes to
out/screens/. The timings measured on the way are written to out/browser_timings.json; they are
a record, not a timed test.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_slides import MAGIC  # the first bytes of each figure format

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENS = REPO / "out" / "screens"
PAGES = {"home": "", "forward": "forward", "schedules": "schedules", "alpha_bar": "alpha_bar", "reverse": "reverse",
         "restore": "restore", "distributions": "distributions", "latent": "latent", "two_ways": "two_ways",
         "flow_matching": "flow_matching", "guidance": "guidance"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-gpu"]
START_TIMEOUT_S = 180  # generous: CI machines are slow and share their cores
TIMINGS: dict = {}

# Arms a timer: window.__rerun resolves with the ms from the next pointer or key press until what
# the control changes is different on screen (read every animation frame), plus one frame to paint.
# A result on screen, not the script's running state: a fast rerun can pass through "running"
# within one React render, leaving no trace in the DOM.
ARM_RERUN_TIMER_JS = """watched => { window.__rerun = new Promise((resolve, reject) => {
  const read = () => {
    const scope = watched.host ? document.querySelector(watched.host)?.shadowRoot : document;
    const element = scope && scope.querySelectorAll(watched.selector)[watched.index];
    if (!element) return null;
    return watched.attribute ? element.getAttribute(watched.attribute)
                             : element.innerText;
  };
  const before = read(), armed = performance.now();
  let start = null;
  const mark = () => { if (start === null) start = performance.now(); };
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, mark, {capture: true});
  const poll = () => {
    const now = read();
    if (start !== null && now !== null && now !== before) {
      requestAnimationFrame(() => resolve(performance.now() - start));
    } else if (performance.now() - armed > 60000) {
      reject(new Error(`${watched.selector} did not change within 60 s`));
    } else {
      requestAnimationFrame(poll);
    }
  };
  poll();
}); }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server():
    """`streamlit run app.py` on a free port; yields (url, perf_counter at launch)."""
    port = _free_port()
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"streamlit exited early:\n{log.read()}")
                if time.perf_counter() - started > START_TIMEOUT_S:
                    pytest.fail("streamlit did not answer its health check in time")
                time.sleep(0.1)
            yield url, started
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(browser):  # the browser is up first, as a reader's would be, so start-up timings are the app's
    with streamlit_server() as running:
        yield running


@contextlib.contextmanager
def chromium():
    """Debian's Chromium, headless, driven by Playwright; the test is skipped where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        SCREENS.mkdir(parents=True, exist_ok=True)
        yield launched
    SCREENS.mkdir(parents=True, exist_ok=True)
    (SCREENS.parent / "browser_timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


# True once no element is still a loading skeleton, every Plotly chart (ui/components/chart.py) has drawn itself,
# and every scrubber (ui/components/scrubber.py) has drawn its content (its first frame) in its shadow root.
DRAWN_JS = """() => !document.querySelector('[data-testid="stSkeleton"]')
  && [...document.querySelectorAll('.plotly-chart-host')].every(c => c.querySelector('.main-svg'))
  && [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')].every(h => h.shadowRoot
       && h.shadowRoot.childElementCount > 0
       && (!h.shadowRoot.querySelector('.scrubber') || h.shadowRoot.querySelector('.value').textContent))"""


def _settled(page, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the app's script has run to the end and the page has drawn what it sent."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_s * 1000)
    page.wait_for_function(DRAWN_JS, timeout=timeout_s * 1000)


def _open(browser, url: str, path: str, height: int = 1000):
    page = browser.new_page(viewport={"width": 1440, "height": height})
    page.goto(f"{url}/{path}")
    _settled(page)
    return page


def test_first_page_is_interactive_soon_after_start(server, browser):
    url, started = server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(url)
    page.get_by_role("heading", name="Diffusion models, step by step").wait_for(timeout=START_TIMEOUT_S * 1000)
    page.get_by_text("Reverse denoising").first.wait_for()
    TIMINGS["first_page_shown_s_after_server_start"] = round(time.perf_counter() - started, 2)
    _settled(page)
    TIMINGS["first_page_complete_s_after_server_start"] = round(time.perf_counter() - started, 2)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_opens_without_an_exception(server, browser, name, tmp_path):
    """...and asks for nothing outside the app's own server: a lecture hall may have no internet."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1440, "height": 1900})  # Streamlit scrolls inside the page
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((url, "data:", "blob:")) else None)
    page.goto(f"{url}/{PAGES[name]}")
    _settled(page)
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENS / shot.name)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception box on {name}"
    assert page.locator("h1").count() >= 1
    assert not outside, f"{name} asked for {outside}"
    page.close()


def _scrubber_host(key: str) -> str:
    """The element whose shadow root holds the scrubber with this key."""
    return f'.st-key-{key} [data-testid="stBidiComponentIsolated"]'


# The source of the frame a scrubber shows, once it has one (it changes with every frame).
IMAGE_SOURCE_JS = """host => new Promise(resolve => {
  const poll = () => {
    const image = document.querySelector(host)?.shadowRoot?.querySelector('img.frame');
    const source = image && image.getAttribute('src');
    if (source) resolve(source); else requestAnimationFrame(poll);
  };
  poll();
})"""


def _image_of(page, key: str) -> str:
    return page.evaluate(IMAGE_SOURCE_JS, _scrubber_host(key))


def _drag(page, key: str, read, rail=None) -> tuple[list, str | None]:
    """Drag across scrubber ``key`` (its slider, or ``rail``: another element's box) from its thumb to
    the right end, reading ``read()`` on the way. Returns what was read and the script state while
    the button was still down."""
    slider = page.locator(f'.st-key-{key} input[type="range"]')  # Playwright's locators pierce shadow roots
    slider.scroll_into_view_if_needed()
    box = rail or slider.bounding_box()
    y = box["y"] + box["height"] / 2
    at = int(slider.input_value()) / int(slider.get_attribute("max"))
    seen = [read()]
    page.mouse.move(box["x"] + 8 + (box["width"] - 16) * at, y)  # on the thumb (16 px wide)
    page.mouse.down()
    for fraction in (0.35, 0.5, 0.65, 0.8, 0.95):
        page.mouse.move(box["x"] + box["width"] * fraction, y, steps=4)
        page.wait_for_timeout(150)
        seen.append(read())
    still_down = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    page.mouse.up()
    return seen, still_down


def _wait_for_address(page, param: str, value: str) -> None:
    """Wait until the address holds ``param=value`` exactly. Read from the page itself: after two quick
    history.pushState calls Playwright's page.url can keep the first address."""
    page.wait_for_function("([param, value]) => { const all = new URLSearchParams(location.search).getAll(param);"
                           " return all.length === 1 && all[0] === value; }", arg=[param, value],
                           timeout=START_TIMEOUT_S * 1000)


def test_dragging_the_timestep_slider_updates_the_image_while_dragging(server, browser):
    url, _ = server
    page = _open(browser, url, PAGES["forward"])
    chart = "forward_scrubber"
    seen, still_down = _drag(page, chart, lambda: _image_of(page, chart))
    assert len(set(seen)) >= 4, "the image did not follow the slider during the drag"
    assert still_down == "notRunning", "the drag started a server rerun"
    # Released: the scrubber reports where it was left, and the address follows.
    shown = page.locator(f".st-key-{chart} .value").inner_text()  # "t = 950"
    _wait_for_address(page, "t", shown.split("= ")[1])
    page.close()


def _drawn_pixels(source: str) -> np.ndarray:
    """The grey levels of a scrubber frame's PNG data URL."""
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("L"))


def test_the_browser_draws_the_closed_form_as_q_sample_does(server, browser):
    """The forward page sends x_0 and ε, not frames: the browser computes x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,
    √ᾱ_t x_0 and √(1 − ᾱ_t) ε. What it draws at t = 250 (where the page opens) and at t = T is, pixel
    for pixel, what diffusion_core's q_sample gives for the same digit and seed."""
    from conftest import noised
    from diffusion_core import data
    from diffusion_core.forward import t_grid
    from diffusion_core.schedules import ScheduleSpec
    from ui.components import scrubber_specs

    url, _ = server
    page = _open(browser, url, PAGES["forward"])
    choice = ScheduleSpec()  # DDPM's, the sidebar's default
    grid = t_grid(choice.num_steps)
    xt, signal, noise = noised(data.load_examples()[0][0], choice, 0, grid)  # example #0, seed 0
    for t, key in ((250, None), (1000, "End")):
        if key:
            page.locator('.st-key-forward_scrubber input[type="range"]').press(key)
        k = grid.index(t)
        expected = scrubber_specs._side_by_side(np.stack([data.to_pixels(v[k]) for v in (xt, signal, noise)]),
                                                scrubber_specs.JOINER_GAP)
        np.testing.assert_array_equal(_drawn_pixels(_image_of(page, "forward_scrubber")), expected)
    page.close()


def test_the_reverse_scrubber_steps_and_plays_in_the_browser(server, browser):
    url, _ = server
    page = _open(browser, url, PAGES["reverse"])
    key = "reverse_scrubber"
    value = page.locator(f".st-key-{key} .value")  # "step 50", "end", ... (Playwright pierces the shadow root)
    last = _image_of(page, key)
    assert value.inner_text() == "step end"  # a run opens on its finished sample
    page.locator(f".st-key-{key} button", has_text="◀ step").click()
    assert value.inner_text() == "step 50" and _image_of(page, key) != last
    page.locator(f'.st-key-{key} input[type="range"]').press("Home")  # the keyboard moves it too
    assert value.inner_text() == "step 1"
    page.locator(f".st-key-{key} button", has_text="▶ play").click()
    page.wait_for_timeout(600)
    assert value.inner_text() not in ("step 1", "step end")  # it is playing: 80 ms a frame
    page.locator(f".st-key-{key} button", has_text="❚❚ pause").click()
    paused = value.inner_text()
    page.wait_for_timeout(400)
    assert value.inner_text() == paused
    _wait_for_address(page, "step", paused.split()[1])  # a pause reports where it stopped
    _settled(page)
    assert value.inner_text() == paused  # the rerun that wrote the address left the scrubber where it was
    # New data for the mounted component (here lecture mode's scale) calls its script again, and
    # Streamlit calls only the last cleanup, on unmount: a press must still move one step.
    for on in ("true", "false"):  # the rerun each toggle starts has written the address before we go on
        page.locator(".st-key-lecture label").click()
        page.wait_for_function(f"(new URLSearchParams(location.search).get('lecture') === '1') === {on}",
                               timeout=START_TIMEOUT_S * 1000)
        _settled(page)
    page.locator(f'.st-key-{key} input[type="range"]').press("End")
    page.locator(f".st-key-{key} button", has_text="◀ step").click()
    assert value.inner_text() == "step 50"
    _wait_for_address(page, "step", "50")
    # Another run opens on its sample: the report of where this one was left is not applied again.
    page.locator('.st-key-rev_seed [data-testid="stNumberInputStepUp"]').click()
    _settled(page)
    page.locator(".st-key-rev_run button").click()
    sync_api.expect(value).to_have_text("step end", timeout=START_TIMEOUT_S * 1000)  # sampled, then drawn
    _wait_for_address(page, "step", "end")
    # Between runs already sampled (no Run to press, the same scrubber gets other frames): each
    # opens on its sample, as the address says.
    for button, seed in (("StepDown", "0"), ("StepUp", "1")):
        page.locator(f".st-key-{key} button", has_text="◀ step").click()
        _wait_for_address(page, "step", "50")
        page.locator(f'.st-key-rev_seed [data-testid="stNumberInput{button}"]').click()
        _wait_for_address(page, "seed", seed)
        _settled(page)
        sync_api.expect(value).to_have_text("step end", timeout=START_TIMEOUT_S * 1000)
        _wait_for_address(page, "step", "end")
    page.close()


WATCHED = {  # page -> what its main control changes on screen
    "forward": {"host": _scrubber_host("forward_scrubber"), "selector": "img.frame", "index": 0, "attribute": "src"},
    "alpha_bar": {"host": _scrubber_host("alpha_coefficients"), "selector": ".readout", "index": 0, "attribute": None},
    "schedules": {"host": _scrubber_host("sched_compare"), "selector": "img.frame", "index": 0, "attribute": "src"},
}
CONTROLS = {  # page -> how to move its main control once
    "forward": lambda page: page.locator('.st-key-forward_seed [data-testid="stNumberInputStepUp"]').click(),
    "alpha_bar": lambda page: page.locator('.st-key-alpha_coefficients input[type="range"]').press("ArrowRight"),
    "schedules": lambda page: page.locator('.st-key-schedules_seed [data-testid="stNumberInputStepUp"]').click(),
}


# page -> (link parameter, its value on screen); these controls rerun a fragment, which writes the link
CONTROL_IN_LINK = {
    "forward": ("seed", lambda page: page.locator(".st-key-forward_seed input").input_value()),
    "alpha_bar": ("t", lambda page: page.locator(".st-key-alpha_coefficients .value").inner_text().split("= ")[1]),
    "schedules": ("seed", lambda page: page.locator(".st-key-schedules_seed input").input_value()),
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_rerun_after_a_control_change_finishes(server, browser, name):
    """Records how long a main control takes to change the page (a record, not a timed test); the
    address follows."""
    url, _ = server
    page = _open(browser, url, PAGES[name])
    latencies = []
    for _ in range(3):  # the first change after opening warms up; keep the later ones
        page.evaluate(ARM_RERUN_TIMER_JS, WATCHED[name])
        CONTROLS[name](page)
        latencies.append(page.evaluate("window.__rerun"))
        _settled(page)
    TIMINGS[f"rerun_ms_{name}"] = [round(ms, 1) for ms in latencies[1:]]
    assert page.locator('[data-testid="stException"]').count() == 0
    param, value = CONTROL_IN_LINK[name]
    _wait_for_address(page, param, value(page))  # a scrubber reports after it has drawn: its rerun may follow
    page.close()


# Where the ᾱ_t chart's marker stands (the dashed rule's x, in SVG units) and the t its readout names.
MARKER_JS = """host => {
  const root = document.querySelector(host).shadowRoot;
  return [root.querySelector('.lines svg line[stroke-dasharray]').getAttribute('x1'),
          root.querySelector('.readout b').textContent];
}"""


def test_the_alpha_bar_marker_and_numbers_follow_a_drag(server, browser):
    """Dragging the slider, or pressing and dragging on the chart, moves the marker and the readout
    in the browser, with no rerun; released, the address follows."""
    url, _ = server
    page = _open(browser, url, PAGES["alpha_bar"])
    key, host = "alpha_coefficients", _scrubber_host("alpha_coefficients")
    seen, still_down = _drag(page, key, lambda: page.evaluate(MARKER_JS, host))
    assert len({x for x, _ in seen}) >= 4 and len({t for _, t in seen}) >= 4, seen
    assert still_down == "notRunning", "the drag started a server rerun"
    shown = page.locator(f".st-key-{key} .value").inner_text()  # "t = 950"
    assert seen[-1][1] == f"At {shown}"
    _wait_for_address(page, "t", shown.split("= ")[1])
    page.locator(f'.st-key-{key} input[type="range"]').press("Home")  # t = 1, then drag on the chart itself
    _wait_for_address(page, "t", "1")
    _settled(page)
    seen, still_down = _drag(page, key, lambda: page.evaluate(MARKER_JS, host),
                             rail=page.locator(f".st-key-{key} .lines svg").first.bounding_box())
    assert len({t for _, t in seen}) >= 4 and still_down == "notRunning", seen
    # The SNR chart below (log axis) takes a drag too, and the one marker stands at the same t on both charts.
    page.locator(f'.st-key-{key} input[type="range"]').press("Home")
    _wait_for_address(page, "t", "1")
    _settled(page)
    seen, still_down = _drag(page, key, lambda: page.evaluate(RULES_JS, host),
                             rail=page.locator(f".st-key-{key} .lines svg").nth(1).bounding_box())
    assert len(set(seen)) >= 4 and still_down == "notRunning", seen
    assert all(len(set(rules.split())) == 1 and len(rules.split()) == 2 for rules in seen), seen  # "x x"
    page.close()


# Where the marker's dashed rule stands on each of the ᾱ_t scrubber's charts (SVG units).
RULES_JS = """host => [...document.querySelector(host).shadowRoot.querySelectorAll('.lines svg line[stroke-dasharray]')]
  .map(rule => rule.getAttribute('x1')).join(' ')"""


def test_the_browser_draws_the_schedule_comparison_as_q_sample_does(server, browser):
    """The comparison sends x_0, ε and each schedule's coefficients; what the browser draws where it
    opens (t / T = 0.30) is each schedule's q_sample of example #0 with seed 0, pixel for pixel."""
    from conftest import noised
    from diffusion_core import data
    from diffusion_core.schedules import DEFAULT_BETA_START, SCHEDULE_NAMES, ScheduleSpec
    from ui.components import scrubber_specs
    from ui.pages.schedules import FRACTIONS, comparison_t

    url, _ = server
    page = _open(browser, url, PAGES["schedules"])
    x0, k = data.load_examples()[0][0], len(FRACTIONS) * 3 // 10
    choices = [ScheduleSpec(name) for name in SCHEDULE_NAMES]
    choices.append(ScheduleSpec("linear", 500, DEFAULT_BETA_START, 0.05))  # the custom default
    panels = [data.to_pixels(noised(x0, c, 0, (comparison_t(c.num_steps)[k],))[0][0]) for c in choices]
    expected = scrubber_specs._side_by_side(np.stack(panels), scrubber_specs.ROW_GAP)
    np.testing.assert_array_equal(_drawn_pixels(_image_of(page, "sched_compare")), expected)
    page.close()


def test_a_new_figure_is_drawn_into_the_chart_already_on_the_page(server, browser):
    """A new custom schedule redraws the β_t chart in place (Plotly.react in ui/components/chart.py): the
    curve changes, and the chart element is the one that was there before (st.plotly_chart mounted
    a new one for each new figure)."""
    url, _ = server
    page = _open(browser, url, PAGES["schedules"])
    plot = page.locator(".st-key-sched_beta .js-plotly-plot")
    custom_curve = ".st-key-sched_beta .scatterlayer .trace:last-child path"
    before = page.locator(custom_curve).first.get_attribute("d")
    plot.evaluate("div => { div.dataset.seen = 'yes'; }")
    page.locator('.st-key-custom_beta_end [data-testid="stNumberInputStepUp"]').click()
    page.wait_for_function("([selector, d]) => document.querySelector(selector).getAttribute('d') !== d",
                           arg=[custom_curve, before], timeout=START_TIMEOUT_S * 1000)
    _settled(page)
    assert plot.count() == 1 and plot.evaluate("div => div.dataset.seen") == "yes"
    assert page.locator('[data-testid="stException"]').count() == 0
    width = plot.locator(".main-svg").first.bounding_box()["width"]
    page.set_viewport_size({"width": 1000, "height": 1000})  # the chart follows the page's width
    page.wait_for_function("([el, w]) => el.getBoundingClientRect().width < w - 100",
                           arg=[plot.locator(".main-svg").first.element_handle(), width])
    page.close()


def test_a_shared_link_on_a_fresh_server_opens_exactly_that_view(browser):
    """The first visitor of a fresh server follows a deep link with settings: the router runs the page."""
    with streamlit_server() as (url, _):
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"{url}/alpha_bar?t=123&schedule=cosine")
        _settled(page)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        shown = page.locator(".st-key-alpha_coefficients .value").inner_text()
        address = page.url
        page.close()
    assert "Schedule" in sidebar and "common" not in sidebar.split()  # routed by app.py, not run on its own
    assert shown == "t = 123" and "In force: cosine" in sidebar
    assert "t=123" in address and "schedule=cosine" in address


def test_drawing_a_digit_makes_it_x0(server, browser):
    url, _ = server
    page = _open(browser, url, PAGES["forward"], height=1400)
    page.get_by_text("your drawing").click()
    _settled(page)
    before = _image_of(page, "forward_scrubber")
    canvas = page.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 90, box["y"] + 60)
    page.mouse.down()
    for x, y in ((190, 60), (150, 140), (110, 230)):  # a 7
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
                           ".some(c => c.innerText.includes('your drawing, made MNIST-like'))", timeout=120_000)
    _settled(page)
    page.screenshot(path=str(SCREENS / "forward_drawn.png"), full_page=True)
    assert _image_of(page, "forward_scrubber") != before
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def _shot(browser, url: str, path: str, name: str, height: int):
    """The page at ``path``, opened and settled, with a full-page screenshot in SCREENS/name.png."""
    page = _open(browser, url, path, height=height)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
    return page


def test_lecture_mode_link(server, browser):
    page = _shot(browser, server[0], "reverse?lecture=1&label=7&guidance=4", "reverse_lecture", 1900)
    assert page.get_by_text("Seed, sampler, label and guidance").count() == 1
    assert not page.locator(".st-key-rev_seed").is_visible()  # the controls wait in a closed expander
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "lecture=1" in page.url and "label=7" in page.url
    page.close()


def test_the_latent_page_scrubs_both_spaces_and_the_run_in_the_browser(server, browser):
    """Latent diffusion: dragging the noising scrubber and the run's scrubber swaps frames with no rerun."""
    url, _ = server
    page = _open(browser, url, PAGES["latent"], height=1400)
    for chart in ("latent_noising", "latent_trajectory"):
        seen, still_down = _drag(page, chart, lambda chart=chart: _image_of(page, chart))
        assert len(set(seen)) >= 3, f"{chart}: the image did not follow the slider"
        assert still_down == "notRunning", f"{chart}: the drag started a server rerun"
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def _plotly_title(page, key: str) -> str:
    return page.locator(f".st-key-{key} .gtitle").first.text_content()


def _drag_plotly_slider(page, key: str) -> tuple[list[str], str | None]:
    """Drag the Plotly slider of chart ``key`` from its left end to its right end, reading the figure's
    title on the way. Returns the titles seen and the script state while the button was still down."""
    rail = page.locator(f".st-key-{key} .slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    y = box["y"] + box["height"] / 2
    seen = [_plotly_title(page, key)]
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    for fraction in (0.2, 0.4, 0.6, 0.8, 0.99):
        page.mouse.move(box["x"] + box["width"] * fraction, y, steps=4)
        page.wait_for_timeout(150)
        seen.append(_plotly_title(page, key))
    still_down = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    page.mouse.up()
    return seen, still_down


def test_the_two_ways_figures_scrub_t_in_the_browser(server, browser):
    """Two ways back: the score field and the SDE / ODE clouds follow a drag of their own slider, no rerun."""
    url, _ = server
    page = _open(browser, url, PAGES["two_ways"], height=1400)
    for key in ("ways_field", "ways_paths"):
        seen, still_down = _drag_plotly_slider(page, key)
        assert len(set(seen)) >= 4, f"{key}: the title did not follow the slider: {seen}"
        assert still_down == "notRunning", f"{key}: the drag started a server rerun"
    assert seen[-1].startswith("t = 0 · energy distance")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_a_guidance_link_in_lecture_mode_scrubs_w(server, browser):
    page = _shot(browser, server[0], "guidance?lecture=1&label=0&t=40", "guidance_lecture", 1600)
    assert not page.locator(".st-key-guide_seed").is_visible()  # the controls wait in a closed expander
    seen, still_down = _drag_plotly_slider(page, "guide_figure")
    assert len(set(seen)) >= 4 and still_down == "notRunning"
    assert seen[-1].startswith("w = 8 · samples nearest each mode of class 0")
    assert "lecture=1" in page.url and "label=0" in page.url and "t=40" in page.url
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.parametrize("path, key, formats", [("forward?seed=3&t=400", "forward", ("png", "svg", "pdf")),
                                                ("latent", "latent", ("png",))])
def test_the_figure_for_slides_downloads_as_a_file(server, browser, path, key, formats):
    """A click on PNG, SVG or PDF under a page's view saves that file, named after the view, with no
    rerun's error on the page."""
    page = _open(browser, server[0], path, height=1400)
    for fmt in formats:
        with page.expect_download(timeout=START_TIMEOUT_S * 1000) as arrived:
            page.locator(f".st-key-{key}_slide_{fmt} button").click()
        download = arrived.value
        assert download.failure() is None
        assert download.suggested_filename == f"{key}.{fmt}"
        assert Path(download.path()).read_bytes().startswith(MAGIC[fmt])
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
