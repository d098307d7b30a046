"""A long run at moderate concurrency against a running `martlet serve`: streamed and whole
answers, cancellations and bad requests mixed, while memory, descriptors and KV blocks are
sampled. Used by scripts/soak; nothing here asserts, it returns what it saw.

Every client puts its own marker in its prompts; at temperature 0 each streamed answer must
equal its non-streamed twin (text and usage), and no answer may carry another client's marker.
"""
import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import faults

MARKER = re.compile(r"zq(\d+)x(\d+)")


def _post(base, body, timeout=300):
    req = urllib.request.Request(base + "/v1/chat/completions", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps(body).encode())
    return urllib.request.urlopen(req, timeout=timeout)


def _whole(base, body):
    with _post(base, body) as r:
        d = json.load(r)
    return d["choices"][0]["message"]["content"], d["usage"]


def _streamed(base, body):
    text, usage = "", None
    with _post(base, dict(body, stream=True, stream_options={"include_usage": True})) as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk["choices"]:
                text += c["delta"].get("content") or ""
    return text, usage


def client(base, model, index, until, seed, tally, lock):
    rng = random.Random(seed)
    n = 0
    port = int(base.rsplit(":", 1)[1])
    while time.time() < until:
        n += 1
        kind = rng.choices(["twin", "cancel", "bad"], weights=[6, 3, 1])[0]
        marker = f"zq{index}x{n}"
        prompt = f"Repeat the code {marker} and then write one sentence about the sea."
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": rng.randint(8, 48), "temperature": 0}
        try:
            if kind == "twin":
                a, ua = _whole(base, body)
                b, ub = _streamed(base, body)
                foreign = [m for m in MARKER.findall(a + b) if int(m[0]) != index]
                with lock:
                    tally["twins"] += 1
                    # Counts must be equal; how much of the prompt came from the prefix cache
                    # may differ (the second of the twins usually finds the first's blocks).
                    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
                    if a != b or any(ua[k] != ub[k] for k in counts):
                        tally["twin_mismatches"].append({"whole": a[:120], "streamed": b[:120], "usage": [ua, ub]})
                    if foreign:
                        tally["foreign_markers"].append(foreign[:3])
            elif kind == "cancel":
                faults.abort_once(port, model, rng)
                with lock:
                    tally["cancelled"] += 1
            else:
                try:
                    _whole(base, dict(body, temperature=-1))
                    outcome = "accepted"
                except urllib.error.HTTPError as e:
                    outcome = "400" if e.code == 400 and "temperature" in e.read().decode() else f"{e.code}"
                with lock:
                    tally["bad"] += 1
                    if outcome != "400":
                        tally["bad_not_400"].append(outcome)
        except (OSError, urllib.error.URLError, ValueError) as e:
            with lock:
                tally["errors"].append(repr(e)[:200])


def soak(base, pid, model, minutes, clients=8, sample_every=10, seed=7):
    faults.settle(base, pid, 10**6, timeout=5)
    start = time.time()
    until = start + minutes * 60
    tally = {"twins": 0, "cancelled": 0, "bad": 0, "twin_mismatches": [], "foreign_markers": [], "bad_not_400": [], "errors": []}
    lock = threading.Lock()
    threads = [threading.Thread(target=client, args=(base, model, i, until, seed * 100 + i, tally, lock)) for i in range(clients)]
    samples = []

    def sample():
        g = faults.engine_gauges(base)
        samples.append({"t": round(time.time() - start, 1), "rss_mib": round(faults.resident_mib(pid), 1),
                        "fds": faults.open_descriptors(pid), "kv_used": g["martlet_kv_blocks_used"],
                        "running": g["martlet_sequences_running"], "waiting": g["martlet_requests_waiting"]})

    sample()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(sample_every)
        sample()
    for t in threads:
        t.join()
    gauges, fds = faults.settle(base, pid, samples[0]["fds"])
    sample()
    return {"minutes": minutes, "clients": clients, "tally": tally, "samples": samples,
            "after": {"engine": gauges, "fds": fds, "rss_mib": samples[-1]["rss_mib"]}}


def svg(samples, path):
    """Three small line charts (resident memory, open descriptors, KV blocks in use) over time."""
    series = [("resident memory (MiB)", "rss_mib"), ("open descriptors", "fds"), ("KV blocks in use", "kv_used")]
    w, h, pad = 640, 150, 40
    end = max(s["t"] for s in samples) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * len(series)}" font-family="sans-serif" font-size="11">']
    for i, (title, key) in enumerate(series):
        top = i * h
        values = [s[key] for s in samples]
        lo, hi = 0, max(values) * 1.1 or 1
        pts = " ".join(f"{pad + (s['t'] / end) * (w - 2 * pad):.1f},{top + h - 25 - (s[key] - lo) / (hi - lo) * (h - 50):.1f}" for s in samples)
        parts += [f'<text x="{pad}" y="{top + 15}">{title}: first {values[0]}, last {values[-1]}, max {max(values)}</text>',
                  f'<line x1="{pad}" y1="{top + h - 25}" x2="{w - pad}" y2="{top + h - 25}" stroke="#999"/>',
                  f'<text x="{pad}" y="{top + h - 10}">0 s</text><text x="{w - pad - 40}" y="{top + h - 10}">{end:.0f} s</text>',
                  f'<text x="5" y="{top + 30}">{hi:.0f}</text>',
                  f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{pts}"/>']
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
