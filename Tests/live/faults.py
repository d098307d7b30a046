"""Faults against a running `martlet serve`: clients that leave at every stage of a request,
and slowloris connections. Used by the fast live test (a few hundred aborts) and by
`scripts/reliability` (10,000 aborts, 1,000 slowloris connections, RELIABILITY.md).

Each function returns a dict of what it measured; nothing here asserts.
"""
import json
import os
import random
import re
import socket
import struct
import threading
import time
import urllib.request

MODES = ("inside-the-header", "inside-the-body", "queued-or-prefilling", "waiting-for-a-whole-answer",
         "between-stream-events", "reset-between-stream-events")


def _request(model, prompt, stream, max_tokens):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream,
                       "max_tokens": max_tokens, "temperature": 0}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head, body


def abort_once(port, model, rng):
    """One client that leaves early, at a random stage. Returns the stage."""
    mode = rng.choice(MODES)
    prompt = f"Write a long story about the number {rng.randrange(10**6)}. " * rng.randint(1, 8)
    head, body = _request(model, prompt, mode.endswith("stream-events"), 64)
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    try:
        if mode == "inside-the-header":
            s.sendall(head[:rng.randrange(1, len(head))])
        elif mode == "inside-the-body":
            s.sendall(head + body[:rng.randrange(1, len(body))])
        elif mode == "queued-or-prefilling":
            s.sendall(head + body)
            time.sleep(rng.uniform(0, 0.03))
        elif mode == "waiting-for-a-whole-answer":
            s.sendall(head + body)
            time.sleep(rng.uniform(0.02, 0.2))
        else:
            s.sendall(head + body)
            want, got = rng.randint(1, 6), b""
            while got.count(b"data: ") < want:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if mode.startswith("reset"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    finally:
        s.close()
    return mode


def chat(base, model, prompt, stream):
    """A well-behaved request at temperature 0: the answer's text."""
    req = urllib.request.Request(base + "/v1/chat/completions", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                                                  "stream": stream, "max_tokens": 24, "temperature": 0}).encode())
    with urllib.request.urlopen(req, timeout=120) as r:
        if not stream:
            return json.load(r)["choices"][0]["message"]["content"]
        text = ""
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:])["choices"]:
                    text += choice["delta"].get("content") or ""
        return text


def engine_gauges(base):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for name in ("martlet_kv_blocks_used", "martlet_requests_waiting", "martlet_sequences_running"):
        out[name] = sum(int(float(v)) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M))
    return out


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def resident_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read())[1]) / 1024


def settle(base, pid, descriptors, timeout=30):
    """Waits until the engine holds nothing and the descriptors are back to `descriptors`."""
    deadline = time.time() + timeout
    while True:
        gauges, fds = engine_gauges(base), open_descriptors(pid)
        if (all(v == 0 for v in gauges.values()) and fds <= descriptors) or time.time() > deadline:
            return gauges, fds
        time.sleep(0.2)


def aborts(base, pid, model, total, threads=16, seed=1, check_every=50):
    """`total` clients leaving early from `threads` threads; every `check_every` aborts a thread
    also sends a well-behaved request whose answer must equal the one taken before."""
    port = int(base.rsplit(":", 1)[1])
    prompt = "Name three colours."
    expected = chat(base, model, prompt, stream=False)
    settle(base, pid, 10**6, timeout=5)
    fds_before, rss_before = open_descriptors(pid), resident_mib(pid)
    counts = {m: 0 for m in MODES}
    checks, wrong, errors = [0], [], []
    lock = threading.Lock()
    started = time.time()

    def worker(i):
        rng = random.Random(seed * 1000 + i)
        for k in range(total // threads + (1 if i < total % threads else 0)):
            mode = abort_once(port, model, rng)
            with lock:
                counts[mode] += 1
            if k % check_every == check_every - 1:
                try:
                    got = chat(base, model, prompt, stream=bool(k % 2))
                except Exception as e:  # noqa: BLE001 - recorded, reported as a failure
                    with lock:
                        errors.append(repr(e)[:200])
                    continue
                with lock:
                    checks[0] += 1
                    if got != expected:
                        wrong.append(got[:200])

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.time() - started
    gauges, fds_after = settle(base, pid, fds_before)
    return {"aborts": sum(counts.values()), "by_stage": counts, "seconds": round(seconds, 1),
            "checks": checks[0], "wrong_answers": wrong, "check_errors": errors,
            "descriptors_before": fds_before, "descriptors_after": fds_after, "engine_after": gauges,
            "resident_mib_before": round(rss_before, 1), "resident_mib_after": round(resident_mib(pid), 1)}


def _latencies(base, model, count):
    out = []
    for _ in range(count):
        t = time.time()
        chat(base, model, "Say hi.", stream=False)
        out.append(time.time() - t)
    return sorted(out)


def _p99(sorted_values):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * 0.99))]


def slowloris(base, model, connections, probes=100):
    """`connections` clients sending a request header one byte at a time (every 0.5 s each);
    well-behaved requests' latency before and meanwhile; how the slow ones ended."""
    port = int(base.rsplit(":", 1)[1])
    before = _latencies(base, model, probes)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {'a' * 200}\r\n".encode()
    socks = []
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    stop = threading.Event()
    ended = {"408": 0, "closed": 0, "last": None}

    def trickle():
        position = 0
        while not stop.is_set() and socks:
            for s in list(socks):
                try:
                    s.send(head[position % len(head):position % len(head) + 1])
                except BlockingIOError:
                    pass
                except OSError:
                    socks.remove(s)
                try:
                    data = s.recv(4096)
                    if data.startswith(b"HTTP/1.1 408"):
                        ended["408"] += 1
                    socks.remove(s)
                    ended["closed"] += 1
                    ended["last"] = time.time()
                    s.close()
                except BlockingIOError:
                    pass
                except (OSError, ValueError):
                    if s in socks:
                        socks.remove(s)
                        ended["closed"] += 1
                        ended["last"] = time.time()
            position += 1
            time.sleep(0.5)

    t = threading.Thread(target=trickle)
    started = time.time()
    t.start()
    time.sleep(1)
    during = _latencies(base, model, probes)
    while socks and time.time() - started < 60:
        time.sleep(0.5)
    stop.set()
    t.join()
    left = len(socks)
    for s in socks:
        s.close()
    return {"connections": connections, "probes": probes, "p50_before_ms": round(before[len(before) // 2] * 1000, 1),
            "p99_before_ms": round(_p99(before) * 1000, 1), "p50_during_ms": round(during[len(during) // 2] * 1000, 1),
            "p99_during_ms": round(_p99(during) * 1000, 1), "answered_408": ended["408"], "closed_by_server": ended["closed"],
            "still_open_after_60s": left,
            "seconds_until_all_closed": round(ended["last"] - started, 1) if ended["last"] and not left else None}


def sigterm_under_load(binary, model, streams=32, drain_timeout=5, extra_args=()):
    """Starts its own server, opens `streams` streams (counting, end-of-text forbidden; half
    short enough to finish within the drain time, half not), sends SIGTERM while they run, and sorts how each ended: finished ([DONE]), ended by an
    error event, or cut without either (must be none). Also the exit status and the time to
    exit."""
    import signal
    import subprocess
    proc = subprocess.Popen([binary, "serve", "--model", model, "--port", "0", "--drain-timeout", str(drain_timeout), *extra_args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = re.search(r"(http://[^/]+)/v1", proc.stdout.readline())[1]
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/ready", timeout=5) as r:
                if json.load(r)["status"] == "ready":
                    break
        except OSError:
            time.sleep(0.2)
    port = int(base.rsplit(":", 1)[1])
    outcomes = []
    lock = threading.Lock()

    def one(i):
        body = json.dumps({"model": model, "prompt": f"{i}, {i + 1}, {i + 2},", "max_tokens": 16 if i % 2 else 1000, "stream": True,
                           "temperature": 0, "logit_bias": {"0": -100, "1": -100, "2": -100}}).encode()
        head = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        got = b""
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            s.sendall(head + body)
            while b"data: [DONE]" not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.close()
        except OSError:
            pass
        if b"data: [DONE]" in got:
            outcome = "finished"
        elif b'data: {"error"' in got:
            outcome = "error event"
        elif got.startswith(b"HTTP/1.1 503"):
            outcome = "refused (503)"
        else:
            outcome = "cut"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    time.sleep(2)
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(120)
    status = proc.wait(120)
    return {"streams": streams, "drain_timeout_s": drain_timeout, "exit_status": status,
            "seconds_to_exit": round(time.time() - sent, 1),
            "outcomes": {k: outcomes.count(k) for k in ("finished", "error event", "refused (503)", "cut")}}
