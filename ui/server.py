"""Server policy: how one Streamlit process shares its cores and its model runs among a class.

- setup(), called once by app.py: the garbage collector and torch's thread count;
- Activity and model_threads(): a model run takes every core when nobody else is using the server;
- TurnQueue: one model run at a time, first come first served, everyone waiting sees their place;
- Store: the bounded stores of finished runs that every session shares;
- TrainSlot: a toy model trained at most once and shared.

The st.cache_resource accessors at the bottom are the server's single instances of each.
"""
from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from typing import Callable

import streamlit as st

# One core is left to the other sessions' reruns while a model run computes, unless no other
# session ran a page in the last ALONE_S seconds: then the run takes every core.
SERVER_TORCH_THREADS = max(1, (os.cpu_count() or 2) - 1)
ALONE_S = 30.0
_setup_done = threading.Event()


def setup() -> None:
    """Once per server process (app.py calls it on every run; only the first does anything).

    With torch and plotly loaded a full garbage collection walks ~240,000 objects, ~0.3 s on 2 cores,
    and those modules live as long as the server: freeze them out of the collector. (Streamlit's own
    collection after every run is off in .streamlit/config.toml, runner.postScriptGC.)
    """
    if _setup_done.is_set():
        return
    import torch  # here, not at the top: the first page is drawn before torch is imported

    torch.set_num_threads(SERVER_TORCH_THREADS)
    gc.collect()
    gc.freeze()
    _setup_done.set()


class Activity:
    """When each session last ran a page, so that a model run knows whether it has the server to itself."""

    def __init__(self, clock=time.monotonic):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def touch(self, session: str | None) -> None:
        now = self._clock()
        with self._lock:
            self._seen = {s: at for s, at in self._seen.items() if now - at <= ALONE_S}  # forget the gone
            if session is not None:
                self._seen[session] = now

    def others_active(self, session: str | None) -> bool:
        """Whether a session other than ``session`` ran a page in the last ALONE_S seconds."""
        now = self._clock()
        with self._lock:
            return any(s != session and now - at <= ALONE_S for s, at in self._seen.items())


def session_id() -> str:
    """This browser session's id in the activity record, kept in its own st.session_state."""
    return st.session_state.setdefault("_activity_id", uuid.uuid4().hex)


@contextlib.contextmanager
def model_threads():
    """Torch threads for one model run (the caller holds its turn in queue()): every core when no
    other session ran a page in the last ALONE_S seconds (a lecturer's demo), else SERVER_TORCH_THREADS."""
    import torch

    alone = not activity().others_active(session_id())
    torch.set_num_threads((os.cpu_count() or 1) if alone else SERVER_TORCH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(SERVER_TORCH_THREADS)


class TurnQueue:
    """First come, first served: one model run at a time, so a class sharing the server's cores is
    served fairly, and everyone waiting sees their place instead of a frozen page."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: deque = deque()

    @contextlib.contextmanager
    def turn(self, on_wait: Callable[[int], None]):
        """Wait for this caller's turn, calling on_wait(runs ahead) whenever that number changes."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            shown = None
            while True:
                with self._cond:
                    ahead = self._queue.index(ticket)
                    if ahead == 0:
                        break
                    if ahead == shown:
                        self._cond.wait(timeout=0.5)
                        continue
                shown = ahead
                on_wait(ahead)  # outside the lock: the page may stop here (a rerun), and finally frees the place
            yield
        finally:
            with self._cond:
                self._queue.remove(ticket)
                self._cond.notify_all()


def waiting(bar) -> Callable[[int], None]:
    """on_wait for TurnQueue.turn: show the place in the queue on a progress bar."""
    return lambda ahead: bar.progress(0.0, text=f"Waiting for the model: {ahead} run{'s' * (ahead > 1)} "
                                                "ahead of yours (one runs at a time, first come first served)")


class Store:
    """A small thread-safe LRU of finished runs.

    Not st.cache_data: a run shows a progress bar while it computes, and a cached function would
    replay every update of it on each cache hit."""

    def __init__(self, max_entries: int):
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


class TrainSlot:
    """One toy model, trained at most once and shared by every session (see train_slot)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trained = None


# --- the server's single instances -------------------------------------------------------------
@st.cache_resource
def activity() -> Activity:
    return Activity()


@st.cache_resource
def queue() -> TurnQueue:
    """The one queue of model runs, shared by every session of this server."""
    return TurnQueue()


@st.cache_resource
def run_store() -> Store:
    """Recorded reverse runs (ui/runs.py): a few, each holds every frame of a run."""
    return Store(max_entries=6)


@st.cache_resource
def restore_store() -> Store:
    """Noise-and-restore results: one entry per (digit, t, seed, ...), small uint8 arrays."""
    return Store(max_entries=64)


def trained_once(config, fit: Callable, what: str):
    """The toy model for ``config``: fit(config, progress=...) runs here with a progress bar, once per server;
    every later call, from any session, gets the same model."""
    slot = train_slot(config)
    with slot.lock:
        if slot.trained is None:
            bar = st.progress(0.0, text=f"Training {what}…")
            slot.trained = fit(config, progress=lambda step, total, loss: bar.progress(
                step / total, text=f"Training {what}: step {step} of {total} · loss {loss:.3f}"))
            bar.empty()
    return slot.trained


def ready_to_train(configs: list, label: str, key: str, hint: str) -> bool:
    """Whether the toy models for ``configs`` are trained, or their training button (``label``) was just
    pressed; else the button stays on the page with ``hint`` beside it. A class shares one training."""
    if all(train_slot(config).trained is not None for config in configs):
        return True
    holder = st.empty()
    if holder.button(label, key=key, type="primary"):
        holder.empty()
        return True
    st.info(hint)
    return False


@st.cache_resource(max_entries=16, show_spinner=False)  # four toy pages, a few configs each; each model is tiny
def train_slot(config) -> TrainSlot:
    """The slot for a toy config. Training happens outside this cached call, so that its progress
    bar is not recorded and replayed on every later run of the page."""
    return TrainSlot()
