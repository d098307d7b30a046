# Sourced by the benchmark scripts that run servers side by side (bench-load, bench-sampling).
# SCRIPT names the caller in messages. Servers started with `started PID` are killed when the
# caller exits.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
started() { pids+=("$1"); }

# Stops the run if any of the ports already answers: another server there would answer our
# health checks and be measured in our stead.
ports_free() {
  for port in "$@"; do
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then echo "$SCRIPT: port $port already answers; stop that server first" >&2; exit 1; fi
  done
}

# wait_up URL PID LOG: waits (up to a minute) until URL/health says ok, then checks that PID is
# still running (not exited, nor a zombie): a server that could not take its port must not let
# another answer for it.
wait_up() {
  local ok=""
  for _ in $(seq 1 300); do curl -sf "$1/health" | grep -q ok && { ok=1; break; }; sleep 0.2; done
  local state; state="$(ps -o stat= -p "$2" 2>/dev/null || true)"
  if [ -z "$ok" ] || [ -z "$state" ] || [ "${state:0:1}" = Z ]; then echo "$SCRIPT: the server at $1 did not start; see $3" >&2; exit 1; fi
}
