"""Browser benchmark: how long a control change takes to show its result, in headless Chromium.

    python3 tests/browser_bench.py                                  # this checkout, 11 changes a control
    python3 tests/browser_bench.py --against ../old --rounds 2      # A/B with another checkout, alternating
    python3 tests/browser_bench.py --controls forward --changes 21 --cold 5

A benchmark, not a pytest test: it measures and asserts nothing. For each checkout it starts
`streamlit run app.py` and drives it with that checkout's own tests/test_browser.py (its CONTROLS,
WATCHED and timer: from the press until what the control changes is different on screen), so an
older version is measured the way it was built. The first change after opening a page warms up
and is left out. --cold N also times N cold starts: launch to the first page's heading on screen.
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


def worker(root: Path, controls: list[str], changes: int, cold: int) -> dict:
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
                page.close()
        with tb.streamlit_server() as (url, _):
            for name in controls:
                page = tb._open(browser, url, tb.PAGES[name])
                times = []
                for _ in range(changes + 1):
                    page.evaluate(tb.ARM_RERUN_TIMER_JS, tb.WATCHED[name])
                    tb.CONTROLS[name](page)
                    times.append(round(page.evaluate("window.__rerun")))
                    tb._settled(page)
                result[name] = times[1:]
                page.close()
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to measure, alternating with this one")
    parser.add_argument("--controls", default="forward,schedules,alpha_bar", help="comma-separated pages")
    parser.add_argument("--changes", type=int, default=11, help="timed changes per control and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cold", type=int, default=0, help="cold starts per checkout and round")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    controls = args.controls.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker.resolve(), controls, args.changes, args.cold)))
        return
    roots = [HERE] + ([args.against.resolve()] if args.against else [])
    runs: dict[str, dict[str, list]] = {str(root): {} for root in roots}
    for _ in range(args.rounds):
        for root in roots:
            out = subprocess.run([sys.executable, __file__, "--worker", str(root), "--controls", args.controls,
                                  "--changes", str(args.changes), "--cold", str(args.cold)],
                                 check=True, capture_output=True, text=True).stdout
            for name, values in json.loads(out.strip().splitlines()[-1]).items():
                runs[str(root)].setdefault(name, []).extend(values)
    report = {root: {name: {"median": statistics.median(v), "min": min(v), "max": max(v), "values": v}
                     for name, v in measured.items()} for root, measured in runs.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
