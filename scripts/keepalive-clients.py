"""Clients that reuse keep-alive connections (httpx, requests, the openai SDK) send requests
spaced irregularly to a server and count the ones that failed without a response.

    python3 scripts/keepalive-clients.py BASE_URL MODEL [REQUESTS] [MEAN_GAP_S]

Prints one JSON object: per client, requests sent and failures (with the first errors)."""
import json
import random
import sys
import threading
import time

import httpx
import openai
import requests

base, model = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 500
mean_gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.6
body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


def gaps(seed):
    rng = random.Random(seed)
    for _ in range(count):
        # Mostly short pauses, now and then a long one (idle connections in the pool).
        yield rng.uniform(4, 12) if rng.random() < 0.04 else rng.expovariate(1 / mean_gap) * 0.7


def run_httpx(out):
    with httpx.Client(timeout=60) as c:
        for g in gaps(1):
            time.sleep(g)
            try:
                c.post(base + "/v1/chat/completions", json=body).raise_for_status()
            except Exception as e:
                out["failures"].append(repr(e)[:200])
            out["sent"] += 1


def run_requests(out):
    s = requests.Session()
    for g in gaps(2):
        time.sleep(g)
        try:
            s.post(base + "/v1/chat/completions", json=body, timeout=60).raise_for_status()
        except Exception as e:
            out["failures"].append(repr(e)[:200])
        out["sent"] += 1


def run_openai(out):
    c = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
    for g in gaps(3):
        time.sleep(g)
        try:
            c.chat.completions.create(**body)
        except Exception as e:
            out["failures"].append(repr(e)[:200])
        out["sent"] += 1


results = {name: {"sent": 0, "failures": []} for name in ("httpx", "requests", "openai")}
threads = [threading.Thread(target=f, args=(results[n],)) for n, f in
           (("httpx", run_httpx), ("requests", run_requests), ("openai", run_openai))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({n: {"sent": r["sent"], "failed": len(r["failures"]), "first_errors": r["failures"][:3]} for n, r in results.items()}))
