"""Accessibility in a real browser (WCAG 2.1 AA): axe-core on every page the router routes, in the
states a reader reaches, and the keyboard and reduced motion on our own components.

axe-core is vendored (tests/vendor/axe-core, MPL-2.0), so no download is needed. A violation fails
the test unless it lies in Streamlit's own markup and is listed in STREAMLIT_OWNED with the reason;
docs/accessibility.md lists the same. Every node found is written to out/accessibility.json, a
record of the run. One server and one browser serve the whole file.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from test_browser import START_TIMEOUT_S, _scrubber_host, _settled, chromium, streamlit_server

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
RECORD = REPO / "out" / "accessibility.json"
FOUND: dict = {}


def routed_pages() -> list[str]:
    """The url path of every page app.py's router holds ("" for the default page), read from its
    st.Page(...) calls: a page added there is tested here with no other change."""
    paths = []
    for call in ast.walk(ast.parse((REPO / "app.py").read_text(encoding="utf-8"))):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "Page" and call.args:
            options = {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}
            default = Path(call.args[0].value).stem  # st.Page's own default: the file's name
            paths.append("" if options.get("default") else options.get("url_path", default))
    return paths


def _click_and_settle(selector: str, then: str):
    """Click ``selector``, wait for ``then`` to be on the page and for the rerun to end."""
    def act(page):
        page.locator(selector).first.click()
        page.wait_for_selector(then, timeout=START_TIMEOUT_S * 1000)
        _settled(page)
    return act


# Beyond its default view and lecture mode: page -> [(state, a link that opens it, or how to reach it
# from the default view)]. The reverse page's default view is already a finished run (a first visit
# samples it); so is its grid link (10 steps: the same page, sampled sooner).
STATES = {
    "forward": [("chain", "?chain=1")],
    "schedules": [("log SNR", "?curve=log_snr")],
    "reverse": [("4x4 grid run", "?grid=1&steps=10")],
    "distributions": [("denoiser trained", _click_and_settle(".st-key-dist_train button",
                                                            then=".st-key-dist_reverse_cloud .main-svg"))],
}

# Violations in Streamlit's own markup, allowed by (rule, a selector the node lies in): what is wrong and
# why it stays is in docs/accessibility.md. Anything else fails, our own components included.
STREAMLIT_OWNED = (
    # st.navigation's sidebar list: its <ul> holds the section headers as <div>s, and the pages of each
    # section are <li>s in a <div>, not in a list of their own.
    ("list", '[data-testid="stSidebarNav"]'),
    ("listitem", '[data-testid="stSidebarNav"]'),
    # A disabled widget's label is greyed out. WCAG 1.4.3 exempts inactive controls, but the label is
    # not tied to its control (no `for`), so axe cannot tell it is one. Here: the sidebar's schedule
    # on the pages where it does not apply.
    ("color-contrast", '[data-testid="stWidgetLabel"][disabled]'),
)

AXE_RUN_JS = """async owned => {
  const result = await axe.run(document, {resultTypes: ['violations'], elementRef: true});
  return result.violations.flatMap(v => v.nodes.map(n => ({
    rule: v.id, impact: v.impact, html: n.html.slice(0, 160), target: JSON.stringify(n.target),
    streamlit: owned.some(([rule, selector]) => rule === v.id && n.element && n.element.closest(selector))})));
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps({"axe": AXE_VERSION, "found": FOUND}, indent=1, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def server(browser):
    with streamlit_server() as (url, _):
        yield url


def _open(browser, url: str, path: str, reduced_motion: bool = False):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    if reduced_motion:
        page.emulate_media(reduced_motion="reduce")
    page.goto(f"{url}/{path}")
    _settled(page)
    return page


# A state reached by a click leaves the pointer where it clicked. Streamlit shows a slider's min/max labels
# while the pointer is over it and fades them out over half a second after it leaves; axe would measure a
# half-faded label as text of low contrast. So the pointer is parked and every CSS transition left to end.
TRANSITIONS_ENDED_JS = """() => document.getAnimations()
  .every(a => !(a instanceof CSSTransition) || a.playState !== 'running')"""


def _axe(page, state: str) -> list[dict]:
    """Every violation axe finds on the page now, once no CSS transition runs; ours (not Streamlit's)
    are returned."""
    page.mouse.move(0, 0)
    page.wait_for_function(TRANSITIONS_ENDED_JS, timeout=10_000)
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    assert page.evaluate("() => axe.version") == AXE_VERSION
    nodes = page.evaluate(AXE_RUN_JS, [list(owned) for owned in STREAMLIT_OWNED])
    FOUND[state] = nodes
    return [n for n in nodes if not n["streamlit"]]


@pytest.mark.parametrize("path", routed_pages())
def test_axe_finds_no_violation_of_ours(server, browser, path):
    """The page in its default view, in lecture mode, and in each state of STATES."""
    name = path or "home"
    links = [("lecture", "?lecture=1")] + [(state, how) for state, how in STATES.get(path, []) if isinstance(how, str)]
    page = _open(browser, server, path)
    ours = _axe(page, name)
    for state, reach in STATES.get(path, []):
        if callable(reach):
            reach(page)
            ours += _axe(page, f"{name} {state}")
    page.close()
    for state, link in links:
        page = _open(browser, server, path + link)
        ours += _axe(page, f"{name} {state}")
        page.close()
    assert not ours, "\n".join(f"{n['rule']} ({n['impact']}): {n['target']} {n['html']}" for n in ours)


def _focused(page) -> dict:
    """The element with keyboard focus, looking into shadow roots: its tag, label and component key."""
    return page.evaluate("""() => {
      let el = document.activeElement, key = null;
      while (el && el.shadowRoot && el.shadowRoot.activeElement) {
        key = el.closest('[class*="st-key-"]')?.className.match(/st-key-(\\S+)/)[1] || key;
        el = el.shadowRoot.activeElement;
      }
      const style = el ? getComputedStyle(el) : null;
      return {tag: el?.tagName, label: el?.getAttribute('aria-label'), key,
              outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : ''};
    }""")


def _tab_to(page, key: str, tag: str, label: str | None = None, most: int = 80) -> dict:
    """Press Tab until a ``tag`` (with aria-label ``label``) inside component ``key`` has focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        now = _focused(page)
        if now["key"] == key and now["tag"] == tag and (label is None or now["label"] == label):
            return now
    pytest.fail(f"Tab did not reach {tag} {label or ''} of {key} in {most} presses")


def _shadow(page, key: str, js: str):
    return page.evaluate(f"host => {{ const root = document.querySelector(host).shadowRoot; return {js}; }}",
                         _scrubber_host(key))


def test_the_keyboard_alone_drives_the_reverse_scrubber(server, browser):
    """Tab reaches the slider and each button, with a visible focus ring; arrow keys move the slider;
    Enter steps, Space plays and pauses; the image's text alternative follows, and a live region
    says where the scrubber was left."""
    page = _open(browser, server, "reverse")
    key, value = "reverse_scrubber", page.locator(".st-key-reverse_scrubber .value")
    page.get_by_role("heading", name="Reverse denoising, step by step").click()  # start from the top
    ring = _tab_to(page, key, "INPUT")
    assert ring["outline"].startswith("solid") and float(ring["outline"].split()[1][:-2]) >= 2, ring
    page.keyboard.press("Home")
    assert value.inner_text() == "step 1"
    page.keyboard.press("ArrowRight")
    assert value.inner_text() == "step 2"
    alt = _shadow(page, key, "root.querySelector('img.frame').alt")
    assert alt.startswith("x_t, predicted noise ε̂") and "step 2 of 50, t = " in alt and "ᾱ_t = " in alt, alt
    assert _shadow(page, key, "root.querySelector('.announce').textContent").startswith("step 2 of 50")
    _tab_to(page, key, "BUTTON", "Step back", most=3)
    page.screenshot(path="/tmp/a11y_reverse_focus.png", clip=_box(page, key))
    page.keyboard.press("Enter")
    assert value.inner_text() == "step 1"
    _tab_to(page, key, "BUTTON", "Play", most=3)
    page.keyboard.press("Space")
    page.wait_for_timeout(500)
    _tab_to(page, key, "BUTTON", "Pause", most=3)
    page.keyboard.press("Space")
    paused = value.inner_text()
    assert paused not in ("step 1", "step end")  # it played: 80 ms a frame
    page.wait_for_timeout(300)
    assert value.inner_text() == paused
    assert _shadow(page, key, "root.querySelector('.announce').textContent").startswith(paused)
    _tab_to(page, key, "BUTTON", "Step forward", most=3)
    page.keyboard.press("Enter")
    assert value.inner_text() != paused
    page.close()


def _box(page, key: str) -> dict:
    page.locator(f".st-key-{key}").scroll_into_view_if_needed()
    return page.locator(f".st-key-{key}").bounding_box()


def test_the_forward_images_say_what_they_show_at_each_t(server, browser):
    page = _open(browser, server, "forward")
    key = "forward_scrubber"
    alt = _shadow(page, key, "root.querySelector('img.frame').alt")
    assert "example #0 (an MNIST training digit, a 5)" in alt and "t = 250, ᾱ_t = 0.52" in alt, alt
    assert _shadow(page, key, "root.querySelector('.bars svg').getAttribute('aria-label')").startswith("Histogram")
    _tab_to(page, key, "INPUT")
    page.keyboard.press("End")
    assert "t = 1000, ᾱ_t = 0.0000" in _shadow(page, key, "root.querySelector('img.frame').alt")
    assert _shadow(page, key, "root.querySelector('.announce').textContent").startswith("t = 1000")
    page.close()


def test_the_alpha_bar_marker_moves_from_the_keyboard(server, browser):
    """The charts' marker has a keyboard path: the slider under them; the charts name where it stands."""
    page = _open(browser, server, "alpha_bar")
    key = "alpha_coefficients"
    _tab_to(page, key, "INPUT")
    page.keyboard.press("Home")
    label = "root.querySelector('.lines svg').getAttribute('aria-label')"
    assert "marked at t = 1 " in _shadow(page, key, label)
    page.keyboard.press("PageUp")
    assert "marked at t = 1 " not in _shadow(page, key, label)
    assert page.locator(f".st-key-{key} .readout b").first.inner_text() != "At t = 1"
    page.screenshot(path="/tmp/a11y_alpha_bar_focus.png", clip=_box(page, key))
    page.close()


def test_play_steps_through_still_frames_with_reduced_motion(server, browser):
    """prefers-reduced-motion: play shows a still frame a second (about ten in all), not 12 a second."""
    page = _open(browser, server, "reverse", reduced_motion=True)
    key, value = "reverse_scrubber", page.locator(".st-key-reverse_scrubber .value")
    page.locator(f'.st-key-{key} input[type="range"]').press("Home")
    page.locator(f".st-key-{key} button", has_text="▶ play").click()
    seen = []
    for _ in range(15):
        seen.append(value.inner_text())
        page.wait_for_timeout(150)
    page.locator(f".st-key-{key} button", has_text="❚❚ pause").click()
    assert len(set(seen)) in (2, 3), seen  # 2.2 s: one or two jumps of a tenth of the run
    assert int(seen[-1].split()[1]) >= 5, seen
    page.close()


def test_the_point_cloud_chart_is_a_slider_for_the_keyboard(server, browser):
    """The distributions page's Plotly point cloud: reached with Tab, stepped with arrow keys, named
    by the frame on screen."""
    page = _open(browser, server, "distributions")
    host = page.locator(".st-key-dist_forward_cloud .plotly-chart-host")
    assert host.get_attribute("role") == "slider" and "points of the" in host.get_attribute("aria-label")
    host.focus()
    assert host.evaluate("el => el === document.activeElement && getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("ArrowRight")
    sync_api.expect(host).to_have_attribute("aria-valuenow", "1")
    assert host.get_attribute("aria-valuetext").startswith("t = ")
    page.keyboard.press("End")
    sync_api.expect(host).to_have_attribute("aria-valuenow", host.get_attribute("aria-valuemax"))
    assert page.locator(".st-key-dist_heatmap .plotly-chart-host").get_attribute("role") == "img"
    page.close()
