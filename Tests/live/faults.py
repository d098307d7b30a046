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
    proc, base = _start_server(binary, model, "--drain-timeout", str(drain_timeout), *extra_args)
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


def _start_server(binary, model, *args):
    """Starts `martlet serve` on a free port; returns (process, base URL) once it is ready."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([os.path.abspath(binary), "serve", "--model", model, "--port", "0", *args], cwd=root,
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
    return proc, base


def _counter(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(float(v)) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def _status_count(base, status):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(float(v)) for v in re.findall(
        rf'^martlet_requests_total{{route="/v1/chat/completions",status="{status}"}} (\S+)$', text, re.M))


def overload(binary, model, clients=48, per_client=6, kv_tokens=512, max_waiting=4, prompts=8, max_tokens=64, seed=7):
    """KV-pool exhaustion and queue overflow at once. Starts its own server with a KV pool too
    small for the batch (so sequences are preempted and recomputed) and a short waiting queue,
    takes each prompt's temperature-0 answer alone, then sends `clients` clients at once, each
    `per_client` requests back to back (streamed or not at random; end-of-text forbidden, so
    each runs to `max_tokens`). Every request must either be
    refused at once with 429 and OpenAI's error envelope, or be answered exactly once: a whole
    answer, or a stream with one finish and one `[DONE]`, equal to the answer taken alone, with
    exact usage. Also counts what the server says it answered, and what it holds afterwards."""
    import http.client
    proc, base = _start_server(binary, model, "--kv-tokens", str(kv_tokens), "--max-waiting", str(max_waiting))
    port = int(base.rsplit(":", 1)[1])
    try:
        texts = [f"Count from {i * 7} to {i * 7 + 30}, one number a line." for i in range(prompts)]

        def body(i, stream):
            return json.dumps({"model": model, "messages": [{"role": "user", "content": texts[i]}], "stream": stream,
                               "max_tokens": max_tokens, "temperature": 0, "logit_bias": {"0": -100, "1": -100, "2": -100},
                               **({"stream_options": {"include_usage": True}} if stream else {})})

        def counts(usage):  # cached_tokens depends on what else was cached, so it is not compared
            return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}

        reference = []
        for i in range(prompts):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.request("POST", "/v1/chat/completions", body(i, False), {"Content-Type": "application/json"})
            r = json.loads(c.getresponse().read())
            c.close()
            reference.append((r["choices"][0]["message"]["content"], r["choices"][0]["finish_reason"], counts(r["usage"])))
        preempted_before = _counter(base, "martlet_preemptions_total")
        ok_before, refused_before = _status_count(base, 200), _status_count(base, 429)
        fds_before = open_descriptors(proc.pid)
        results = {"answered": 0, "refused_429": 0, "wrong": [], "bad": [], "slowest_429_s": 0.0}
        lock = threading.Lock()

        def one(rng):
            i, stream = rng.randrange(prompts), rng.random() < 0.5
            sent = time.time()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            try:
                c.request("POST", "/v1/chat/completions", body(i, stream), {"Content-Type": "application/json"})
                r = c.getresponse()
                raw = r.read()
            finally:
                c.close()
            took = time.time() - sent
            if r.status == 429:
                err = json.loads(raw).get("error", {})
                problem = None if err.get("type") == "rate_limit_error" and r.getheader("Retry-After") else f"429 without envelope: {raw[:200]!r}"
                return "refused", took, problem
            if r.status != 200:
                return "bad", took, f"status {r.status}: {raw[:200]!r}"
            text, finish, usage = reference[i]
            if not stream:
                j = json.loads(raw)
                got = (j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"], counts(j["usage"]))
            else:
                events = [e[6:] for e in raw.decode().split("\n\n") if e.startswith("data: ")]
                if events.count("[DONE]") != 1 or events[-1] != "[DONE]":
                    return "bad", took, f"stream with {events.count('[DONE]')} [DONE], last {events[-1][:80]!r}"
                chunks = [json.loads(e) for e in events[:-1]]
                if any("error" in ch for ch in chunks):
                    return "bad", took, "error event"
                finishes = [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"] and ch["choices"][0].get("finish_reason")]
                if len(finishes) != 1:
                    return "bad", took, f"{len(finishes)} finishes in one stream"
                content = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks if ch["choices"])
                got = (content, finishes[0], counts(chunks[-1].get("usage") or {k: None for k in ("prompt_tokens", "completion_tokens", "total_tokens")}))
            if got != (text, finish, usage):
                return "wrong", took, f"prompt {i} stream={stream}: {got!r} != {(text, finish, usage)!r}"
            return "answered", took, None

        def client(k):
            rng = random.Random(seed * 1000 + k)
            for _ in range(per_client):
                try:
                    kind, took, problem = one(rng)
                except Exception as e:  # a hang or a cut connection is a failure, not a crash of the check
                    kind, took, problem = "bad", 0.0, repr(e)
                with lock:
                    if kind == "refused":
                        results["refused_429"] += 1
                        results["slowest_429_s"] = max(results["slowest_429_s"], round(took, 3))
                    elif kind == "answered":
                        results["answered"] += 1
                    if problem:
                        results["wrong" if kind == "wrong" else "bad"].append(problem)

        started = time.time()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        results["seconds"] = round(time.time() - started, 1)
        results["hung"] = sum(t.is_alive() for t in threads)
        gauges, fds = settle(base, proc.pid, fds_before)
        results.update({
            "clients": clients, "requests": clients * per_client, "kv_tokens": kv_tokens, "max_waiting": max_waiting,
            "preemptions": _counter(base, "martlet_preemptions_total") - preempted_before,
            "server_answered_200": _status_count(base, 200) - ok_before,
            "server_refused_429": _status_count(base, 429) - refused_before,
            "engine_after": gauges, "descriptors_before": fds_before, "descriptors_after": fds,
        })
        return results
    finally:
        proc.terminate()
        proc.wait(60)
