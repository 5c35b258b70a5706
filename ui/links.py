"""A view in the URL: the address of every page holds its view, so it can be shared.

The query parameters of a page's address hold the state of its view (t, seed, schedule, label,
guidance, ...), so an instructor can copy the address and share exactly that view. A link is
read once per session and page, before the page draws its widgets; every value is validated
like any other input (a bad one is named in an st.error and ignored). After each run the
address is rewritten from the widgets, so it always describes what is on screen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

# Copies of diffusion_core's constants (tests/test_further_pages.py checks they agree): this module runs
# before the first page draws, and importing diffusion_core would import torch first.
SCHEDULE_NAMES = ("linear", "cosine", "quadratic", "sigmoid")
DEFAULT_NUM_STEPS = 1000
MAX_GUIDANCE = 20.0
MAX_T = 2000  # the longest chain the sidebar allows
MAX_SEED = 2**31 - 1
CURVE_NAMES = ("beta", "alpha_bar", "log_snr")  # the schedule page's curve charts
MIXTURE_NAMES = ("ring", "uneven")  # diffusion_core.toy_score's 2-D mixtures
TOY_DATA_NAMES = ("moons", "spiral", *MIXTURE_NAMES)  # diffusion_core.toy.DATA_NAMES
GUIDANCE_T = 100  # the guidance page's T
SAMPLERS = ("ddpm", "ddim", "dpmpp2m", "heun")  # diffusion_core.samplers.SAMPLERS


def _shown(bound) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _within(convert: Callable[[str], Any], kind: str, low, high) -> Callable[[str], Any]:
    """A parser of ``kind`` (a whole number, a number) in [low, high]; ValueError names the problem."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise ValueError(f"must be {kind}, got {text!r}") from None
        if not low <= value <= high:  # also refuses nan
            raise ValueError(f"must lie in [{_shown(low)}, {_shown(high)}], got {text}")
        return value + 0  # -0.0 -> 0.0
    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    return _within(int, "a whole number", low, high)


def _number(low: float, high: float) -> Callable[[str], float]:
    return _within(float, "a number", low, high)


def _one_of(options: tuple) -> Callable[[str], Any]:
    by_text = {str(option): option for option in options}

    def parse(text: str):
        if text not in by_text:
            raise ValueError(f"must be one of {', '.join(by_text)}, got {text!r}")
        return by_text[text]
    return parse


def _frame(text: str) -> str:
    """Where a recorded reverse run's scrubber stands: a step number, or "end" (the sample)."""
    if text == "end":
        return text
    try:
        return str(_integer(1, DEFAULT_NUM_STEPS)(text))
    except ValueError:
        raise ValueError(f"must be a step from 1 to {DEFAULT_NUM_STEPS} or end, got {text!r}") from None


def _switch(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"must be 0 or 1, got {text!r}")
    return text == "1"


@dataclass(frozen=True)
class Param:
    name: str  # in the URL
    key: str  # the widget's st.session_state key
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str


_SCHEDULE = (Param("schedule", "sched_name", _one_of(SCHEDULE_NAMES)),
             Param("T", "sched_T", _integer(2, MAX_T)))
# page url_path -> its parameters, in the order they are applied (T before the t it bounds)
PARAMS: dict[str, tuple[Param, ...]] = {
    "": (),
    "forward": (*_SCHEDULE, Param("t", "forward_t", _integer(0, MAX_T)),
                Param("seed", "forward_seed", _integer(0, MAX_SEED)),
                Param("chain", "forward_chain", _switch, lambda on: "1" if on else "0")),
    "schedules": (Param("seed", "schedules_seed", _integer(0, MAX_SEED)),
                  Param("curve", "sched_curve", _one_of(CURVE_NAMES))),
    "alpha_bar": (*_SCHEDULE, Param("t", "alpha_t", _integer(1, MAX_T))),
    "reverse": (Param("seed", "rev_seed", _integer(0, MAX_SEED)),
                Param("sampler", "rev_sampler", _one_of(SAMPLERS)),
                Param("steps", "rev_steps", _integer(1, DEFAULT_NUM_STEPS)),
                Param("label", "rev_label", _one_of(("none", *range(10)))),
                Param("guidance", "rev_guidance", _number(0.0, MAX_GUIDANCE / 2), lambda w: f"{w:g}"),
                Param("eta", "rev_eta", _number(0.0, 1.0), lambda eta: f"{eta:g}"),
                Param("grid", "rev_grid", _switch, lambda on: "1" if on else "0"),
                Param("step", "rev_frame", _frame)),
    "restore": (Param("seed", "restore_seed", _integer(0, MAX_SEED)),),
    "distributions": (),
    "two_ways": (Param("data", "ways_data", _one_of(MIXTURE_NAMES)), Param("seed", "ways_seed", _integer(0, MAX_SEED)),
                 Param("train", "ways_train_steps", _one_of((250, 500, 1000, 2000)))),
    "flow_matching": (Param("data", "flow_data", _one_of(TOY_DATA_NAMES)),
                      Param("train", "flow_train_steps", _one_of((500, 1000, 2000))),
                      Param("seed", "flow_seed", _integer(0, MAX_SEED))),
    "guidance": (Param("label", "guide_label", _one_of((0, 1))), Param("t", "guide_t", _integer(1, GUIDANCE_T)),
                 Param("x", "guide_x", _number(-2.0, 2.0), lambda v: f"{v:g}"),
                 Param("y", "guide_y", _number(-2.0, 2.0), lambda v: f"{v:g}"),
                 Param("seed", "guide_seed", _integer(0, MAX_SEED))),
    "latent": (Param("seed", "latent_seed", _integer(0, MAX_SEED)),
               Param("label", "latent_label", _one_of(("none", *range(10)))),
               Param("guidance", "latent_guidance", _number(0.0, MAX_GUIDANCE / 2), lambda w: f"{w:g}"),
               Param("steps", "latent_steps", _integer(2, DEFAULT_NUM_STEPS))),
}
LECTURE = Param("lecture", "lecture", _switch, lambda on: "1" if on else "0")


def lecture_in_link() -> bool:
    """Whether the address asks for lecture mode (read before st.set_page_config)."""
    return st.query_params.get("lecture") == "1"


def _bound_t(param: Param, value: int) -> int:
    """t may not pass the T in force on the page."""
    top = int(st.session_state.get("sched_T", DEFAULT_NUM_STEPS))
    if value > top:
        raise ValueError(f"must lie in [{0 if param.key == 'forward_t' else 1}, {top}] (T = {top}), got {value}")
    return value


def read_link(page: str) -> None:
    """Apply the address's parameters for ``page`` to the widgets' state, once per session and page."""
    applied = st.session_state.setdefault("_link_read", set())
    if page in applied:
        return
    applied.add(page)
    problems = []
    known = {p.name: p for p in (*PARAMS.get(page, ()), LECTURE)}
    for name in st.query_params:
        if name not in known:
            problems.append(f"`{name}` is not a setting of this page (it takes "
                            f"{', '.join(f'`{n}`' for n in known)})")
    for param in known.values():
        text = st.query_params.get(param.name)
        if text is None:
            continue
        try:
            value = param.parse(text)
            if param.name == "t" and param.key in ("forward_t", "alpha_t"):  # bounded by the sidebar's T
                value = _bound_t(param, value)
        except ValueError as exc:
            problems.append(f"`{param.name}` {exc}")
            continue
        st.session_state[param.key] = value
    if problems:
        st.error("Parts of this link were ignored: " + "; ".join(problems) + ".")


WRITTEN = "_link_written"  # session state: the address this session last wrote


def write_link(page: str) -> None:
    """Rewrite the address from the widgets' state, so it describes this view and can be shared."""
    values = {}
    for param in (*PARAMS.get(page, ()), LECTURE):
        if param.key in st.session_state:
            values[param.name] = param.show(st.session_state[param.key])
    if values.get("lecture") == "0":
        del values["lecture"]
    # A rerun asked for while the previous run's address is still on its way carries the older
    # address from the browser, which may already equal these values; writing only when the two
    # differ would then leave the previous run's address on screen. So also write what differs
    # from what this session wrote last.
    if dict(st.query_params) != values or st.session_state.get(WRITTEN) != values:
        st.query_params.from_dict(values)
        st.session_state[WRITTEN] = values
