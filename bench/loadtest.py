"""Load test: N real Streamlit sessions drive the app over Streamlit's own websocket protocol, on loopback.

    python3 bench/loadtest.py --sessions 30 --seconds 120             # starts `streamlit run app.py`
    python3 bench/loadtest.py --sessions 30 --seconds 120 --repeat 2 --out out/loadtest.json
    python3 bench/loadtest.py --option runner.postScriptGC=true       # passed on to `streamlit run`
    python3 bench/loadtest.py --url http://127.0.0.1:8501 --pid 4242  # an app already running here

A benchmark, not a pytest test: it measures and asserts nothing. Each session is a browser tab on
/_stcore/stream (BackMsg.rerun_script out, ForwardMsg in, the message cache too). It opens a page
(mostly ᾱ_t and Forward, some Reverse), then every 0.5-2 s changes a widget as the frontend does on
a released slider: the ᾱ_t scrubber's t, `forward_seed` (+1), `rev_step`, now and then `rev_seed`, pressing
`rev_run` when it appears. The JSON report (stdout, --out) holds: errors (exception elements,
compile errors, websocket errors and disconnects, runs not finished in 60 s); each rerun's latency,
BackMsg sent -> script_finished, per action ("_sampled": the run sampled a reverse trajectory); a
sampled run's time to its first progress-bar delta and to its scrubber; the server's RSS after one
warm-up session per page, at its peak (sampled every 0.5 s) and after each round once caches settle.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

REPO = Path(__file__).resolve().parent.parent
PAGE_MIX = {"alpha_bar": 0.45, "forward": 0.40, "reverse": 0.15}  # url path -> share of the sessions
NEW_SEED_CHANCE = 0.3  # Reverse: share of actions that ask for a new seed; the others move the exact step
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)  # not FINISHED_EARLY_FOR_RERUN


@dataclass
class LoadConfig:
    sessions: int = 30  # a class of students on one server
    seconds: float = 120.0  # long enough for several reverse runs per Reverse session
    repeat: int = 1  # rounds against one server; 2 shows whether memory grows from one to the next
    seed: int = 0  # of the sessions' random choices
    settle_s: float = 20.0  # after a round, before its "after" RSS: sessions close, caches settle
    url: str | None = None  # attach to this app instead of starting one
    pid: int | None = None  # the attached app's process, for its RSS and CPU
    option: list[str] = field(default_factory=list)  # "section.name=value" for the `streamlit run` started here
    out: str | None = None
    think_s: tuple[float, float] = (0.5, 2.0)  # a reader's pause between two actions
    run_timeout_s: float = 60.0  # a run (or a connection) that takes longer is an error
    ramp_s: float = 3.0  # the sessions open over this span, not all in one instant


@dataclass
class Stats:
    """What one round measured, filled in by all its sessions."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # action -> seconds
    to_progress: list[float] = field(default_factory=list)  # seconds to a sampled run's first progress delta
    to_scrubber: list[float] = field(default_factory=list)  # seconds to that run's scrubber chart
    errors: list[str] = field(default_factory=list)  # "kind: detail"
    st_errors: Counter = field(default_factory=Counter)  # st.error texts the app showed (not errors here)
    received_bytes: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors.append(f"{kind}: {detail}"[:300])


@dataclass
class Run:
    seconds: float = 0.0
    widgets: dict = field(default_factory=dict)  # user key -> element proto (Slider, NumberInput, Button, ...)
    to_progress: float | None = None
    to_scrubber: float | None = None


class Session:
    """One browser tab: its websocket, the page it shows and what its frontend remembers."""

    def __init__(self, ws_url: str, stats: Stats, run_timeout_s: float):
        self.ws_url, self.stats, self.run_timeout_s = ws_url, stats, run_timeout_s
        self.ws, self.page_hash, self.query, self.widgets = None, "", "", {}
        self.states: dict[str, WidgetState] = {}  # widget id -> the value last sent, kept as the frontend does
        self.cache: dict[str, ForwardMsg] = {}  # the frontend's message cache: hash -> message, last two runs
        self.last_run: dict[str, ForwardMsg] = {}

    async def open(self, page: str) -> Run:
        self.ws = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.run_timeout_s)
        return await self.rerun("open", page_name=page)

    async def change(self, key: str, value: float | str) -> Run:
        """Set widget ``key`` as its frontend does: a slider sends [value], a number input its value,
        our scrubber (ui/components/scrubber.py) the label where the reader left it."""
        proto, state = self.widgets[key], WidgetState(id=self.widgets[key].id)
        if proto.DESCRIPTOR.name == "Slider":
            state.double_array_value.data.append(value)
        elif proto.DESCRIPTOR.name == "BidiComponent":
            digest = json.loads(proto.json)["digest"]  # a report: token, the frames' digest, the label
            state.json_value = json.dumps({"label": f"{secrets.token_hex(4)} {digest} {value}"})
        else:
            state.double_value = value
        self.states[state.id] = state
        return await self.rerun(key)

    async def rerun(self, action: str, page_name: str = "", pressed: str | None = None) -> Run:
        """Send what the frontend sends after a widget change (a pressed button's trigger only once)."""
        msg = BackMsg()
        client = msg.rerun_script
        client.query_string, client.page_script_hash, client.page_name = self.query, self.page_hash, page_name
        client.widget_states.widgets.extend(self.states.values())
        if pressed:
            client.widget_states.widgets.append(WidgetState(id=pressed, trigger_value=True))
        client.cached_message_hashes.extend(self.cache)
        start = time.monotonic()
        await self.ws.send(msg.SerializeToString())
        run = await asyncio.wait_for(self._read_run(start), self.run_timeout_s)
        sampled = run.to_progress is not None
        self.stats.latency[action + "_sampled" * sampled].append(run.seconds)
        if sampled:
            self.stats.to_progress.append(run.to_progress)
            self.stats.to_scrubber.extend([run.to_scrubber] if run.to_scrubber is not None else [])
        self.widgets = run.widgets
        self.states = {i: s for i, s in self.states.items() if i in {w.id for w in run.widgets.values()}}
        return run

    async def _read_run(self, start: float) -> Run:
        """Messages up to the script_finished of the run this rerun started (after any st.rerun)."""
        run, run_id, seen = Run(), None, {}
        while True:
            data = await self.ws.recv()
            self.stats.received_bytes += len(data)
            msg = ForwardMsg.FromString(data)
            if msg.WhichOneof("type") == "ref_hash":  # a message this tab has cached: only its hash came
                if msg.ref_hash not in self.cache:
                    self.stats.error("protocol", f"ref_hash {msg.ref_hash} is not in the message cache")
                    continue
                msg = self.cache[msg.ref_hash]
            kind = msg.WhichOneof("type")
            if msg.metadata.cacheable and msg.hash:
                seen[msg.hash] = msg
            if kind == "new_session":  # this run, or the next of an st.rerun chain
                run.widgets, run_id = {}, msg.metadata.run.script_run_id
                self.page_hash = msg.new_session.page_script_hash
            elif kind == "navigation" and msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":  # the frontend puts it in the address bar and sends it back
                self.query = msg.page_info_changed.query_string
            elif kind == "page_not_found":
                self.stats.error("page_not_found", msg.page_not_found.page_name)
            elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
                self.stats.error("compile_error", msg.session_event.script_compilation_exception.message)
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":  # also a late exception
                self._element(msg.delta.new_element, run, time.monotonic() - start)
            elif kind == "script_finished" and run_id is not None and msg.script_finished in DONE \
                    and msg.metadata.run.script_run_id in ("", run_id):
                run.seconds = time.monotonic() - start
                self.cache, self.last_run = {**self.last_run, **seen}, seen
                return run

    def _element(self, element, run: Run, elapsed: float) -> None:
        kind = element.WhichOneof("type")
        proto = getattr(element, kind)
        if kind == "exception":
            self.stats.error("exception", f"{proto.type}: {proto.message}")
        elif kind == "alert" and proto.format == proto.ERROR:
            self.stats.st_errors[proto.body[:200]] += 1
        elif kind == "progress" and run.to_progress is None:
            run.to_progress = elapsed
        element_id = getattr(proto, "id", "")  # '$$ID-<hash>-<key>' for a keyed element, '-None' unkeyed
        key = element_id.split("-", maxsplit=2)[-1] if element_id.startswith("$$ID-") else "None"
        if key != "None":
            run.widgets[key] = proto
        if key == "reverse_scrubber" and run.to_scrubber is None:
            run.to_scrubber = elapsed


async def act(session: Session, page: str, rng: random.Random) -> None:
    """One action on ``page``: a widget changed the way a released slider (or a +/- click) changes it."""
    w = session.widgets
    if page == "alpha_bar":
        await session.change("alpha_coefficients", rng.choice(json.loads(w["alpha_coefficients"].json)["labels"]))
    elif page == "forward":
        sent = session.states.get(w["forward_seed"].id)
        seed = sent.double_value if sent else w["forward_seed"].default
        await session.change("forward_seed", seed + 1)  # the + button
    elif "rev_run" in w and "reverse_scrubber" not in w:  # the seed asked for is not sampled yet: Run
        await session.rerun("rev_run", pressed=w["rev_run"].id)
    elif rng.random() < NEW_SEED_CHANCE or "rev_step" not in w:
        await session.change("rev_seed", rng.randrange(10**6))
    else:
        await session.change("rev_step", rng.randint(int(w["rev_step"].min), int(w["rev_step"].max)))


def page_of(index: int) -> str:
    """Session ``index``'s page; the golden-ratio sequence spreads PAGE_MIX over a few sessions too."""
    x = index * 0.6180339887 % 1.0
    edges = {page: sum(list(PAGE_MIX.values())[:i + 1]) for i, page in enumerate(PAGE_MIX)}
    return next((page for page, edge in edges.items() if x < edge), "alpha_bar")


async def user(index: int, ws_url: str, cfg: LoadConfig, stats: Stats, deadline: float, round_: int) -> int:
    """One student until ``deadline``: a page, then actions and think times; reloads after an error."""
    page, rng = page_of(index), random.Random(f"{cfg.seed}-{round_}-{index}")
    await asyncio.sleep(rng.uniform(0, cfg.ramp_s))
    actions = 0
    while time.monotonic() < deadline:
        session = Session(ws_url, stats, cfg.run_timeout_s)
        try:
            await session.open(page)
            while time.monotonic() + (pause := rng.uniform(*cfg.think_s)) < deadline:
                await asyncio.sleep(pause)
                await act(session, page, rng)
                actions += 1
            return actions
        except TimeoutError:  # before OSError, its base class
            stats.error("timeout", f"{page}: no answer within {cfg.run_timeout_s:g} s")
        except (WebSocketException, OSError) as exc:  # refused, reset, closed
            stats.error("websocket", f"{page}: {type(exc).__name__}: {exc}")
        except KeyError as exc:
            stats.error("missing_widget", f"{page}: no widget {exc} on the page")
        finally:
            if session.ws is not None:
                await session.ws.close()
        await asyncio.sleep(1.0)  # then the student reloads the tab
    return actions


def proc(pid: int | None) -> dict:
    """The server's VmRSS and VmHWM (its peak so far) in MiB and its CPU seconds, from /proc; {} if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines() if pid else []
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() if pid else []
    except OSError:
        return {}
    found = {line.split(":")[0]: round(int(line.split()[1]) / 1024, 1) for line in status
             if line.startswith(("VmRSS:", "VmHWM:"))}
    return {**found, "cpu_s": (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")} if stat else {}


def summary(values: list[float]) -> dict:
    """n, p50, p95 and max in seconds (nearest-rank percentiles)."""
    ordered = sorted(values)
    rank = lambda p: round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)  # noqa: E731
    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "max": rank(100)} if ordered else {"n": 0}


async def one_round(cfg: LoadConfig, ws_url: str, pid: int | None, index: int) -> dict:
    stats, before, rss = Stats(), proc(pid), []
    start, client_cpu = time.monotonic(), time.process_time()

    async def sample_rss() -> None:
        while True:
            rss.append(proc(pid).get("VmRSS", 0.0))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_rss())
    actions = await asyncio.gather(*(user(i, ws_url, cfg, stats, start + cfg.seconds, index)
                                     for i in range(cfg.sessions)))
    wall, loaded = time.monotonic() - start, proc(pid)
    await asyncio.sleep(cfg.settle_s)
    sampler.cancel()
    return {"round": index + 1, "actions": sum(actions), "received_mib": round(stats.received_bytes / 2**20, 1),
            "errors": {"count": len(stats.errors), "by_kind": dict(Counter(e.split(":")[0] for e in stats.errors)),
                       "first": stats.errors[:10]},
            "latency_s": {action: summary(values) for action, values in sorted(stats.latency.items())},
            "slider_release_latency_s": summary([v for a in ("alpha_coefficients", "forward_seed", "rev_step")
                                                 for v in stats.latency.get(a, [])]),
            "reverse_first_frame_s": {"progress": summary(stats.to_progress), "scrubber": summary(stats.to_scrubber)},
            "st_error_messages": dict(stats.st_errors.most_common(5)),
            "cores_busy": {"server": round((loaded["cpu_s"] - before["cpu_s"]) / wall, 2) if loaded and before
                           else None, "loadtest": round((time.process_time() - client_cpu) / wall, 2)},
            "rss_mib": {"before": before.get("VmRSS"), "peak": max(rss, default=0.0) or None,
                        "after_settle": proc(pid).get("VmRSS")}}


async def load_test(cfg: LoadConfig, url: str, pid: int | None) -> dict:
    ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
    warmup, warm_stats = {}, Stats()
    for page in PAGE_MIX:  # one session per page: imports, the model, the default reverse run
        session = Session(ws_url, warm_stats, run_timeout_s=300.0)
        try:
            warmup[page] = round((await session.open(page)).seconds, 3)
        finally:
            if session.ws is not None:
                await session.ws.close()
    report = {"warmup_s": warmup, "warmup_errors": warm_stats.errors, "rss_mib_after_warmup": proc(pid).get("VmRSS"),
              "rounds": [await one_round(cfg, ws_url, pid, index) for index in range(cfg.repeat)]}
    after = [r["rss_mib"]["after_settle"] for r in report["rounds"]]
    if len(after) > 1 and None not in after:
        report["rss_growth_mib_first_to_last_round"] = round(after[-1] - after[0], 1)
    report["rss_mib_peak_vmhwm"] = proc(pid).get("VmHWM")
    return report


def start_server(log, options: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               *(part for option in options for part in ("--" + option.split("=", 1)[0], option.split("=", 1)[1]))]
    return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), f"http://127.0.0.1:{port}"


def wait_healthy(url: str, process: subprocess.Popen | None, log, timeout_s: float = 180.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if process is not None and process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited with status {process.returncode}: {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url}/_stcore/health did not answer within {timeout_s:g} s")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse(argv: list[str] | None) -> LoadConfig:
    parser = OneLineParser(prog="loadtest.py", description=__doc__.splitlines()[0])
    for name, kind in (("sessions", int), ("seconds", float), ("repeat", int), ("seed", int), ("pid", int)):
        parser.add_argument(f"--{name}", type=kind, default=getattr(LoadConfig, name))
    parser.add_argument("--settle", type=float, default=LoadConfig.settle_s, dest="settle_s")
    parser.add_argument("--url", help="an app already running on loopback, e.g. http://127.0.0.1:8501")
    parser.add_argument("--option", action="append", default=[], help="section.name=value for `streamlit run`")
    parser.add_argument("--out", help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.url or "http://127.0.0.1:1")
    if min(args.sessions, args.repeat) < 1:
        parser.error(f"--sessions and --repeat must be at least 1, got {args.sessions} and {args.repeat}")
    if not (0 < args.seconds < math.inf and 0 <= args.settle_s < math.inf):
        parser.error(f"--seconds must be finite and above 0, --settle not negative, got {args.seconds} and "
                     f"{args.settle_s}")
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost", "::1") or url.path.strip("/") \
            or not url.netloc.rsplit(":", 1)[-1].isdigit():
        parser.error(f"--url must be http://127.0.0.1:PORT (loopback, no path), got {args.url!r}")
    if (args.pid is not None and args.url is None) or (args.option and args.url is not None):
        parser.error("--pid goes with --url; --option without it (it is for the server started here)")
    if bad := [o for o in args.option if not re.fullmatch(r"[a-zA-Z]+\.[a-zA-Z]+=.*", o)]:
        parser.error(f"--option must look like section.name=value, got {bad[0]!r}")
    return LoadConfig(**vars(args))


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    with tempfile.TemporaryFile("w+") as log:
        process, url = start_server(log, cfg.option) if cfg.url is None else (None, cfg.url.rstrip("/"))
        pid = process.pid if process else cfg.pid
        try:
            ready_s = wait_healthy(url, process, log)
            measured = asyncio.run(load_test(cfg, url, pid))
        finally:
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        log.seek(0)
        server_log = log.read()
    report = {"config": {k: v for k, v in vars(cfg).items() if k != "out"},
              "server": {"url": url, "pid": pid, "started_here": process is not None, "ready_s": round(ready_s, 2),
                         "log_tracebacks": server_log.count("Traceback")}, **measured}
    if "Traceback" in server_log:
        report["server"]["log_first_traceback"] = server_log[server_log.index("Traceback"):][:1500]
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if cfg.out:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
