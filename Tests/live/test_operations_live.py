"""Operations: API keys, the Host check, CORS, request ids, metrics, readiness, shutdown."""
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from conftest import Server

MODEL = "smollm2-135m-instruct"


def call(base, path, body=None, headers=None, method=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})}, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def test_api_key(guarded_server):
    base = guarded_server.base
    status, headers, body = call(base, "/v1/models")
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key" and headers["WWW-Authenticate"] == "Bearer"
    assert call(base, "/v1/models", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(base, "/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert call(base, "/health")[0] == 200 and call(base, "/ready")[0] == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base + "/v1", api_key="nope", max_retries=0).models.list()
    c = openai.OpenAI(base_url=base + "/v1", api_key="s3cret", max_retries=0)
    assert c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2).choices


def test_host_check_and_cors(guarded_server):
    base = guarded_server.base
    status, _, body = call(base, "/health", headers={"Host": "evil.example:8080"})
    assert status == 403 and json.loads(body)["error"]["code"] == "host_not_allowed"
    assert call(base, "/health", headers={"Host": "localhost:1234"})[0] == 200
    status, headers, _ = call(base, "/v1/chat/completions", method="OPTIONS",
                              headers={"Origin": "https://chat.example", "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://chat.example"
    assert "POST" in headers["Access-Control-Allow-Methods"] and "authorization" in headers["Access-Control-Allow-Headers"]
    assert call(base, "/v1/models", method="OPTIONS", headers={"Origin": "https://other.example"})[0] == 403
    _, headers, _ = call(base, "/v1/models", headers={"Authorization": "Bearer s3cret", "Origin": "https://chat.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://chat.example"


def test_request_id_metrics_and_access_log(server):
    base = server.base
    _, headers, _ = call(base, "/health", headers={"X-Request-Id": "abc-123"})
    assert headers["X-Request-Id"] == "abc-123"
    _, headers, _ = call(base, "/health")
    assert headers["X-Request-Id"] and headers["X-Request-Id"] != "abc-123"
    call(base, "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    status, _, text = call(base, "/metrics")
    assert status == 200
    assert 'martlet_requests_total{route="/v1/chat/completions",status="200"}' in text
    assert 'martlet_tokens_total{model="smollm2-135m-instruct",kind="generated"}' in text
    for name in ("martlet_time_to_first_token_seconds_bucket", "martlet_inter_token_seconds_count", "martlet_requests_waiting",
                 "martlet_sequences_running", "martlet_kv_blocks_used", "martlet_kv_blocks_free", "martlet_kv_blocks_cached",
                 "martlet_prefix_cache_hit_ratio", "martlet_prefix_cache_partial_hits_total", "martlet_preemptions_total",
                 "martlet_pool_jobs_alone_total"):
        assert name in text, name


def test_gzip_responses(server):
    import requests
    r = requests.get(server.base + "/metrics", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and "martlet_requests_total" in r.text  # requests inflates it
    raw = requests.get(server.base + "/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in raw.headers and raw.text.startswith("# HELP")


def test_access_log_lines():
    s = Server("--model", MODEL, "--ctx-size", "256")
    call(s.base, "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
         headers={"X-Request-Id": "log-check-1"})
    s.stop()
    lines = [json.loads(l) for l in s.proc.stdout.read().splitlines() if l.startswith("{")]
    entry = next(l for l in lines if l.get("id") == "log-check-1")
    assert entry["method"] == "POST" and entry["path"] == "/v1/chat/completions" and entry["status"] == 200
    assert entry["duration_us"] >= 0 and entry["completion_tokens"] == 2 and entry["prompt_tokens"] > 0 and "time" in entry


def test_refuses_the_network_without_a_key():
    from conftest import _binary, ROOT
    r = subprocess.run([_binary(), "serve", "--host", "0.0.0.0", "--port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "without an API key" in r.stderr


def test_graceful_shutdown_with_streams_in_flight():
    s = Server("--model", MODEL, "--ctx-size", "4096", "--drain-timeout", "2")
    c = openai.OpenAI(base_url=s.base + "/v1", api_key="x", max_retries=0, timeout=60)
    results = {}

    def stream(name, max_tokens):
        text, errors = "", []
        try:
            # Counting, with end-of-text forbidden: a stream that runs as long as asked.
            for ch in c.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=max_tokens, stream=True, temperature=0,
                                           logit_bias={"0": -100, "1": -100, "2": -100}):
                if ch.choices:
                    text += ch.choices[0].text
        except Exception as e:  # an error event ends the stream
            errors.append(repr(e))
        results[name] = (text, errors)

    import http.client
    host, port = s.base[len("http://"):].rsplit(":", 1)
    kept = http.client.HTTPConnection(host, int(port), timeout=30)  # a keep-alive connection from before
    kept.request("GET", "/health")
    assert kept.getresponse().read()
    short = threading.Thread(target=stream, args=("short", 8))
    long = threading.Thread(target=stream, args=("long", 2000))
    long.start()
    time.sleep(1.0)
    short.start()
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # New connections are no longer accepted; a new request on a kept connection gets 503.
    kept.request("POST", "/v1/chat/completions", body=json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
                 headers={"Content-Type": "application/json"})
    r = kept.getresponse()
    assert r.status == 503 and json.loads(r.read())["error"]["code"] == "shutting_down"
    short.join(30)
    long.join(30)
    assert s.proc.wait(30) == 0
    assert results["short"][1] == [] and results["short"][0]            # finished within the drain time
    assert results["long"][1] and "shutting down" in results["long"][1][0]  # ended with an error event
