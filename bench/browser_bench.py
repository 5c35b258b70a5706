"""Browser benchmark: how long a control change takes to show its result, in headless Chromium.

    python3 bench/browser_bench.py                                  # this checkout, 11 changes a control
    python3 bench/browser_bench.py --against ../old --rounds 2      # A/B with another checkout, alternating
    python3 bench/browser_bench.py --controls forward --changes 21 --cold 5
    python3 bench/browser_bench.py --controls forward_chain,forward_example,forward_T,alpha_bar_T,schedules_custom

A benchmark, not a pytest test: it measures and asserts nothing. For each checkout it starts
`streamlit run app.py` and drives it with that checkout's own tests/test_browser.py (its CONTROLS,
WATCHED and timer: from the press until what the control changes is different on screen), so an
older version is measured the way it was built. The first change after opening a page warms up
and is left out. --cold N also times N cold starts: launch to the first page's heading on screen,
and to its script finished and drawn; --tabs N times N new tabs of the forward page on a running
server (open -> script finished and drawn: what a student who follows the link waits for).
Prints JSON: every change's milliseconds per checkout and control, with the median and range.
To measure an older commit: `git worktree add ../old COMMIT`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _shadow(key: str, selector: str, attribute: str | None = "src") -> dict:
    """Watch ``selector`` inside the scrubber ``key`` (the format of test_browser's WATCHED)."""
    return {"host": f'.st-key-{key} [data-testid="stBidiComponentIsolated"]', "selector": selector, "index": 0,
            "attribute": attribute}


def _step_up(key: str):
    return lambda page: page.locator(f'.st-key-{key} [data-testid="stNumberInputStepUp"]').click()


def _pick_next(key: str):
    """A selectbox: its menu is opened before the timer is armed; the timed change is ArrowDown + Enter."""
    def open_menu(page):
        page.locator(f".st-key-{key} input").click()
        page.wait_for_selector('[data-testid="stSelectboxVirtualDropdown"]')

    def choose(page):
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
    return open_menu, choose


# More controls than test_browser's three, each defined here (the same for every checkout):
# name -> (page, what the change alters on screen, [prepare,] the change)
SURVEY = {
    "forward_chain": ("forward", _shadow("forward_scrubber", "img.frame"),
                      lambda page: page.locator(".st-key-forward_chain label").click()),
    "forward_example": ("forward", _shadow("forward_scrubber", "img.frame"), *_pick_next("forward_example")),
    "forward_T": ("forward", _shadow("forward_scrubber", "img.frame"), _step_up("sched_T")),
    "alpha_bar_T": ("alpha_bar", _shadow("alpha_coefficients", ".readout", None), _step_up("sched_T")),
    "schedules_custom": ("schedules",
                         {"host": None, "selector": ".st-key-sched_beta .scatterlayer .trace:last-child path",
                          "index": 0, "attribute": "d"}, _step_up("custom_beta_end")),
}


def worker(root: Path, controls: list[str], changes: int, cold: int, tabs: int = 0) -> dict:
    """Measure one checkout (run in a process of its own: it imports that checkout's test helpers)."""
    sys.path[:0] = [str(root / "tests"), str(root)]
    import test_browser as tb
    from playwright.sync_api import sync_playwright

    result: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(tb.CHROMIUM), headless=True, args=tb.CHROMIUM_ARGS)
        for _ in range(cold):
            with tb.streamlit_server() as (url, started):
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(url)
                page.get_by_role("heading", name="Diffusion models, step by step").wait_for(timeout=120_000)
                result.setdefault("cold_start_s", []).append(round(time.perf_counter() - started, 2))
                tb._settled(page)
                result.setdefault("cold_settled_s", []).append(round(time.perf_counter() - started, 2))
                page.close()
        with tb.streamlit_server() as (url, _):
            for k in range(tabs + 1 if tabs else 0):  # the first opens the page cold: left out
                opened = time.perf_counter()
                page = tb._open(browser, url, "forward")
                if k:
                    result.setdefault("new_tab_ms", []).append(round(1000 * (time.perf_counter() - opened)))
                page.close()
            for name in controls:
                if name in SURVEY:
                    path, watched, *steps = SURVEY[name]
                else:
                    path, watched, steps = tb.PAGES[name], tb.WATCHED[name], [tb.CONTROLS[name]]
                prepare, change = (steps[0], steps[1]) if len(steps) == 2 else (None, steps[0])
                page = tb._open(browser, url, path)
                times = []
                for _ in range(changes + 1):
                    if prepare:
                        prepare(page)
                    page.evaluate(tb.ARM_RERUN_TIMER_JS, watched)
                    change(page)
                    times.append(round(page.evaluate("window.__rerun")))
                    tb._settled(page)
                result[name] = times[1:]
                page.close()
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to measure, alternating with this one")
    parser.add_argument("--controls", default="forward,schedules,alpha_bar",
                        help=f"comma-separated: pages (their main control), or {', '.join(SURVEY)}")
    parser.add_argument("--changes", type=int, default=11, help="timed changes per control and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cold", type=int, default=0, help="cold starts per checkout and round")
    parser.add_argument("--tabs", type=int, default=0, help="new tabs of the forward page per checkout and round, "
                        "on a running server: open -> script finished and drawn")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    controls = args.controls.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker.resolve(), controls, args.changes, args.cold, args.tabs)))
        return
    roots = [HERE] + ([args.against.resolve()] if args.against else [])
    runs: dict[str, dict[str, list]] = {str(root): {} for root in roots}
    for _ in range(args.rounds):
        for root in roots:
            out = subprocess.run([sys.executable, __file__, "--worker", str(root), "--controls", args.controls,
                                  "--changes", str(args.changes), "--cold", str(args.cold), "--tabs", str(args.tabs)],
                                 check=True, capture_output=True, text=True).stdout
            for name, values in json.loads(out.strip().splitlines()[-1]).items():
                runs[str(root)].setdefault(name, []).extend(values)
    report = {root: {name: {"median": statistics.median(v), "min": min(v), "max": max(v), "values": v}
                     for name, v in measured.items()} for root, measured in runs.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
