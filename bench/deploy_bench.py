"""The deployment under load and faults: deploy/local.sh's replicas behind HAProxy, on loopback.

    python3 bench/deploy_bench.py                          # 30, 100, 300 sessions; 1 and 2 replicas; faults
    python3 bench/deploy_bench.py --sessions 30,100 --replicas 2 --seconds 60 --no-faults
    python3 bench/deploy_bench.py --faults-only

A benchmark, not a test: it measures and asserts nothing. For each replica count it starts the stack
(`deploy/local.sh start`), drives it through the proxy with bench/loadtest.py's sessions (Streamlit's
websocket protocol) for each class size, and reads every replica's memory and CPU from /proc. The
faults, with two replicas: a replica killed in the middle of a 30-session run (what its sessions lose;
a browser's tab reconnects, tests/test_deploy.py times that), the proxy restarted, a replica slow to
start (is it sent requests before it is healthy?), and malformed or oversized requests (refused by
the proxy?). Prints JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from loadtest import LoadConfig, load_test, proc

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / "deploy" / "local.sh"


def free_base(count: int) -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        try:
            for port in range(base, base + count + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


class Stack:
    def __init__(self, replicas: int):
        self.replicas, self.port = replicas, free_base(replicas)
        self.run = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
        self.env = {**os.environ, "DEPLOY_RUN_DIR": str(self.run)}
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        subprocess.run([str(LOCAL), "start", "--replicas", str(self.replicas), "--port", str(self.port)],
                       env=self.env, check=True, timeout=300, capture_output=True)
        return self

    def __exit__(self, *exc):
        subprocess.run([str(LOCAL), "stop"], env=self.env, timeout=120, capture_output=True)

    def pid(self, name: str) -> int:
        return int((self.run / f"{name}.pid").read_text())

    def replica_stats(self) -> dict:
        return {f"replica{i}": proc(self.pid(f"replica{i}")) for i in range(1, self.replicas + 1)}


def get(url: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("X-Replica")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-Replica")
    except OSError:
        return 0, None


def raw(port: int, payload: bytes) -> str:
    """The status line the proxy answers a raw request with."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        try:
            return sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            return f"closed ({exc})"


def load(stack: Stack, sessions: int, seconds: float, settle: float = 10.0) -> dict:
    before = stack.replica_stats()
    cfg = LoadConfig(sessions=sessions, seconds=seconds, repeat=1, settle_s=settle, url=stack.url,
                     pid=stack.pid("replica1"))
    started = time.monotonic()
    report = asyncio.run(load_test(cfg, stack.url, cfg.pid))
    wall = time.monotonic() - started
    after = stack.replica_stats()
    rnd = report["rounds"][0]
    cpu = sum(after[r].get("cpu_s", 0) - before[r].get("cpu_s", 0) for r in after)
    return {"sessions": sessions, "replicas": stack.replicas, "actions": rnd["actions"], "errors": rnd["errors"],
            "rerun_p50_p95_s": [rnd["slider_release_latency_s"].get("p50"), rnd["slider_release_latency_s"].get("p95")],
            "reverse_scrubber_p50_p95_s": [rnd["reverse_first_frame_s"]["scrubber"].get("p50"),
                                           rnd["reverse_first_frame_s"]["scrubber"].get("p95")],
            "cores_busy_replicas": round(cpu / wall, 2), "cores_busy_loadtest": rnd["cores_busy"]["loadtest"],
            "cpu_core_ms_per_session_second": round(1000 * cpu / wall / sessions, 2),
            "rss_mib_per_replica_after": {r: v.get("VmRSS") for r, v in after.items()},
            "rss_mib_per_replica_peak": {r: v.get("VmHWM") for r, v in after.items()}}


def kill_during_load(stack: Stack, sessions: int, seconds: float) -> dict:
    """Kill replica2 a third of the way into a load run; count what its sessions lost."""
    cfg = LoadConfig(sessions=sessions, seconds=seconds, repeat=1, settle_s=5, url=stack.url)

    async def run() -> dict:
        task = asyncio.create_task(load_test(cfg, stack.url, None))
        await asyncio.sleep(15 + seconds / 3)  # after the warm-up sessions, in the middle of the round
        os.kill(stack.pid("replica2"), signal.SIGKILL)
        killed = time.monotonic()
        while get(f"{stack.url}/_stcore/health")[1] not in ("replica1",):
            await asyncio.sleep(0.1)
        first_ok = time.monotonic() - killed
        report = await task
        return {"first_health_answer_after_kill_s": round(first_ok, 2), "round": report["rounds"][0]}

    result = asyncio.run(run())
    rnd = result.pop("round")
    return {**result, "sessions": sessions, "actions": rnd["actions"], "errors": rnd["errors"]["count"],
            "errors_by_kind": rnd["errors"]["by_kind"]}


def proxy_restart(stack: Stack) -> dict:
    os.kill(stack.pid("haproxy"), signal.SIGTERM)
    time.sleep(1)
    refused = get(f"{stack.url}/_stcore/health")[0]
    started = time.monotonic()
    process = subprocess.Popen(["haproxy", "-db", "-f", str(stack.run / "haproxy.cfg")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (stack.run / "haproxy.pid").write_text(str(process.pid))
    while get(f"{stack.url}/_stcore/health")[0] != 200:
        time.sleep(0.05)
    return {"while_down_status": refused, "serving_again_after_s": round(time.monotonic() - started, 2)}


def slow_start(stack: Stack) -> dict:
    """Kill replica2, start it again, and ask the proxy 10 times a second until replica2 serves:
    did any request reach it before its own health check answered?"""
    try:
        os.kill(stack.pid("replica2"), signal.SIGKILL)
    except ProcessLookupError:  # killed already (kill_during_load)
        pass
    time.sleep(5)  # the proxy marks it down
    port = stack.port + 2
    log = open(stack.run / "replica2.log", "a")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                "--server.address", "127.0.0.1", "--server.port", str(port),
                                "--browser.gatherUsageStats", "false"], cwd=REPO, stdout=log, stderr=log)
    (stack.run / "replica2.pid").write_text(str(process.pid))
    started, healthy_at, served_at, answers, failures = time.monotonic(), None, None, [], 0
    while time.monotonic() - started < 120 and served_at is None:
        if healthy_at is None and get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)[0] == 200:
            healthy_at = time.monotonic() - started
        status, replica = get(f"{stack.url}/_stcore/health")  # no cookie: balanced afresh each time
        answers.append(replica)
        failures += status != 200
        if replica == "replica2":
            served_at = time.monotonic() - started
        time.sleep(0.1)
    return {"replica2_healthy_after_s": healthy_at and round(healthy_at, 2),
            "replica2_first_served_after_s": served_at and round(served_at, 2),
            "requests_meanwhile": len(answers), "failed_meanwhile": failures,
            "served_by_replica2_before_healthy": bool(served_at is not None and healthy_at is not None
                                                      and served_at < healthy_at)}


def bad_requests(stack: Stack) -> dict:
    port = stack.port
    return {
        "malformed_request_line": raw(port, b"GARBAGE \x00\x01 nonsense\r\n\r\n"),
        "oversized_headers_64kib": raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"),
        "oversized_upload_100mib_declared": raw(port, b"PUT /_stcore/upload_file/x/y HTTP/1.1\r\nHost: x\r\n"
                                                      b"Content-Length: 104857600\r\n\r\n"),
        "normal_health": raw(port, b"GET /_stcore/health HTTP/1.1\r\nHost: x\r\n\r\n"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="deploy_bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="30,100,300")
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--faults-only", action="store_true")
    args = parser.parse_args()
    try:
        sessions = [int(v) for v in args.sessions.split(",")]
        replicas = [int(v) for v in args.replicas.split(",")]
    except ValueError:
        parser.exit(2, "deploy_bench.py: error: --sessions and --replicas take whole numbers, comma-separated\n")
    report: dict = {"load": []}
    for count in [] if args.faults_only else replicas:
        with Stack(count) as stack:
            for n in sessions:
                report["load"].append(load(stack, n, args.seconds))
                print(json.dumps(report["load"][-1]), file=sys.stderr, flush=True)
    if not args.no_faults:
        with Stack(2) as stack:
            report["faults"] = {"bad_requests": bad_requests(stack),
                                "replica_killed_during_30_sessions": kill_during_load(stack, 30, args.seconds)}
            report["faults"]["proxy_restart"] = proxy_restart(stack)
            report["faults"]["slow_start"] = slow_start(stack)
            print(json.dumps(report["faults"]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
