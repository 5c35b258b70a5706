"""The app's waits on one core: what a student waits after asking for a digit, per engine.

    python3 bench/app_waits.py              # 3 timings of each wait, torch and ONNX Runtime interleaved
    python3 bench/app_waits.py --repeats 5

A benchmark, not a test: it measures and asserts nothing. It pins this process to one core (and
tells the server so), the server's setting for a model run while other students use the app, and
drives the pages with Streamlit's AppTest in this process: each timing is one rerun, from the
control's change to the page's script finished, with a new seed each time so the run is sampled,
not read from the run store (on Reverse: the press of Run after the change). The waits: the
Reverse page's default run, its 4x4 grid and DDPM-1000, and the home page's digit. Prints JSON:
seconds per wait and engine, medians and all values.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.cpu_count = lambda: 1  # ui/server.py sizes torch's threads from it


def timed(at, change, press_run: bool) -> float:
    """Seconds of the rerun that samples: the change's own rerun, or on Reverse the press of Run after it
    (a changed setting waits for Run there)."""
    change(at)
    if press_run:
        at.run()
        at.button(key="rev_run").click()
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    return seconds


def measure(repeats: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from diffusion_core import engine

    waits = {
        "reverse_default": lambda at, k: at.number_input(key="rev_seed").set_value(100 + k),
        "reverse_grid_4x4": lambda at, k: (at.toggle(key="rev_grid").set_value(True),
                                           at.number_input(key="rev_seed").set_value(200 + k)),
        "reverse_ddpm1000": lambda at, k: (at.radio(key="rev_sampler").set_value("ddpm"),
                                           at.number_input(key="rev_seed").set_value(300 + k)),
        "home_digit": lambda at, k: at.button(key="home_another").click(),
    }
    values: dict = {name: {"torch": [], "onnxruntime": []} for name in waits}
    for k in range(repeats):
        for name in ("torch", "onnxruntime"):
            engine.DEFAULT_ENGINE = name
            st.cache_resource.clear()  # the model loads again through the engine asked for
            for wait, change in waits.items():
                at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
                if not wait.startswith("home"):
                    at.switch_page("ui/pages/reverse.py").run()
                seconds = timed(at, lambda at: change(at, k + 10 * (name == "torch")), not wait.startswith("home"))
                values[wait][name].append(round(seconds, 3))
                print(wait, name, values[wait][name][-1], file=sys.stderr)
    return {wait: {name: {"median_s": statistics.median(v), "values_s": v} for name, v in by.items()}
            for wait, by in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="app_waits.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20:
        parser.exit(2, f"app_waits.py: error: --repeats must be 1 to 20, got {args.repeats}\n")
    one_core()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import torch

    torch.set_num_threads(1)
    print(json.dumps({"cores": 1, **measure(args.repeats)}, indent=1))


if __name__ == "__main__":
    main()
