"""Rerun benchmark without a browser: how long the server takes to rerun after a control changes.

    python3 bench/rerun_bench.py                # starts `streamlit run app.py`, 20 changes a control
    python3 bench/rerun_bench.py --changes 40

A benchmark, not a pytest test: it measures and asserts nothing. One session on loopback, driven
over Streamlit's websocket protocol as bench/loadtest.py drives its sessions: each change sends
what the frontend sends and is timed from that BackMsg to the run's script_finished. Every change
asks for something new (the next T, seed or β end), so the run computes its figures instead of
reading them from a cache; the first change of each control warms up and is left out. What the
browser then takes to draw the result is bench/browser_bench.py's part. Prints JSON: each
control's milliseconds, with the median and range.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import tempfile

from loadtest import OneLineParser, Session, Stats, start_server, wait_healthy

# name -> (page, widget key, the value before the first timed change, step between changes)
CONTROLS = {
    "forward_T": ("forward", "sched_T", 1000, 50),  # the sidebar's T: the whole page reruns
    "alpha_bar_T": ("alpha_bar", "sched_T", 1000, 50),
    "forward_seed": ("forward", "forward_seed", 0, 1),  # the page's fragment
    "schedules_custom": ("schedules", "custom_beta_end", 0.02, 0.001),  # the custom schedule's fragment
    "schedules_seed": ("schedules", "schedules_seed", 0, 1),  # the comparison's fragment
}


async def measure(url: str, changes: int) -> dict:
    result = {}
    for name, (page, key, start, step) in CONTROLS.items():
        stats = Stats()
        session = Session(url.replace("http", "ws", 1) + "/_stcore/stream", stats, 120.0)
        try:
            await session.open(page)
            times = [(await session.change(key, round(start + k * step, 6))).seconds for k in range(changes + 1)]
        finally:
            if session.ws is not None:
                await session.ws.close()
        ms = [round(1000 * t) for t in times[1:]]
        result[name] = {"median": statistics.median(ms), "min": min(ms), "max": max(ms), "values": ms,
                        "errors": stats.errors}
    return result


def main() -> None:
    parser = OneLineParser(prog="rerun_bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="timed changes per control, 1 to 20 (T goes "
                        "up to 2000, the sidebar's most, in steps of 50)")
    args = parser.parse_args()
    if not 1 <= args.changes <= 20:
        parser.error(f"--changes must be 1 to 20, got {args.changes}")
    with tempfile.TemporaryFile("w+") as log:
        process, url = start_server(log, [])
        try:
            wait_healthy(url, process, log)
            print(json.dumps(asyncio.run(measure(url, args.changes)), indent=1))
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
