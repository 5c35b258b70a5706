#!/usr/bin/env bash
# The app for a class on one machine: N Streamlit replicas behind HAProxy with cookie affinity.
#
#   deploy/local.sh start [--replicas N] [--port P] [--bind ADDRESS]   # N: one per core; P: 8500
#   deploy/local.sh stop
#   deploy/local.sh status
#
# Replicas listen on 127.0.0.1, ports P+1 … P+N; the proxy on ADDRESS:P (default 127.0.0.1; use
# 0.0.0.0 to serve a lecture hall's network). Logs, pids and the generated haproxy.cfg live in
# deploy/run/. `start` returns once the proxy answers /_stcore/health; `stop` ends everything it started.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
RUN="${DEPLOY_RUN_DIR:-$HERE/run}"
PYTHON="${PYTHON:-python3}"

die() { echo "deploy/local.sh: error: $*" >&2; exit 2; }

stop() {
  local stopped=0
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; stopped=$((stopped + 1)); fi
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "stopped $stopped process(es)"
}

status() {
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || { echo "not running"; return 0; }
    name="$(basename "$pidfile" .pid)"
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$name: running"; else echo "$name: gone"; fi
  done
}

start() {
  local replicas port bind
  replicas="$(nproc)"; port=8500; bind=127.0.0.1
  while [ $# -gt 0 ]; do
    case "$1" in
      --replicas) replicas="${2:-}"; shift 2 || die "--replicas needs a number" ;;
      --port) port="${2:-}"; shift 2 || die "--port needs a number" ;;
      --bind) bind="${2:-}"; shift 2 || die "--bind needs an address" ;;
      *) die "unknown option $1 (start takes --replicas N, --port P, --bind ADDRESS)" ;;
    esac
  done
  [[ "$replicas" =~ ^[0-9]+$ ]] && [ "$replicas" -ge 1 ] && [ "$replicas" -le 64 ] \
    || die "--replicas must be a whole number from 1 to 64, got '$replicas'"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ $((port + replicas)) -le 65535 ] \
    || die "--port must be a whole number from 1024 with room for the replicas above it, got '$port'"
  command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy)"
  ls "$RUN"/*.pid >/dev/null 2>&1 && die "already running (deploy/local.sh stop first): $RUN"
  mkdir -p "$RUN"

  local servers=""
  for i in $(seq 1 "$replicas"); do
    local rport=$((port + i))
    (cd "$ROOT" && exec "$PYTHON" -m streamlit run app.py --server.headless true --server.address 127.0.0.1 \
       --server.port "$rport" --browser.gatherUsageStats false) >"$RUN/replica$i.log" 2>&1 &
    echo $! >"$RUN/replica$i.pid"
    servers+="    server replica$i 127.0.0.1:$rport cookie replica$i"$'\n'
  done
  sed -e "s/@BIND@/$bind/" -e "s/@PORT@/$port/" "$HERE/haproxy.cfg.in" \
    | awk -v servers="$servers" '{ if ($0 == "@SERVERS@") printf "%s", servers; else print }' >"$RUN/haproxy.cfg"
  haproxy -c -q -f "$RUN/haproxy.cfg" || { stop >/dev/null; die "haproxy refused $RUN/haproxy.cfg"; }
  haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 &
  echo $! >"$RUN/haproxy.pid"

  local url="http://127.0.0.1:$port"
  for _ in $(seq 360); do
    if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
         "$url/_stcore/health" 2>/dev/null; then
      echo "serving on http://$bind:$port ($replicas replicas; logs in $RUN)"
      return 0
    fi
    sleep 0.5
  done
  stop >/dev/null
  die "no replica became healthy within 180 s (see $RUN/replica1.log)"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: deploy/local.sh start [--replicas N] [--port P] [--bind ADDRESS] | stop | status" ;;
esac
